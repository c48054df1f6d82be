#!/usr/bin/python3
"""sandbox-docker: the real Claude Code CLI runs a scripted session in a
container on a private engine, reaching the scripted Messages API on the
host's loopback (network_mode host), and writes a file that appears in the
workspace on the host."""

import json
import os
import sys

from docker_harness import (CLAUDE, CLAUDE_IN, TESTS_DIR, EngineTestCase, main, missing)

sys.path.insert(0, os.path.join(TESTS_DIR, "support"))
from scripted_model_api import ScriptedModelAPI, system_text, text, thinking, tool_use  # noqa

CONTENT = "hello from claude in a container\n"


class ClaudeCode(EngineTestCase):
    PROFILE = {"mounts": [CLAUDE + ":" + CLAUDE_IN + ":ro"]}

    @classmethod
    def setUpClass(cls):
        if not os.access(CLAUDE, os.X_OK):
            missing("the Claude Code CLI at %s (npm ci --prefix tests)" % CLAUDE)
        super().setUpClass()

    def test_scripted_session_writes_a_file_in_the_workspace(self):
        ws = self.cfg.workspace
        target = os.path.join(ws, "hello.txt")
        api = ScriptedModelAPI([
            [thinking("The user wants a file; I will write it."),
             tool_use("Write", {"file_path": target, "content": CONTENT})],
            [text("I wrote hello.txt.")],
        ]).start()
        self.addCleanup(api.stop)
        self.cfg.profile["env"] = ["ANTHROPIC_BASE_URL=" + api.url,
                                   "ANTHROPIC_API_KEY=sk-ant-test-not-a-real-key",
                                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
                                   "HOME=/tmp"]
        self.cfg.write()
        r = self.cfg.run([CLAUDE_IN, "-p", "--output-format", "stream-json", "--verbose",
                          "--dangerously-skip-permissions",
                          "Write hello.txt in the current directory."], timeout=240)
        events = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        summary = "rc=%d stderr=%s events=%s" % (r.returncode, r.stderr[-2000:],
                                                [e.get("type") for e in events])
        self.assertEqual(r.returncode, 0, summary)
        # The file is there, on the host, with the content the model asked for.
        with open(target) as f:
            self.assertEqual(f.read(), CONTENT)
        # It was written by the container's non-root user.
        self.assertNotEqual(os.stat(target).st_uid, 0)
        init = next(e for e in events if e.get("type") == "system")
        self.assertEqual(init["cwd"], ws)
        result = events[-1]
        self.assertEqual(result["type"], "result", summary)
        self.assertEqual(result["subtype"], "success", summary)
        self.assertEqual(result["result"], "I wrote hello.txt.")
        turns = [b for b in api.messages_requests() if b.get("tools")]
        self.assertGreaterEqual(len(turns), 2)
        self.assertIn(ws, system_text(turns[0]) + json.dumps(turns[0]))
        tool_results = [c for m in turns[-1]["messages"] if m["role"] == "user"
                        and isinstance(m["content"], list) for c in m["content"]
                        if c.get("type") == "tool_result"]
        self.assertEqual(len(tool_results), 1, turns[-1]["messages"])
        self.assertFalse(tool_results[0].get("is_error", False), tool_results[0])
        # The sandbox is gone afterwards: no container of ours is left.
        self.assertEqual(self.engine.containers(), [])


if __name__ == "__main__":
    main()
