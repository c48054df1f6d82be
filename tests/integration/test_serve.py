"""`agentd serve`: starts on a config, runs until a signal, shuts down
gracefully (plugins told to stop, exit 0), and exits at once on a second
signal. A refused required plugin stops it from starting."""
import os
import signal
import stat
import unittest

from agentd_test import AgentdCase, Daemon, log_lines


class ServeTest(AgentdCase):
    def config(self, fixtures, load, **extra):
        cfg = {"plugins": {"dirs": [self.plugin_dir(*fixtures)], "load": load},
               "sandboxes": {}, "log": {"format": "json"}}
        cfg.update(extra)
        return self.write_config(cfg)

    def start(self, cfg):
        d = Daemon(cfg)
        self.addCleanup(d.kill)
        return d

    def test_graceful_shutdown_on_sigterm_and_sigint(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(sig=sig):
                d = self.start(self.config(["good"], ["fixture-good"]))
                d.wait_for(lambda l: "ready" in l["msg"])
                d.signal(sig)
                d.wait_for(lambda l: "shutting down" in l["msg"])
                d.wait_for(lambda l: l.get("component") == "fixture-good" and l["msg"] == "stop")
                self.assertEqual(d.finish(), 0)
                self.assertIn("stopped", d.lines[-1])

    def test_data_dir_is_created_private(self):
        data = os.path.join(self.tmp, "deep", "var")
        d = self.start(self.config(["good"], ["fixture-good"], data_dir=data))
        d.wait_for(lambda l: "ready" in l["msg"])
        self.assertEqual(stat.S_IMODE(os.stat(data).st_mode), 0o700)
        d.signal()
        self.assertEqual(d.finish(), 0)

    def test_second_signal_exits_at_once(self):
        cfg = self.config(["stop-hangs"], ["fixture-stop-hangs"],
                          limits={"plugin_stop_timeout_ms": 120000, "shutdown_timeout_ms": 120000})
        d = self.start(cfg)
        d.wait_for(lambda l: "ready" in l["msg"])
        d.signal()
        d.wait_for(lambda l: "shutting down" in l["msg"])
        d.signal()
        self.assertEqual(d.finish(timeout=10), 1)
        self.assertTrue(any("exiting now" in l for l in d.lines), d.lines)

    def test_shutdown_deadline(self):
        cfg = self.config(["stop-hangs"], ["fixture-stop-hangs"],
                          limits={"plugin_stop_timeout_ms": 120000, "shutdown_timeout_ms": 300})
        d = self.start(cfg)
        d.wait_for(lambda l: "ready" in l["msg"])
        d.signal()
        self.assertEqual(d.finish(timeout=20), 1)
        self.assertTrue(any("shutdown_timeout_ms" in l for l in d.lines), d.lines)

    def test_refused_required_plugin_stops_start(self):
        cfg = self.config(["init-fails"], ["fixture-init-fails"])
        r = self.run_agentd("serve", config=cfg, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("init failed", r.stderr)
        self.assertIn("not starting", r.stderr)

    def test_refusal_not_fatal_when_the_operator_says_so(self):
        cfg = self.config(["init-fails", "good"], ["fixture-init-fails", "fixture-good"])
        import json
        with open(cfg) as f:
            c = json.load(f)
        c["plugins"]["fatal_on_refusal"] = False
        with open(cfg, "w") as f:
            json.dump(c, f)
        d = self.start(cfg)
        d.wait_for(lambda l: "ready" in l["msg"] and "1 plugin loaded" in l["msg"])
        d.signal()
        self.assertEqual(d.finish(), 0)

    def test_missing_secret_reference_stops_start(self):
        cfg = self.config(["good"], ["fixture-good"], agent={"api_key": "${secret:NO_SUCH_KEY}"})
        r = self.run_agentd("serve", config=cfg, timeout=30)
        self.assertEqual(r.returncode, 1)
        msgs = " ".join(l["msg"] for l in log_lines(r.stderr))
        self.assertIn("NO_SUCH_KEY", msgs)
        self.assertIn("agent.api_key", msgs)
        self.assertIn("not starting", msgs)

    def test_bad_config_is_a_clear_error(self):
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            f.write('{"limits": {"max_sessions": -1}}')
        r = self.run_agentd("serve", config=path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("limits.max_sessions", r.stderr)


if __name__ == "__main__":
    unittest.main()
