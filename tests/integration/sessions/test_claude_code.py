#!/usr/bin/python3
"""Sessions with the real Claude Code CLI (tests/node_modules) in the real
seccomp sandbox, driven through the session C API (session_driver) against
the scripted Messages API: a file written, a Bash tool call, a denied tool,
two turns in one process, resume after the process exited, resume after the
host was killed, stop during a long turn, and a 529 from the model API."""

import json
import os
import shutil
import unittest

from sessions_harness import (NEEDS_CLAUDE, SessionCase, claude_path, holds_for, main,
                              process_running, wait_for)
from scripted_model_api import ScriptedModelAPI, text, thinking, tool_use

CLAUDE = claude_path()


def turn_requests(api):
    """The conversation's requests (side requests carry no tools)."""
    return [b for b in api.messages_requests() if b.get("tools")]


def message_texts(body):
    """Every text a request's messages carry, user and assistant, in order."""
    out = []
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
            continue
        for b in c or []:
            if b.get("type") == "text":
                out.append(b.get("text", ""))
            elif b.get("type") == "tool_result":
                rc = b.get("content")
                out.append(rc if isinstance(rc, str) else json.dumps(rc))
    return "\n".join(out)


def tool_results(body):
    return [b for m in body.get("messages", []) if m.get("role") == "user"
            and isinstance(m.get("content"), list) for b in m["content"]
            if b.get("type") == "tool_result"]


