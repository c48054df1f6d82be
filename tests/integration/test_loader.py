"""The plugin loader, through `agentd plugins`: every refusal case is a real
fixture .so, and the daemon must name the file, the reason and the fix, never
crash, and exit non-zero only where the operator made the refusal fatal."""
import os
import unittest

from agentd_test import AgentdCase, log_lines

# fixture file -> (words the reason must contain, words the fix must contain)
REFUSALS = {
    "garbage": ("not a loadable plugin", "shared object"),
    "undefined-symbol": ("not a loadable plugin", "libraries"),
    "no-symbol": ('exports no "agentd_plugin" symbol', "agentd_plugin"),
    "tiny-symbol": ("descriptor too small", "rebuild"),
    "bad-magic": ("wrong magic", "AGENTD_PLUGIN_HEADER"),
    "abi-major-2": ("built for plugin ABI 2.0; this agentd speaks ABI 1.0", "ABI major"),
    "abi-minor-newer": ("built for plugin ABI 1.1, newer than this agentd's 1.0", "upgrade agentd"),
    "struct-too-small": ("descriptor too small: it declares 16 bytes", "sizeof(agentd_plugin_t)"),
    "no-init": ("required callback missing: init", "required"),
    "no-on-event": ("required callback missing: notify.on_event", "implement it"),
    "init-fails": ("init failed: unavailable: cannot reach the backend at 127.0.0.1:9",
                   "plugin's message"),
}


class LoaderTest(AgentdCase):
    def config(self, plugin_dir, load, fatal=True, settings=None, **extra):
        cfg = {"plugins": {"dirs": [plugin_dir], "load": load, "fatal_on_refusal": fatal,
                           "settings": settings or {}},
               "sandboxes": {}}
        cfg.update(extra)
        return self.write_config(cfg)

    def test_good_plugin_loads_with_defaults_filled(self):
        cfg = self.config(self.plugin_dir("good"), ["fixture-good"])
        r, listed = self.plugins_json(cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        p = listed["good.so"]
        self.assertEqual((p["id"], p["kind"], p["version"], p["abi"], p["status"]),
                         ("fixture-good", "notify", "0.0.1", "1.0", "loaded"))
        inits = [l["msg"] for l in log_lines(r.stderr) if l.get("component") == "fixture-good"]
        self.assertTrue(any('"greeting": "hello"' in m or '"greeting":"hello"' in m
                            for m in inits), inits)
        self.assertTrue(any('"count": 3' in m or '"count":3' in m for m in inits), inits)
        self.assertIn("stop", inits, "the plugin's stop() must run before unload")

    def test_each_refusal_is_named_and_fatal_when_asked(self):
        for fixture, (reason, fix) in REFUSALS.items():
            with self.subTest(fixture=fixture):
                d = self.plugin_dir(fixture)
                r, listed = self.plugins_json(self.config(d, "*"))
                p = listed[fixture + ".so"]
                self.assertEqual(p["status"], "refused", p)
                self.assertIn(reason, p["reason"])
                self.assertIn(fix, p["fix"])
                self.assertEqual(r.returncode, 1, "a refused requested plugin is fatal by default")
                line = [l["msg"] for l in log_lines(r.stderr) if "refused" in l.get("msg", "")]
                self.assertTrue(line and os.path.join(d, fixture + ".so") in line[0], r.stderr)
                self.assertIn("fix:", line[0])
                # The operator's choice: not fatal.
                r2, listed2 = self.plugins_json(self.config(d, "*", fatal=False))
                self.assertEqual(r2.returncode, 0, r2.stderr)
                self.assertEqual(listed2[fixture + ".so"]["status"], "refused")

    def test_all_fixtures_at_once_leave_the_good_one_loaded(self):
        d = self.plugin_dir("good", *REFUSALS.keys())
        r, listed = self.plugins_json(self.config(d, "*", fatal=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(listed["good.so"]["status"], "loaded")
        self.assertEqual(sum(p["status"] == "refused" for p in listed.values()), len(REFUSALS))

    def test_duplicate_id_keeps_the_first(self):
        d = self.plugin_dir("dup-a", "dup-b")
        r, listed = self.plugins_json(self.config(d, ["fixture-dup"]))
        self.assertEqual(listed["dup-a.so"]["status"], "loaded")
        self.assertEqual(listed["dup-b.so"]["status"], "refused")
        self.assertIn('duplicate id "fixture-dup": already provided by', listed["dup-b.so"]["reason"])
        self.assertIn("dup-a.so", listed["dup-b.so"]["reason"])
        self.assertEqual(r.returncode, 1)

    def test_bad_settings_refuse_the_plugin(self):
        cases = {
            "out of range": ({"count": 99}, "count"),
            "wrong type": ({"greeting": 5}, "greeting"),
            "unknown key": ({"greting": "hi"}, "greeting"),
        }
        for name, (settings, word) in cases.items():
            with self.subTest(name):
                cfg = self.config(self.plugin_dir("good"), ["fixture-good"],
                                  settings={"fixture-good": settings})
                r, listed = self.plugins_json(cfg)
                p = listed["good.so"]
                self.assertEqual(p["status"], "refused")
                self.assertIn("bad config for this plugin", p["reason"])
                self.assertIn(word, p["reason"])
                self.assertEqual(r.returncode, 1)

    def test_required_setting_missing_then_given(self):
        d = self.plugin_dir("required-field")
        r, listed = self.plugins_json(self.config(d, ["fixture-required"]))
        self.assertIn("endpoint", listed["required-field.so"]["reason"])
        r, listed = self.plugins_json(self.config(
            d, ["fixture-required"], settings={"fixture-required": {"endpoint": "x"}}))
        self.assertEqual(listed["required-field.so"]["status"], "loaded", r.stderr)

    def test_unrequested_plugins_are_available_and_their_refusals_not_fatal(self):
        d = self.plugin_dir("good", "bad-magic")
        r, listed = self.plugins_json(self.config(d, []))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(listed["good.so"]["status"], "available")
        self.assertEqual(listed["bad-magic.so"]["status"], "refused")

    def test_missing_plugin_and_missing_directory(self):
        missing_dir = os.path.join(self.tmp, "no-such-dir")
        r, listed = self.plugins_json(self.config(missing_dir, ["fixture-good"]))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(listed, {})
        self.assertIn("no-such-dir", r.stderr)
        msgs = " ".join(l["msg"] for l in log_lines(r.stderr))
        self.assertIn('plugin "fixture-good" (plugins.load) was not found', msgs)

    def test_stop_that_never_finishes_is_cut_off_by_the_deadline(self):
        d = self.plugin_dir("stop-hangs")
        cfg = self.config(d, ["fixture-stop-hangs"], limits={"plugin_stop_timeout_ms": 200})
        r, listed = self.plugins_json(cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("did not finish stopping within the deadline", r.stderr)

    def test_verbose_lists_fields(self):
        cfg = self.config(self.plugin_dir("good"), ["fixture-good"])
        r = self.run_agentd("plugins", "--verbose", config=cfg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"greeting\s+string\s+default\s+\"hello\"")
        self.assertRegex(r.stdout, r"count\s+int\s+default\s+3 \[1\.\.10\]")
        _, listed = self.plugins_json(cfg)
        names = [f["name"] for f in listed["good.so"]["fields"]]
        self.assertEqual(names, ["greeting", "count"])


if __name__ == "__main__":
    unittest.main()
