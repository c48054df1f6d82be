#!/usr/bin/python3
"""sandbox-ssh with the real Claude Code CLI: a session of the host's
runtime (session_driver) runs `claude` on a "remote" host over SSH (the
CLI binary is the local one, the host is the same machine), against the
scripted Messages API on loopback. The agent runs a Bash tool call in the
session's remote workspace. The private key is a secret (`agentd secret
set`), held only by the plugin's ssh-agent: it is never in any process's
command line, in the log, or in a file in plain text."""

import json
import os
import subprocess
import sys

from ssh_harness import (AGENTD, HERE, FleetCase, cmdlines, main, missing, pids_with_env,
                         sanitizer_report, wait_for)

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "sessions"))
from sessions_harness import API_KEY, DRIVER, Driver, claude_path  # noqa: E402
from scripted_model_api import ScriptedModelAPI, text, tool_use  # noqa: E402

CLAUDE = claude_path()
CONTENT = "hello from claude on a remote host"


class ClaudeOverSsh(FleetCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if CLAUDE is None or not os.access(CLAUDE, os.X_OK):
            missing("the Claude Code CLI (npm ci --prefix tests)")
        if not (DRIVER and os.access(DRIVER, os.X_OK)):
            raise AssertionError("SESSION_DRIVER must name session_driver (got %r)" % DRIVER)

    def test_a_scripted_session_runs_on_the_remote_host(self):
        f = self.fleet
        api = ScriptedModelAPI([
            [tool_use("Bash", {"command": "echo '%s' > hello.txt && pwd && cat hello.txt"
                               % CONTENT, "description": "write and show hello.txt"})],
            [text("Done: hello.txt is written.")],
        ]).start()
        self.addCleanup(api.stop)
        settings = f.plugin_settings(key="${secret:SSH_KEY}")
        del settings["key_file"]
        cfg = f.write_config(settings=settings, profile={"hosts": ["h2"]},
                             agent={"command": CLAUDE, "base_url": api.url,
                                    "api_key": API_KEY, "idle_timeout_s": 120,
                                    "stop_grace_s": 2})
        # The key goes into the secret store from stdin, as an operator does.
        r = subprocess.run([AGENTD, "--config", cfg, "secret", "set", "SSH_KEY"],
                           input=f.key_text, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        os.unlink(f.key)  # from here on the store is the only copy
        d = Driver(cfg, os.path.join(f.tmp, "driver.stderr"))
        self.addCleanup(lambda: d.proc.poll() is not None or d.terminate(60))
        sid = d.create(prompt="Write hello.txt and show it.", workspace=f.workspace,
                       allowed_tools=["Bash"])

        # While the agent runs: no process has the key in its command line.
        # The first line is the same in every OpenSSH key: the rest is this key.
        body = [line for line in f.key_text.splitlines() if not line.startswith("-----")][1:]
        wait_for(lambda: pids_with_env("AGENTD_SSH_SANDBOX=session-" + sid), 60,
                 what="the remote agent")
        for pid, cmd in cmdlines().items():
            for line in body:
                self.assertNotIn(line.encode(), cmd, "pid %d has the key in argv" % pid)
            # Nor the agent's API key, which goes to the host over ssh's stdin.
            self.assertNotIn(API_KEY.encode(), cmd, "pid %d has the API key in argv" % pid)

        result = d.wait_event(sid, "agent.result", timeout=180)["data"]
        self.assertEqual(result["subtype"], "success", result)
        self.assertEqual(result["result"], "Done: hello.txt is written.")
        # The CLI ran in its session directory on h2, not in the local
        # workspace: the init event and the tool's output say where.
        init = d.session_events(sid, "agent.init")[0]["data"]
        root = f.hosts[1].root + "/session-" + sid + "-"
        self.assertTrue(init["cwd"].startswith(root) and init["cwd"].endswith("/workspace"),
                        init["cwd"])
        turns = [b for b in api.messages_requests() if b.get("tools")]
        results = [c for m in turns[-1]["messages"] if m["role"] == "user"
                   and isinstance(m["content"], list) for c in m["content"]
                   if c.get("type") == "tool_result"]
        self.assertEqual(len(results), 1, turns[-1]["messages"])
        out = results[0]["content"]
        out = out if isinstance(out, str) else json.dumps(out)
        self.assertIn(init["cwd"], out)
        self.assertIn(CONTENT, out)
        self.assertFalse(os.path.exists(os.path.join(f.workspace, "hello.txt")))
        self.assertEqual(f.session_dirs(f.hosts[0]), [])

        # Stopped, the session keeps its remote directory for its next run,
        # with no process left; deleted, the directory goes too.
        d.ok("stop", id=sid, timeout=60)
        wait_for(lambda: not pids_with_env("AGENTD_SSH_SANDBOX=session-" + sid), 30,
                 what="no remote process left")
        self.assertNotEqual(f.session_dirs(f.hosts[1]), [])
        d.ok("delete", id=sid)
        wait_for(lambda: f.session_dirs(f.hosts[1]) == [], 30, what="the directory removed")
        self.assertEqual(d.terminate(60), 0)

        # The key is in no log and in no file in plain text.
        for root_dir in (f.data_dir, f.hosts[1].dir):
            for dirpath, _, files in os.walk(root_dir):
                for name in files:
                    path = os.path.join(dirpath, name)
                    try:
                        with open(path, "rb") as fh:
                            data = fh.read()
                    except OSError:
                        continue
                    for line in body:
                        self.assertNotIn(line.encode(), data, "%s holds the key" % path)
        with open(d.stderr_path, errors="replace") as log:
            text_log = log.read()
        for line in body:
            self.assertNotIn(line, text_log)
        self.assertIn("ssh-agent ready with 1 key(s)", text_log)
        self.assertIsNone(sanitizer_report(text_log))


if __name__ == "__main__":
    main()