@unittest.skipIf(CLAUDE is None, NEEDS_CLAUDE)
class ClaudeCodeSessions(SessionCase):

    def start(self, steps, agent=None, extra=None):
        """A scripted API with these steps, a config that runs the CLI
        against it, and a driver."""
        self.api = ScriptedModelAPI(steps).start()
        self.addCleanup(self.api.stop)
        cfg = {"command": CLAUDE, "idle_timeout_s": 60, "stop_grace_s": 2}
        cfg.update(agent or {})
        self.write_config(cfg, self.api.url, extra)
        self.d = self.start_driver()
        return self.d

    def assert_no_errors(self, sid):
        errors = self.d.session_events(sid, "error")
        self.assertEqual(errors, [], "unexpected error events")

    # -- one turn ------------------------------------------------------------

    def test_file_written_by_the_agent(self):
        target = os.path.join(self.workspace, "hello.txt")
        d = self.start([
            [thinking("The user wants a file."),
             tool_use("Write", {"file_path": target, "content": "hello from a session\n"})],
            [text("I wrote hello.txt.")],
        ])
        sid = d.create(prompt="Write hello.txt", workspace=self.workspace,
                       allowed_tools=["Write"])
        result = d.wait_event(sid, "agent.result")["data"]
        self.assertEqual(result["subtype"], "success", result)
        self.assertFalse(result["is_error"], result)
        self.assertEqual(result["result"], "I wrote hello.txt.")
        with open(target) as f:
            self.assertEqual(f.read(), "hello from a session\n")
        d.wait_state(sid, "idle")
        init = d.session_events(sid, "agent.init")[0]["data"]
        self.assertEqual(init["cwd"], os.path.realpath(self.workspace))
        use = d.session_events(sid, "agent.tool_use")
        self.assertEqual([u["data"]["name"] for u in use], ["Write"])
        self.assertEqual(len(d.session_events(sid, "agent.thinking")), 1)
        res = d.session_events(sid, "agent.tool_result")
        self.assertEqual(len(res), 1)
        self.assertFalse(res[0]["data"].get("is_error"), res[0])
        self.assertEqual(res[0]["data"]["tool_use_id"], use[0]["data"]["id"])
        self.assert_no_errors(sid)
        # What was printed (fanned out) is what the log holds, gapless.
        logged = d.log(sid)
        self.assertEqual([e["seq"] for e in logged], list(range(1, len(logged) + 1)))
        printed = d.session_events(sid)
        self.assertEqual([(e["seq"], e["type"], e["data"]) for e in printed],
                         [(e["seq"], e["type"], e["data"]) for e in logged[:len(printed)]])
        # The agent's raw line is kept beside the normalized event.
        raw = next(e for e in logged if e["type"] == "agent.result")["raw"]
        self.assertEqual(json.loads(raw)["type"], "result")
        s = d.get(sid)
        self.assertEqual(s["turns"], 1)
        self.assertGreater(s["cost_usd"], 0)
        self.assertGreater(s["output_tokens"], 0)
        # The key reached the API only in the environment: not in any event.
        self.assertNotIn("sk-ant-test", json.dumps(logged))

    def test_bash_tool_call(self):
        d = self.start([
            [tool_use("Bash", {"command": "echo bash-says-$((6 * 7)) && pwd",
                               "description": "Say 42"})],
            [text("Bash said 42.")],
        ])
        sid = d.create(prompt="Run a command", workspace=self.workspace,
                       allowed_tools=["Bash"])
        d.wait_event(sid, "agent.result")
        use = d.session_events(sid, "agent.tool_use")
        self.assertEqual(use[0]["data"]["name"], "Bash")
        res = d.session_events(sid, "agent.tool_result")
        self.assertEqual(len(res), 1, res)
        content = json.dumps(res[0]["data"]["content"])
        self.assertIn("bash-says-42", content)
        self.assertIn(os.path.realpath(self.workspace), content)
        self.assertFalse(res[0]["data"].get("is_error"), res[0])
        self.assertEqual(res[0]["data"]["tool_use_id"], use[0]["data"]["id"])
        # The model got the command's output back.
        self.assertIn("bash-says-42", message_texts(turn_requests(self.api)[-1]))
        self.assert_no_errors(sid)

    def test_denied_tool_is_visible_as_a_denial(self):
        target = os.path.join(self.workspace, "denied.txt")
        d = self.start([
            [tool_use("Write", {"file_path": target, "content": "must not exist\n"})],
            [text("The write was denied.")],
        ])
        # A deny rule: the CLI asks the host (the control protocol), and the
        # permission engine denies by that rule, at once, asking nobody.
        sid = d.create(prompt="Write denied.txt", workspace=self.workspace,
                       allowed_tools=["Bash(echo:*)"],
                       permissions={"deny": ["Edit(denied.txt)"]})
        d.wait_event(sid, "agent.result")
        self.assertEqual(d.session_events(sid, "permission.requested"), [])
        dec = d.session_events(sid, "permission.decided")
        self.assertEqual(len(dec), 1, dec)
        self.assertEqual(dec[0]["data"]["decision"], "deny")
        self.assertEqual(dec[0]["data"]["by"], "rule")
        self.assertEqual(dec[0]["data"]["rule"], "Edit(denied.txt)")
        self.assertEqual(dec[0]["data"]["tool"], "Write")
        self.assertFalse(os.path.exists(target))
        # The agent saw the denial: its tool result is an error carrying
        # agentd's message, and it went back to the model.
        res = d.session_events(sid, "agent.tool_result")
        self.assertEqual(len(res), 1, res)
        self.assertTrue(res[0]["data"].get("is_error"), res[0])
        self.assertIn("denied by agentd", json.dumps(res[0]["data"]["content"]))
        back = tool_results(turn_requests(self.api)[-1])
        self.assertEqual(len(back), 1)
        self.assertTrue(back[0].get("is_error"), back)
        self.assertIn("denied by agentd", json.dumps(back[0]))
        result = d.session_events(sid, "agent.result")[0]["data"]
        self.assertEqual([p.get("tool_name") for p in result["permission_denials"]], ["Write"])

    # -- several turns -----------------------------------------------------------

    def test_two_turns_in_one_process(self):
        d = self.start([[text("first answer")], [text("second answer")]])
        sid = d.create(prompt="first question", workspace=self.workspace)
        d.wait_event(sid, "agent.result")
        d.wait_state(sid, "idle")
        d.ok("send", id=sid, text="second question")
        second = d.wait_event(sid, "agent.result", count=2)["data"]
        self.assertEqual(second["result"], "second answer")
        d.wait_state(sid, "idle", count=2)
        self.assertEqual(len(d.session_events(sid, "sandbox.started")), 1)
        self.assertEqual(d.session_events(sid, "sandbox.exited"), [])
        self.assertEqual(len(d.session_events(sid, "agent.result")), 2)
        self.assertTrue(d.ok("busy", id=sid)["busy"])
        turns = turn_requests(self.api)
        self.assertEqual(len(turns), 2)
        self.assertIn("first answer", message_texts(turns[1]))
        self.assertIn("second question", message_texts(turns[1]))
        self.assertEqual(d.get(sid)["turns"], 2)
        self.assert_no_errors(sid)

    def test_second_message_after_the_process_exited_resumes(self):
        # After agent.idle_pause_s of idleness the agent exits (its
        # conversation stays on disk) and the session is paused.
        d = self.start([[text("the secret word is pelican")], [text("it was pelican")]],
                       agent={"idle_pause_s": 5})
        sid = d.create(prompt="remember a word", workspace=self.workspace)
        first = d.wait_event(sid, "agent.result")["data"]
        d.wait_event(sid, "sandbox.exited", timeout=30)
        d.wait_state(sid, "paused")
        self.assertFalse(d.ok("busy", id=sid)["busy"])
        d.ok("send", id=sid, text="what was the word?")
        second = d.wait_event(sid, "agent.result", count=2)["data"]
        self.assertEqual(second["result"], "it was pelican")
        self.assertEqual(len(d.session_events(sid, "sandbox.started")), 2)
        # --resume: the same conversation, and the model saw all of it.
        self.assertEqual(second["session_id"], first["session_id"])
        turns = turn_requests(self.api)
        self.assertEqual(len(turns), 2)
        self.assertIn("remember a word", message_texts(turns[1]))
        self.assertIn("pelican", message_texts(turns[1]))
        self.assertIn("what was the word?", message_texts(turns[1]))
        self.assertEqual(d.session_events(sid, "session.resume_failed"), [])
        self.assert_no_errors(sid)

    def test_resume_after_the_host_was_killed(self):
        d = self.start([[text("the secret word is heron")], [text("it was heron")]])
        sid = d.create(prompt="remember a word", workspace=self.workspace)
        first = d.wait_event(sid, "agent.result")["data"]
        d.wait_state(sid, "idle")
        before = d.log(sid)
        d.kill()  # mid-idle, the agent process still alive

        d = self.d = self.start_driver()
        d.ok("flush")
        s = d.get(sid)
        self.assertEqual(s["state"], "interrupted", s)
        self.assertFalse(d.ok("busy", id=sid)["busy"])
        after = d.log(sid)
        self.assertEqual(after[:len(before)], before)
        d.ok("send", id=sid, text="what was the word?")
        second = d.wait_event(sid, "agent.result", timeout=90)["data"]
        self.assertEqual(second["result"], "it was heron")
        self.assertEqual(second["session_id"], first["session_id"])
        turns = turn_requests(self.api)
        self.assertEqual(len(turns), 2)
        self.assertIn("remember a word", message_texts(turns[1]))
        self.assertIn("heron", message_texts(turns[1]))
        self.assertEqual(d.session_events(sid, "session.resume_failed"), [])
        self.assertEqual(len(d.session_events(sid, "sandbox.started")), 1)  # this host's
        full = d.log(sid)
        self.assertEqual([e["seq"] for e in full], list(range(1, len(full) + 1)))
        self.assertEqual(len([e for e in full if e["type"] == "sandbox.started"]), 2)

    def test_resume_of_a_lost_conversation_starts_fresh_and_says_so(self):
        d = self.start([[text("first answer")], [text("unreachable")]],
                       agent={"stop_grace_s": 1})
        sid = d.create(prompt="first question", workspace=self.workspace)
        first = d.wait_event(sid, "agent.result")["data"]
        d.wait_state(sid, "idle")
        d.ok("stop", id=sid, timeout=30)
        # The conversation's files are gone (a wiped config dir).
        projects = os.path.join(self.workspace, ".agentd", "claude", "projects")
        self.assertTrue(os.path.isdir(projects))
        shutil.rmtree(projects)
        d.ok("send", id=sid, text="second question")
        # The CLI says "No conversation found" (and prints an error result);
        # the host says so too, and starts it again without --resume.
        failed = d.wait_event(sid, "session.resume_failed", timeout=90)
        second = d.wait_event(sid, "agent.result", lambda r: r["subtype"] == "success",
                              timeout=90, count=2)["data"]
        failed = d.session_events(sid, "session.resume_failed")
        self.assertEqual(len(failed), 1, failed)
        self.assertEqual(failed[0]["data"]["requested"], first["session_id"])
        self.assertNotEqual(second["session_id"], first["session_id"])
        # A fresh conversation: the model sees only the second question.
        turns = turn_requests(self.api)
        self.assertNotIn("first answer", message_texts(turns[-1]))
        self.assertIn("second question", message_texts(turns[-1]))
        self.assertEqual(second["result"], "first answer")  # step 0 again
        self.assertEqual(d.get(sid)["state"], "idle")
        self.assertEqual(len(d.session_events(sid, "session.message_delivered")), 3)
        self.assert_no_errors(sid)

    # -- stop ------------------------------------------------------------------------

    def test_stop_during_a_long_turn(self):
        # (The CLI refuses a plain `sleep N`: it wants a condition.)
        marker = "time.sleep(29.37)"
        d = self.start([
            [tool_use("Bash", {"command": "python3 -c 'import time; %s'" % marker,
                               "description": "Wait a long time"})],
            [text("slept")],
        ])
        sid = d.create(prompt="wait a while", workspace=self.workspace,
                       allowed_tools=["Bash"])
        d.wait_event(sid, "agent.tool_use")
        # The command really runs in the sandbox.
        wait_for(lambda: process_running(marker), 30, what="the agent's `%s`" % marker)
        self.assertEqual(len(turn_requests(self.api)), 1)
        r = d.ok("stop", id=sid, timeout=60)
        # The stop's done ran: the agent is gone, its sandbox destroyed.
        self.assertEqual(r["status"], 0)
        self.assertFalse(d.ok("busy", id=sid)["busy"])
        self.assertEqual(d.ok("state", id=sid)["state"], "stopped")
        self.assertFalse(process_running(marker), "the agent's command survived the stop")
        count = len(self.api.requests)
        self.assertTrue(holds_for(lambda: len(self.api.requests) > count, 4),
                        "a request reached the model API after the stop returned: %s"
                        % self.api.requests[count:])
        d.ok("flush")
        exited = d.session_events(sid, "sandbox.exited")
        self.assertEqual(len(exited), 1)
        self.assertEqual(exited[0]["data"].get("reason"), "stopped by request")
        state = d.session_events(sid, "session.state")[-1]["data"]
        self.assertEqual(state["state"], "stopped")

    # -- the model API fails -------------------------------------------------------

    def test_529_from_the_model_api_is_retried(self):
        target = os.path.join(self.workspace, "after-529.txt")
        d = self.start([
            [tool_use("Write", {"file_path": target, "content": "written after a 529\n"})],
            [text("done despite the overload")],
        ])
        self.api.fail_next(1, 529)
        sid = d.create(prompt="write a file", workspace=self.workspace,
                       allowed_tools=["Write"])
        result = d.wait_event(sid, "agent.result", timeout=120)["data"]
        self.assertEqual(result["subtype"], "success", result)
        self.assertFalse(result["is_error"], result)
        self.assertEqual(result["result"], "done despite the overload")
        with open(target) as f:
            self.assertEqual(f.read(), "written after a 529\n")
        turns = [r for r in self.api.requests if r["path"] == "/v1/messages"
                 and r["body"].get("tools")]
        self.assertEqual(turns[0]["status"], 529)
        # The retry carried the same conversation and got the first step.
        self.assertEqual(turns[1]["status"], 200)
        self.assertEqual(turns[1]["body"]["messages"], turns[0]["body"]["messages"])
        self.assertEqual(len(turns), 3)
        self.assertEqual(d.get(sid)["state"], "idle")
        self.assert_no_errors(sid)


if __name__ == "__main__":
    main()
