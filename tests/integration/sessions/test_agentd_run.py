#!/usr/bin/python3
"""`agentd run`: one headless session with the real Claude Code CLI in the
seccomp sandbox against the scripted Messages API. Exit status 0 when the
agent's result is a success, 1 with the reason when it is an error, 2 for a
usage error, 130 after Ctrl-C (the session stopped); --json prints one event
per line."""

import json
import os
import signal
import subprocess
import unittest

from sessions_harness import (AGENTD, NEEDS_CLAUDE, SessionCase, claude_path, main,
                              process_running, wait_for)
from scripted_model_api import ScriptedModelAPI, text, tool_use

CLAUDE = claude_path()


@unittest.skipIf(CLAUDE is None, NEEDS_CLAUDE)
class AgentdRun(SessionCase):

    @classmethod
    def setUpClass(cls):
        if not (AGENTD and os.access(AGENTD, os.X_OK)):
            raise AssertionError("AGENTD_BIN must name the agentd binary (got %r)" % AGENTD)

    def start_api(self, steps):
        self.api = ScriptedModelAPI(steps).start()
        self.addCleanup(self.api.stop)
        self.write_config({"command": CLAUDE, "idle_timeout_s": 60, "stop_grace_s": 1},
                          self.api.url)

    def argv(self, *args):
        return [AGENTD, "--config", self.config, "run", "--workspace", self.workspace] + list(args)

    def run_agentd(self, *args, timeout=120):
        env = dict(os.environ)
        env.pop("AGENTD_CONFIG", None)
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)

    def test_success_exits_0(self):
        target = os.path.join(self.workspace, "hello.txt")
        self.start_api([[tool_use("Write", {"file_path": target, "content": "hi\n"})],
                        [text("I wrote hello.txt.")]])
        r = self.run_agentd("--allow", "Write", "write hello.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(target) as f:
            self.assertEqual(f.read(), "hi\n")
        self.assertIn("I wrote hello.txt.", r.stdout)
        self.assertIn("[result: success", r.stdout)
        self.assertIn("-> Write", r.stdout)

    def test_json_prints_one_event_per_line(self):
        target = os.path.join(self.workspace, "hello.txt")
        self.start_api([[tool_use("Write", {"file_path": target, "content": "hi\n"})],
                        [text("I wrote hello.txt.")]])
        r = self.run_agentd("--json", "--allow", "Write", "write hello.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertGreater(len(lines), 5)
        events = [json.loads(line) for line in lines]  # every line is one JSON event
        for e in events:
            self.assertEqual(sorted(e), ["data", "seq", "session", "ts", "type"], e)
            self.assertIsInstance(e["data"], dict)
        self.assertEqual(len({e["session"] for e in events}), 1)
        self.assertEqual([e["seq"] for e in events], list(range(1, len(events) + 1)))
        types = [e["type"] for e in events]
        for t in ("session.created", "agent.init", "agent.tool_use", "agent.tool_result",
                  "agent.text", "agent.result"):
            self.assertIn(t, types)
        self.assertLess(types.index("agent.init"), types.index("agent.result"))
        result = next(e for e in events if e["type"] == "agent.result")["data"]
        self.assertEqual(result["subtype"], "success")
        states = [e["data"]["state"] for e in events if e["type"] == "session.state"]
        self.assertIn("completed", states)
        self.assertEqual(states[-1], "completed")

    def refuse(self):
        """The API refuses every request with a 400 (the CLI tries a few
        times, then its result is an error)."""
        self.start_api([[text("never sent")]])
        self.api.fail_next(50, 400, message="scripted refusal")

    def test_error_result_exits_1_with_the_reason(self):
        self.refuse()
        r = self.run_agentd("hello")
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertIn("session failed", r.stderr)
        self.assertIn("the agent's result was an error", r.stderr)
        self.assertIn("API Error: 400 scripted refusal", r.stdout)
        self.assertNotIn("never sent", r.stdout)

    def test_error_result_is_not_printed_as_a_success(self):
        # The CLI reports an API error as subtype "success" with is_error
        # true; the terminal output must not call it a success.
        self.refuse()
        r = self.run_agentd("hello")
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertIn("[result: ", r.stdout)
        self.assertNotIn("[result: success", r.stdout)

    def test_json_error_result_exits_1(self):
        self.refuse()
        r = self.run_agentd("--json", "hello")
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        events = [json.loads(line) for line in r.stdout.splitlines()]
        result = next(e for e in events if e["type"] == "agent.result")["data"]
        self.assertTrue(result["is_error"], result)
        self.assertIn("scripted refusal", result["result"])
        last_state = [e for e in events if e["type"] == "session.state"][-1]["data"]
        self.assertEqual(last_state["state"], "failed")
        self.assertIn("error", last_state.get("reason", ""))

    def test_usage_error_exits_2(self):
        self.write_config({"command": CLAUDE})
        r = self.run_agentd()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("PROMPT", r.stderr)

    def test_ctrl_c_stops_the_session_and_exits_130(self):
        marker = "time.sleep(28.61)"
        self.start_api([[tool_use("Bash", {"command": "python3 -c 'import time; %s'" % marker,
                                           "description": "Wait"})],
                        [text("slept")]])
        env = dict(os.environ)
        env.pop("AGENTD_CONFIG", None)
        p = subprocess.Popen(self.argv("--json", "--allow", "Bash", "wait"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        seen = []
        for line in p.stdout:
            seen.append(json.loads(line))
            if seen[-1]["type"] == "agent.tool_use":
                break
        self.assertEqual(seen[-1]["type"], "agent.tool_use", seen)
        wait_for(lambda: process_running(marker), 30, what="the agent's command")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 130, err)
        events = seen + [json.loads(line) for line in out.splitlines()]
        states = [e["data"]["state"] for e in events if e["type"] == "session.state"]
        self.assertEqual(states[-1], "stopped", states)
        self.assertIn("sandbox.exited", [e["type"] for e in events])
        self.assertFalse(process_running(marker), "the agent's command survived Ctrl-C")


if __name__ == "__main__":
    main()
