#!/usr/bin/python3
"""Sessions in containers, end to end: the host's real session runtime
(session_driver) with a sandbox-docker profile runs the real Claude Code CLI
in a container against the scripted Messages API: a file written in the
workspace, pause and resume of the session (the container is frozen and
thawed), a stop during a long turn (the command in the container ends; the
session keeps its container, frozen, until it is deleted), the session's
next run in the same container, and a restarted host adopting the container
of a session whose host was killed."""

import json
import os
import sys

from docker_harness import (HERE, SANITIZER_WORDS, TESTS_DIR, EngineTestCase, missing,
                            wait_for)

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "sessions"))
import sessions_harness as sh  # noqa: E402
from scripted_model_api import ScriptedModelAPI, text, tool_use  # noqa: E402

CLAUDE = sh.claude_path()


class DockerSessions(EngineTestCase):
    @classmethod
    def setUpClass(cls):
        if CLAUDE is None or not os.access(CLAUDE, os.X_OK):
            missing("the Claude Code CLI (npm ci --prefix %s)" % TESTS_DIR)
        if not (sh.DRIVER and os.access(sh.DRIVER, os.X_OK)):
            missing("SESSION_DRIVER (the session_driver program)")
        super().setUpClass()

    def start(self, steps, agent=None, profile=None):
        self.api = ScriptedModelAPI(steps).start()
        self.addCleanup(self.api.stop)
        cfg = dict(self.cfg.config)
        cfg["sandboxes"] = {"docker": dict(self.cfg.profile, plugin="sandbox-docker",
                                           mounts=[CLAUDE + ":" + CLAUDE + ":ro"],
                                           **(profile or {}))}
        cfg["default_sandbox"] = "docker"
        cfg["log"] = {"level": "info", "format": "json"}
        cfg["agent"] = dict({"command": CLAUDE, "idle_timeout_s": 60, "stop_grace_s": 2,
                             "base_url": self.api.url, "api_key": sh.API_KEY}, **(agent or {}))
        self.cfg.config = cfg
        self.cfg.write()
        return self.driver()

    def driver(self):
        self.runs = getattr(self, "runs", 0) + 1
        stderr = os.path.join(self.cfg.tmp, "driver-%d.stderr" % self.runs)
        d = sh.Driver(self.cfg.path, stderr)
        self.addCleanup(self.end_driver, d, stderr)
        return d

    def end_driver(self, d, stderr):
        if d.proc.poll() is None:
            d.terminate(60)
        with open(stderr, errors="replace") as f:
            text = f.read()
        for w in SANITIZER_WORDS:
            self.assertNotIn(w, text, text[-6000:])

    def running_container(self):
        found = [c for c in self.engine.containers() if c["State"] in ("running", "paused")]
        return found[0] if len(found) == 1 else None

    def test_file_written_pause_resume(self):
        ws = self.cfg.workspace
        target = os.path.join(ws, "hello.txt")
        d = self.start([
            [tool_use("Write", {"file_path": target, "content": "from a container session\n"})],
            [text("I wrote hello.txt.")],
            [text("still here")],
        ])
        sid = d.create(prompt="Write hello.txt", workspace=ws, allowed_tools=["Write"])
        result = d.wait_event(sid, "agent.result", timeout=120)["data"]
        self.assertEqual(result["subtype"], "success", result)
        with open(target) as f:
            self.assertEqual(f.read(), "from a container session\n")
        init = d.session_events(sid, "agent.init")[0]["data"]
        self.assertEqual(init["cwd"], os.path.realpath(ws))
        d.wait_state(sid, "idle")
        c = self.running_container()
        self.assertIsNotNone(c, "the session's container runs between turns")
        self.assertEqual(c["Labels"]["io.agentd.session"], sid)
        d.ok("pause", id=sid)
        wait_for(lambda: self.engine.json("GET", "/containers/%s/json" % c["Id"])
                 ["State"]["Paused"], 30, what="the container to be paused")
        d.ok("resume", id=sid)
        wait_for(lambda: not self.engine.json("GET", "/containers/%s/json" % c["Id"])
                 ["State"]["Paused"], 30, what="the container to be thawed")
        d.ok("send", id=sid, text="are you there?")
        d.wait_event(sid, "agent.result", count=2, timeout=120)
        self.assertEqual(d.session_events(sid, "error"), [])

    def test_stop_during_a_long_turn(self):
        marker = "agentd-docker-long-turn"
        d = self.start([
            [tool_use("Bash", {"command": "until [ -e /nonexistent/%s ]; do sleep 0.2; done"
                               % marker, "description": "Wait a long time"})],
            [text("waited")],
        ])
        sid = d.create(prompt="wait a while", workspace=self.cfg.workspace,
                       allowed_tools=["Bash"])
        d.wait_event(sid, "agent.tool_use", timeout=120)
        wait_for(lambda: sh.process_running(marker), 60, what="the command in the container")
        self.assertIsNotNone(self.running_container())
        c = self.running_container()
        self.assertIsNotNone(c)
        r = d.ok("stop", id=sid, timeout=90)
        self.assertEqual(r["status"], 0)
        self.assertEqual(d.ok("state", id=sid)["state"], "stopped")
        wait_for(lambda: not sh.process_running(marker), 30, what="the command to end")
        # The session keeps its container for its next message, frozen: no
        # CPU is spent on it meanwhile.
        wait_for(lambda: self.engine.json("GET", "/containers/%s/json" % c["Id"])
                 ["State"]["Paused"], 30, what="the stopped session's container to be paused")
        d.ok("delete", id=sid)
        wait_for(lambda: self.engine.containers() == [], 30, what="the container's removal")

    def test_next_run_and_a_restarted_host_use_the_same_container(self):
        ws = self.cfg.workspace
        d = self.start([
            [tool_use("Bash", {"command": "touch /tmp/made-in-run-1", "description": "mark"})],
            [text("marked")],
            [tool_use("Bash", {"command": "ls /tmp/made-in-run-1", "description": "look"})],
            [text("still there")],
            [tool_use("Bash", {"command": "ls /tmp/made-in-run-1 && echo mark=$AGENTD_MARK",
                               "description": "look"})],
            [text("there after the restart")],
        ], agent={"idle_pause_s": 5}, profile={"env": ["AGENTD_MARK=from-the-profile"]})
        sid = d.create(prompt="mark the container", workspace=ws, allowed_tools=["Bash"])
        d.wait_event(sid, "agent.result", timeout=120)
        first = self.running_container()
        self.assertIsNotNone(first)
        # Idle: the agent exits, the container is kept and frozen.
        d.wait_state(sid, "paused", timeout=60)
        wait_for(lambda: self.engine.json("GET", "/containers/%s/json" % first["Id"])
                 ["State"]["Paused"], 30, what="the idle session's container to be paused")
        d.ok("send", id=sid, text="is the mark there?")
        second = d.wait_event(sid, "agent.result", count=2, timeout=120)["data"]
        self.assertEqual(second["result"], "still there")
        out = d.session_events(sid, "agent.tool_result")[-1]["data"]
        self.assertFalse(out.get("is_error"), out)
        self.assertEqual(self.running_container()["Id"], first["Id"])

        # The host dies with the agent running; the next one adopts the
        # container for the session (its old agent ended) and the next run
        # resumes the conversation in it.
        d.kill()
        d = self.driver()
        adopted = d.wait_event(sid, "sandbox.adopted", timeout=60)["data"]
        self.assertTrue(adopted["sandbox"].startswith("session-" + sid), adopted)
        self.assertEqual(d.get(sid)["state"], "interrupted")
        self.assertEqual([c["Id"] for c in self.engine.containers()], [first["Id"]])
        d.ok("send", id=sid, text="and now?")
        third = d.wait_event(sid, "agent.result", timeout=120)["data"]
        self.assertEqual(third["result"], "there after the restart")
        self.assertEqual(third["session_id"], second["session_id"])
        out = d.session_events(sid, "agent.tool_result")[-1]["data"]
        self.assertFalse(out.get("is_error"), out)
        # The adopted container's commands still get the profile's env.
        self.assertIn("mark=from-the-profile", json.dumps(out))
        self.assertEqual(self.running_container()["Id"], first["Id"])
        envdir = os.path.join(self.cfg.data_dir, "plugins", "sandbox-docker", "env")
        self.assertEqual(len(os.listdir(envdir)), 1)
        d.ok("delete", id=sid)
        wait_for(lambda: self.engine.containers() == [], 30, what="the container's removal")
        wait_for(lambda: os.listdir(envdir) == [], 10, what="its kept environment removed")


if __name__ == "__main__":
    from docker_harness import main
    main()
