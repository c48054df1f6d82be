#!/usr/bin/python3
"""Sessions with a fake agent (tests/support/fake_agent.py) in the real
seccomp sandbox, driven through the session C API (session_driver): a hung
agent ended by the watchdogs, malformed and very long lines that all become
events, none fatal, the operations (create, send, pause, resume, clone,
delete, get, list, events since) and the host's shutdown on SIGTERM."""

import json
import os

from sessions_harness import FAKE_AGENT, SessionCase, main

BIG = 5 * 1024 * 1024
EINVAL, ENOENT, ESTATE = -1, -4, -16  # AGENTD_E* (sdk/include/agentd/abi.h)


class FakeAgentSessions(SessionCase):

    def start(self, agent=None):
        cfg = {"command": FAKE_AGENT, "stop_grace_s": 1}
        cfg.update(agent or {})
        self.write_config(cfg)
        self.d = self.start_driver()
        return self.d

    def test_hung_agent_is_ended_by_the_idle_watchdog(self):
        # It prints its init, takes the message and is never heard of again;
        # it ignores SIGTERM, so only the escalation's SIGKILL ends it.
        d = self.start({"idle_timeout_s": 10})
        sid = d.create(prompt="hello?", workspace=self.workspace,
                       env={"FAKE_AGENT_MODE": "hang"})
        delivered = d.wait_event(sid, "session.message_delivered", timeout=30)
        d.wait_event(sid, "agent.init", timeout=30)
        exited = d.wait_event(sid, "sandbox.exited", timeout=40)
        reason = exited["data"].get("reason") or ""
        self.assertIn("printed nothing for 10000 ms", reason, exited)
        # SIGTERM was ignored: killed.
        self.assertTrue(exited["data"]["signal"] == 9 or exited["data"]["exit_status"] == 137,
                        exited)
        waited = (exited["ts"] - delivered["ts"]) / 1000.0
        self.assertGreaterEqual(waited, 10.0)
        self.assertLess(waited, 10.0 + 1 + 8)  # the timeout, one grace step, slack
        state = d.wait_state(sid, "failed")["data"]
        self.assertIn("printed nothing", state.get("reason", ""), state)
        errors = d.session_events(sid, "error")
        self.assertTrue(any("printed nothing" in e["data"]["message"] for e in errors), errors)
        self.assertFalse(d.ok("busy", id=sid)["busy"])
        self.assertEqual(d.session_events(sid, "agent.result"), [])

    def test_agent_that_does_not_exit_after_its_result_is_killed(self):
        # A one-shot session ends the agent's input after the result; this
        # agent ignores that (and SIGTERM): the exit deadline kills it.
        d = self.start({"exit_deadline_s": 1})
        sid = d.create(prompt="hello", workspace=self.workspace, one_shot=True,
                       env={"FAKE_AGENT_MODE": "linger"})
        result = d.wait_event(sid, "agent.result", timeout=30)
        d.wait_state(sid, "completed")
        exited = d.wait_event(sid, "sandbox.exited", timeout=20)
        self.assertIn("did not exit within 1000 ms", exited["data"].get("reason") or "",
                      exited)
        self.assertTrue(exited["data"]["signal"] == 9 or exited["data"]["exit_status"] == 137,
                        exited)
        self.assertLess((exited["ts"] - result["ts"]) / 1000.0, 1 + 5)
        self.assertFalse(d.ok("busy", id=sid)["busy"])

    def test_requests_beyond_the_pending_limit_are_denied_at_once(self):
        # Five requests at once, at most two may wait for a person: three are
        # denied by the limit; the two that wait are settled by answers, and
        # a second answer is refused.
        cfg = {"command": FAKE_AGENT, "stop_grace_s": 1}
        self.write_config(cfg, extra={"limits": {"max_pending_requests": 2}})
        d = self.d = self.start_driver()
        sid = d.create(prompt="ask", workspace=self.workspace,
                       env={"FAKE_AGENT_MODE": "ask", "FAKE_AGENT_ASKS": "5"})
        d.wait_event(sid, "permission.decided", count=3, timeout=30)
        d.wait_state(sid, "waiting")
        limited = [e["data"] for e in d.session_events(sid, "permission.decided")]
        self.assertEqual([x["by"] for x in limited], ["limit"] * 3, limited)
        self.assertIn("limits.max_pending_requests", limited[0]["reason"])
        asked = [e["data"]["request_id"] for e in d.session_events(sid, "permission.requested")]
        self.assertEqual(asked, ["ask-0", "ask-1"])
        pending = [p["request_id"] for p in d.get(sid)["pending"]]
        self.assertEqual(pending, ["ask-0", "ask-1"])
        bad = d.request("respond", id=sid, request_id="ask-0", decision="maybe")
        self.assertFalse(bad["ok"])
        self.assertEqual(bad["code"], EINVAL)
        self.assertIn("decision", bad["error"])
        d.ok("respond", id=sid, request_id="ask-0", decision="allow")
        d.ok("respond", id=sid, request_id="ask-1", decision="deny", message="no")
        again = d.request("respond", id=sid, request_id="ask-1", decision="allow")
        self.assertFalse(again["ok"])
        self.assertEqual(again["code"], ESTATE)
        self.assertIn("denied by person", again["error"])
        result = d.wait_event(sid, "agent.result", timeout=30)["data"]
        self.assertEqual(json.loads(result["result"]),
                         {"ask-0": "allow", "ask-1": "deny", "ask-2": "deny", "ask-3": "deny",
                          "ask-4": "deny"})
        d.wait_state(sid, "idle")
        self.assertEqual(d.get(sid)["pending"], [])

    def test_a_plugins_events_join_the_sessions_log(self):
        # The sandbox's egress proxy refuses a host nobody allowed, and says
        # so with an event (host API emit_event): it is the session's event.
        d = self.start()
        sid = d.create(prompt="fetch", workspace=self.workspace,
                       env={"FAKE_AGENT_MODE": "fetch",
                            "FAKE_AGENT_URL": "https://not-allowed.example:443/"})
        result = d.wait_event(sid, "agent.result", timeout=30)["data"]
        self.assertIn("403", result["result"])
        refused = d.wait_event(sid, "sandbox.network_refused", timeout=10)
        self.assertIn("not-allowed.example", json.dumps(refused["data"]))
        self.assertEqual(refused["session"], sid)

    def test_malformed_and_very_long_lines_become_events(self):
        d = self.start({"idle_timeout_s": 60})
        sid = d.create(prompt="print garbage", workspace=self.workspace,
                       env={"FAKE_AGENT_MODE": "garbage", "FAKE_AGENT_BIG_BYTES": str(BIG)})
        result = d.wait_event(sid, "agent.result", timeout=60)
        self.assertEqual(result["data"]["result"], "garbage survived")
        self.assertEqual(result["data"]["subtype"], "success")
        d.wait_state(sid, "idle")
        events = d.session_events(sid)
        init = next(i for i, e in enumerate(events) if e["type"] == "agent.init")
        agent = [e for e in events[init:] if e["type"].startswith("agent.")]
        self.assertEqual([e["type"] for e in agent],
                         ["agent.init", "agent.output", "agent.output", "agent.output",
                          "agent.text", "agent.output", "agent.result"],
                         [(e["type"], json.dumps(e["data"])[:200]) for e in agent])
        # Not JSON: kept as text.
        self.assertEqual(agent[1]["data"]["text"], "this line is not JSON at all")
        # Invalid UTF-8: repaired, never dropped.
        bad = agent[2]["data"]["text"]
        self.assertTrue(bad.startswith("invalid utf-8: "), bad)
        self.assertTrue(bad.endswith(" end"), bad)
        self.assertIn("\ufffd", bad)
        # A line cut inside a UTF-8 sequence across two writes: whole again.
        self.assertEqual(agent[3]["data"]["text"],
                         "split here: caf\u00e9 \u20ac \U0001F600 done")
        # 5 MB on one line.
        self.assertEqual(agent[4]["data"]["text"], "B" * BIG)
        # JSON of a type nobody knows: kept, with its JSON.
        self.assertEqual(agent[5]["data"]["json"],
                         {"type": "mystery_event", "payload": {"n": 42}})
        # Nothing was fatal.
        self.assertEqual(d.session_events(sid, "error"), [])
        self.assertEqual(d.session_events(sid, "sandbox.exited"), [])
        self.assertTrue(d.ok("busy", id=sid)["busy"])
        # The log has them as printed, with the raw lines beside them.
        logged = {e["seq"]: e for e in d.log(sid)}
        for e in agent:
            self.assertEqual(logged[e["seq"]]["type"], e["type"])
            self.assertEqual(logged[e["seq"]]["data"], e["data"])
        self.assertEqual(logged[agent[1]["seq"]]["raw"], "this line is not JSON at all")
        self.assertEqual(logged[agent[2]["seq"]]["raw_len"],
                         len(b"invalid utf-8: \xff\xfe \xc3\x28 \xed\xa0\x80 end"))
        self.assertGreater(logged[agent[4]["seq"]]["raw_len"], BIG)
        # And the session still works: a second message, a second round.
        d.ok("send", id=sid, text="again")
        again = d.wait_event(sid, "agent.result", timeout=60, count=2)
        self.assertEqual(again["data"]["result"], "garbage survived")
        self.assertEqual(len(d.session_events(sid, "sandbox.started")), 1)

    def test_sessions_start_with_a_long_data_dir(self):
        # A data dir such as /home/alice/.local/share/agentd (here 47
        # bytes): the sandbox's files live under it, and none of its paths
        # may break the session (a unix socket path has at most 107 bytes).
        self.data_dir = os.path.join(self.tmp, "home", "alice", ".local", "share", "agentd")
        d = self.start({"idle_timeout_s": 60})
        sid = d.create(prompt="hello", workspace=self.workspace,
                       env={"FAKE_AGENT_MODE": "result"})
        result = d.wait_event(sid, "agent.result", timeout=30)
        self.assertEqual(result["data"]["subtype"], "success")

    # -- the operations of the C API ------------------------------------------------

    def test_operations(self):
        d = self.start({"idle_timeout_s": 60})
        env = {"FAKE_AGENT_MODE": "result"}
        # Refusals name what is wrong.
        r = d.request("create", settings={"prompt": "x", "colour": "blue"})
        self.assertFalse(r["ok"])
        self.assertIn("colour", r["error"])
        self.assertEqual(r["code"], EINVAL)
        r = d.request("create", settings={"sandbox": "nowhere"})
        self.assertFalse(r["ok"])
        self.assertEqual(r["code"], ENOENT)
        r = d.request("create", settings={"timeout_minutes": 241})
        self.assertFalse(r["ok"])
        self.assertIn("timeout_minutes", r["error"])
        for op in ("send", "stop", "pause", "resume", "clone", "delete", "get"):
            r = d.request(op, id="s-0000000000000000", text="x")
            self.assertFalse(r["ok"], op)
            self.assertEqual(r["code"], ENOENT, (op, r))

        # Without a prompt a session waits for its first message.
        sid = d.create(workspace=self.workspace, name="ops", env=env)
        self.assertEqual(d.get(sid)["state"], "pending")
        self.assertFalse(d.ok("busy", id=sid)["busy"])
        self.assertIn(sid, [s["id"] for s in d.ok("list")["sessions"]])
        r = d.request("send", id=sid, text="")
        self.assertEqual(r["code"], EINVAL)
        d.ok("send", id=sid, text="first")
        d.wait_event(sid, "agent.result", timeout=30)
        d.wait_state(sid, "idle")
        s = d.get(sid)
        self.assertEqual((s["name"], s["turns"], s["input_tokens"], s["output_tokens"]),
                         ("ops", 1, 3, 5))
        self.assertAlmostEqual(s["cost_usd"], 0.001)
        self.assertEqual(s["last_seq"], d.log(sid)[-1]["seq"])

        # Pause freezes the agent's sandbox; resume thaws it; a message sent
        # while paused resumes the session.
        d.ok("pause", id=sid)
        d.wait_state(sid, "paused")
        self.assertTrue(d.ok("busy", id=sid)["busy"])
        r = d.request("pause", id=sid)
        self.assertTrue(r["ok"], r)  # already paused: nothing to do
        d.ok("resume", id=sid)
        d.wait_state(sid, "idle", count=2)
        self.assertEqual(d.request("resume", id=sid)["code"], ESTATE)
        d.ok("pause", id=sid)
        d.wait_state(sid, "paused", count=2)
        d.ok("send", id=sid, text="second")
        d.wait_event(sid, "agent.result", timeout=30, count=2)
        self.assertEqual(len(d.session_events(sid, "sandbox.started")), 1)

        # Reading since a seq gives exactly what follows it.
        logged = d.log(sid)
        self.assertEqual(d.ok("events", id=sid, since=5)["events"], logged[5:])
        r = d.ok("events", id=sid, since=2, limit=3)
        self.assertEqual([e["seq"] for e in r["events"]], [3, 4, 5])
        self.assertEqual(r["last"], 5)

        # Clone: the settings, and with history the events.
        plain = d.ok("clone", id=sid)["id"]
        self.assertEqual(d.get(plain)["state"], "pending")
        self.assertEqual(d.get(plain)["settings"]["name"], "ops")
        self.assertNotIn("session.cloned", [e["type"] for e in d.log(plain)])
        full = d.ok("clone", id=sid, history=True)["id"]
        copied = d.log(full)
        n = len(logged)
        self.assertEqual([(e["type"], e["data"]) for e in copied[1:n + 1]],
                         [(e["type"], e["data"]) for e in logged])
        self.assertEqual(copied[-1]["type"], "session.cloned")
        self.assertEqual(copied[-1]["data"]["from"], sid)

        # Stop, then delete: keeping the events, or purging them.
        d.ok("stop", id=sid, timeout=30)
        self.assertEqual(d.ok("state", id=sid)["state"], "stopped")
        self.assertFalse(d.ok("busy", id=sid)["busy"])
        d.ok("delete", id=sid)
        self.assertEqual(d.request("get", id=sid)["code"], ENOENT)
        self.assertEqual(d.log(sid)[-1]["type"], "session.deleted")
        self.assertTrue(os.path.isdir(self.workspace))  # the user's: never removed
        d.ok("delete", id=full, purge=True)
        self.assertEqual(d.log(full), [])
        self.assertNotIn(sid, [s["id"] for s in d.ok("list")["sessions"]])
        self.assertIn(plain, [s["id"] for s in d.ok("list")["sessions"]])

    def test_sigterm_shuts_the_host_down_and_the_sessions_are_interrupted(self):
        # SIGTERM: every agent is stopped (this one ignores SIGTERM: the
        # escalation kills it), then the driver exits 0. A session that was
        # active when agentd went away is `interrupted` (docs/sessions.md):
        # nobody asked to stop it.
        d = self.start({"idle_timeout_s": 60})
        sid = d.create(prompt="hang on", workspace=self.workspace,
                       env={"FAKE_AGENT_MODE": "hang"})
        d.wait_event(sid, "agent.init", timeout=30)
        self.assertEqual(d.terminate(60), 0, d.diagnostics())
        self.assertTrue(d.bye)
        self.assertIn("sandbox.exited", [e["type"] for e in d.session_events(sid)])
        d = self.start_driver()
        s = d.get(sid)
        self.assertFalse(d.ok("busy", id=sid)["busy"])
        self.assertEqual(s["state"], "interrupted",
                         [e["data"] for e in d.log(sid) if e["type"] == "session.state"])


if __name__ == "__main__":
    main()
