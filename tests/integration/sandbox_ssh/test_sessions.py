#!/usr/bin/python3
"""sandbox-ssh under the host's session runtime (session_driver, the real
sessions, runner and event log), with a fake agent (tests/support/
fake_agent.py) run on the "remote" hosts over SSH: placement spread by
capacity and labels, a full pool refused, pause and resume of the remote
process group, a stop that leaves no remote process, a host going down in
the middle of a session (the session fails with that reason instead of
hanging), and the session directories a killed agentd left behind reaped by
the next one."""

import json
import os
import sys

import signal
import subprocess

from ssh_harness import (AGENTD, HERE, FleetCase, cmdlines, main, pids_with_env,
                         sanitizer_report, wait_for)

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "sessions"))
from sessions_harness import DRIVER, FAKE_AGENT, Driver  # noqa: E402
from procs import process_state  # noqa: E402


class Sessions(FleetCase):
    HOSTS = 3

    def setUp(self):
        if not (DRIVER and os.access(DRIVER, os.X_OK)):
            raise AssertionError("SESSION_DRIVER must name session_driver (got %r)" % DRIVER)
        super().setUp()
        self.drivers = []
        self.addCleanup(self.end_drivers)

    def end_drivers(self):
        for d in self.drivers:
            if d.proc.poll() is None:
                self.assertEqual(d.terminate(60), 0, "the driver's shutdown failed")
            with open(d.stderr_path, errors="replace") as log:
                report = sanitizer_report(log.read())
            self.assertIsNone(report, "the driver's stderr holds a sanitizer report")

    def start(self, hosts=None, profile=None, secrets=None, **settings):
        f = self.fleet
        cfg = f.write_config(settings=f.plugin_settings(hosts=hosts, **settings),
                             profile=profile,
                             agent={"command": FAKE_AGENT, "idle_timeout_s": 120,
                                    "stop_grace_s": 1})
        for name, value in (secrets or {}).items():  # from stdin, as an operator does
            r = subprocess.run([AGENTD, "--config", cfg, "secret", "set", name], input=value,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        d = Driver(cfg, os.path.join(f.tmp, "driver%d.stderr" % len(self.drivers)))
        self.drivers.append(d)
        return d

    def hang_session(self, d):
        """A session whose agent runs (on some host) until it is killed."""
        sid = d.create(prompt="wait", workspace=self.fleet.workspace,
                       env={"FAKE_AGENT_MODE": "hang"})
        d.wait_event(sid, "agent.init", timeout=60)
        return sid

    def placed(self, sid):
        """The host whose working root holds the session's directory."""
        def where():
            for h in self.fleet.hosts:
                if any(n.startswith("session-%s-" % sid) for n in self.fleet.session_dirs(h)):
                    return h.name
            return None
        return wait_for(where, 30, what="the session directory of " + sid)

    def log(self, d):
        with open(d.stderr_path, errors="replace") as f:
            return f.read()

    def agent_pids(self, sid):
        """The remote processes of a session's sandbox."""
        return [p for p in pids_with_env("AGENTD_SSH_SANDBOX=session-" + sid)]

    def test_load_is_spread_by_capacity_and_labels(self):
        f = self.fleet
        h1, h2, h3 = f.hosts
        d = self.start(hosts={"h1": h1.settings(capacity=2, labels=["big"]),
                              "h2": h2.settings(capacity=1),
                              "h3": h3.settings(capacity=5, enabled=False)})
        sids = [self.hang_session(d) for _ in range(3)]
        where = [self.placed(s) for s in sids]
        # Least loaded first (ties: the larger free capacity): h1 (0/2),
        # h2 (0/1 beats 1/2), h1 (1/2 beats 1/1). The disabled host: never.
        self.assertEqual(where, ["h1", "h2", "h1"])
        self.assertEqual(len(f.session_dirs(h1)), 2)
        self.assertEqual(len(f.session_dirs(h2)), 1)
        self.assertEqual(f.session_dirs(h3), [])
        # Every slot taken: the next session fails, saying so.
        sid = d.create(prompt="one too many", workspace=f.workspace,
                       env={"FAKE_AGENT_MODE": "hang"})
        d.wait_state(sid, "failed", timeout=30)
        self.assertIn("capacity", str(d.session_events(sid, "session.state")))
        # A slot freed is a slot used again (once its directory is gone).
        d.ok("stop", id=sids[1], timeout=60)
        wait_for(lambda: f.session_dirs(h2) == [], 15, what="h2's sandbox removed")
        sid = self.hang_session(d)
        self.assertEqual(self.placed(sid), "h2")

    def test_labels_choose_the_host(self):
        f = self.fleet
        h1, h2, h3 = f.hosts
        d = self.start(hosts={"h1": h1.settings(labels=["x86"]),
                              "h2": h2.settings(labels=["gpu", "x86"]),
                              "h3": h3.settings(labels=["gpu"])},
                       profile={"labels": ["gpu", "x86"]})
        for _ in range(2):
            self.assertEqual(self.placed(self.hang_session(d)), "h2")

    def test_pause_resume_and_a_stop_that_leaves_nothing(self):
        f = self.fleet
        d = self.start()
        sid = self.hang_session(d)
        pids = wait_for(lambda: self.agent_pids(sid), 30, what="the remote agent")
        d.ok("pause", id=sid)
        wait_for(lambda: all(process_state(p) == "T" for p in pids), 10,
                 what="the remote processes to stop")
        d.ok("resume", id=sid)
        wait_for(lambda: all(process_state(p) in ("S", "R") for p in pids), 10,
                 what="the remote processes to continue")
        # The fake agent ignores SIGTERM: only the kill of the whole remote
        # tree ends it.
        d.ok("stop", id=sid, timeout=60)
        wait_for(lambda: not self.agent_pids(sid), 15, what="no remote process left")
        wait_for(lambda: all(f.session_dirs(h) == [] for h in f.hosts), 15,
                 what="the session directory to be removed")

    def test_a_host_going_down_fails_the_session_with_the_reason(self):
        f = self.fleet
        h1, h2, h3 = f.hosts
        d = self.start(hosts={"h1": h1.settings(capacity=1), "h2": h2.settings(capacity=1),
                              "h3": h3.settings(enabled=False)})
        sid = self.hang_session(d)
        self.assertEqual(self.placed(sid), "h1")
        other = self.hang_session(d)
        self.assertEqual(self.placed(other), "h2")
        h1.stop()
        d.wait_state(sid, "failed", timeout=30)
        log = self.log(d)
        self.assertIn("host h1 (127.0.0.1:%d) is down" % h1.port, log)
        self.assertIn("the command failed: host h1 is down", log)
        down = d.wait_event(sid, "sandbox.host_down", timeout=10)["data"]
        self.assertIn("h1", json.dumps(down))
        # The session on the other host goes on.
        self.assertEqual(d.ok("state", id=other)["state"], "running")
        # h1 back: the health checks (running while sessions exist) see it,
        # and a session is placed there again.
        h1.start()
        wait_for(lambda: "h1 (127.0.0.1:%d) is up again" % h1.port in self.log(d), 30,
                 what="h1 to be seen up again")
        # The failed session's sandbox is removed once its host answers,
        # which frees its slot.
        wait_for(lambda: d.session_events(sid, "sandbox.destroyed"), 30,
                 what="the failed session's sandbox destroyed")
        self.assertFalse(any(n.startswith("session-%s-" % sid)
                             for n in self.fleet.session_dirs(h1)))
        self.assertEqual(self.placed(self.hang_session(d)), "h1")

    def masters(self):
        """The pooled connections (ControlMaster processes) of this fleet."""
        return [pid for pid, cmd in cmdlines().items()
                if self.fleet.tmp.encode() in cmd and b"[mux]" in cmd]

    def test_a_lost_pooled_connection_is_made_again(self):
        f = self.fleet
        d = self.start(profile={"hosts": ["h1"]})
        sid = self.hang_session(d)
        masters = wait_for(self.masters, 10, what="the pooled connection")
        self.assertEqual(len(masters), 1)
        for pid in masters:
            os.kill(pid, signal.SIGKILL)
        # Its channels go with it: the session fails rather than hangs.
        d.wait_state(sid, "failed", timeout=30)
        # The host is still up: the next session makes a new master.
        sid = self.hang_session(d)
        self.assertEqual(self.placed(sid), "h1")
        new = wait_for(self.masters, 10, what="a new pooled connection")
        self.assertNotEqual(new, masters)

    def test_a_killed_agentds_sessions_are_adopted_and_orphans_reaped(self):
        f = self.fleet
        d = self.start()
        sid = self.hang_session(d)
        gone = self.hang_session(d)
        pids = wait_for(lambda: self.agent_pids(sid), 30, what="the remote agent")
        gone_pids = wait_for(lambda: self.agent_pids(gone), 30, what="the other remote agent")
        d.kill()  # a crash: nothing is cleaned up
        self.assertTrue(all(process_state(p) for p in pids + gone_pids))
        # A sandbox whose session no longer exists is an orphan.
        self.remove_session_record(f, gone)
        d2 = self.start()
        # The live session's sandbox is adopted: its old agent (this one
        # ignores SIGTERM) is frozen with it, and its directory stays.
        adopted = d2.wait_event(sid, "sandbox.adopted", timeout=30)["data"]
        self.assertTrue(adopted["sandbox"].startswith("session-%s-" % sid), adopted)
        wait_for(lambda: all(process_state(p) == "T" for p in self.agent_pids(sid)), 30,
                 what="the adopted sandbox frozen")
        self.placed(sid)
        # The orphan is reaped: processes killed, directory removed.
        wait_for(lambda: not self.agent_pids(gone), 30, what="the orphan's processes killed")
        with open(d2.stderr_path, errors="replace") as log:
            self.assertIn("reaping sandbox session-%s" % gone, log.read())
        # Deleting the session removes what was adopted.
        d2.ok("delete", id=sid)
        wait_for(lambda: not self.agent_pids(sid), 30, what="the adopted processes killed")
        wait_for(lambda: all(f.session_dirs(h) == [] for h in f.hosts), 30,
                 what="every session directory removed")

    def test_an_adopted_sandbox_runs_the_next_agent_with_the_profiles_env(self):
        f = self.fleet
        d = self.start(profile={"env": ["AGENTD_MARK=from-the-profile",
                                        "AGENTD_SECRET_MARK=${secret:SSH_TEST_MARK}"]},
                       secrets={"SSH_TEST_MARK": "s3cret-mark"})
        sid = d.create(prompt="wait", workspace=f.workspace,
                       env={"FAKE_AGENT_MODE": "rerun", "FAKE_AGENT_SHOW": "AGENTD_MARK"})
        d.wait_event(sid, "agent.init", timeout=60)
        d.kill()
        d2 = self.start(profile={"env": ["AGENTD_MARK=from-the-profile",
                                         "AGENTD_SECRET_MARK=${secret:SSH_TEST_MARK}"]})
        d2.wait_event(sid, "sandbox.adopted", timeout=30)
        d2.ok("send", id=sid, text="what is the mark?")
        res = d2.wait_event(sid, "agent.result", timeout=60)["data"]
        self.assertEqual(res["result"], "AGENTD_MARK=from-the-profile")
        # The kept copy of the environment holds the reference, not the value.
        envdir = os.path.join(f.data_dir, "plugins", "sandbox-ssh", "env")
        kept = "".join(open(os.path.join(envdir, n)).read() for n in os.listdir(envdir))
        self.assertIn("${secret:SSH_TEST_MARK}", kept)
        self.assertNotIn("s3cret-mark", kept)
        d2.ok("delete", id=sid)
        wait_for(lambda: os.listdir(envdir) == [], 30, what="the kept environment removed")

    @staticmethod
    def remove_session_record(f, sid):
        import sqlite3
        db = sqlite3.connect(os.path.join(f.tmp, "var", "agentd.db"))
        db.execute("delete from sessions where id = ?", (sid,))
        db.commit()
        db.close()


if __name__ == "__main__":
    main()
