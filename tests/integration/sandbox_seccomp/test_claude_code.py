#!/usr/bin/python3
"""sandbox-seccomp: the real Claude Code CLI runs a scripted session inside a
sandbox, reaching a scripted Messages API on the host's loopback through the
egress proxy, and writes a file into its workspace."""

import json
import os
import sys

from sbx_harness import TESTS_DIR, SandboxTestCase, main, missing

sys.path.insert(0, os.path.join(TESTS_DIR, "support"))
from scripted_model_api import ScriptedModelAPI, system_text, text, thinking, tool_use  # noqa

NODE_MODULES = os.path.realpath(os.path.join(TESTS_DIR, "node_modules"))
CLAUDE = os.path.join(NODE_MODULES, ".bin", "claude")
CONTENT = "hello from claude in the sandbox\n"


class ClaudeCode(SandboxTestCase):
    PROFILE = {"ro_paths": [NODE_MODULES],
               "env_passthrough": ["ANTHROPIC_API_KEY",
                                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"]}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not os.access(CLAUDE, os.X_OK):
            missing("the Claude Code CLI at %s (npm ci --prefix tests)" % CLAUDE)

    def test_scripted_session_writes_a_file_in_the_workspace(self):
        target = os.path.join(self.sb.workspace, "hello.txt")
        api = ScriptedModelAPI([
            [thinking("The user wants a file; I will write it."),
             tool_use("Write", {"file_path": target, "content": CONTENT})],
            [text("I wrote hello.txt.")],
        ]).start()
        self.addCleanup(api.stop)
        r = self.sb.run([os.path.realpath(CLAUDE), "-p", "--output-format", "stream-json",
                         "--verbose", "--dangerously-skip-permissions",
                         "Write hello.txt in the current directory."],
                        env={"ANTHROPIC_BASE_URL": api.url,
                             "ANTHROPIC_API_KEY": "sk-ant-test-not-a-real-key",
                             "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"},
                        timeout=240)
        events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        summary = "rc=%d stderr=%s events=%s" % (r.returncode, r.stderr[-2000:],
                                                [e.get("type") for e in events])
        self.assertEqual(r.returncode, 0, summary)
        # The file is there, on the host, with the content the model asked for.
        with open(target) as f:
            self.assertEqual(f.read(), CONTENT)
        # The CLI ran inside the sandbox: its working directory is the
        # workspace and it reached the model API only through the proxy.
        init = next(e for e in events if e.get("type") == "system")
        self.assertEqual(init["cwd"], self.sb.workspace)
        result = events[-1]
        self.assertEqual(result["type"], "result", summary)
        self.assertEqual(result["subtype"], "success", summary)
        self.assertEqual(result["result"], "I wrote hello.txt.")
        turns = [b for b in api.messages_requests() if b.get("tools")]
        self.assertGreaterEqual(len(turns), 2)
        # The agent was told its working directory (in the system prompt or
        # the environment block, depending on the CLI version).
        self.assertIn(self.sb.workspace, system_text(turns[0]) + json.dumps(turns[0]))
        tool_results = [c for m in turns[-1]["messages"] if m["role"] == "user"
                        and isinstance(m["content"], list) for c in m["content"]
                        if c.get("type") == "tool_result"]
        self.assertEqual(len(tool_results), 1, turns[-1]["messages"])
        self.assertFalse(tool_results[0].get("is_error", False), tool_results[0])


if __name__ == "__main__":
    main()
