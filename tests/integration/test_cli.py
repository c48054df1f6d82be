"""The command line: help, version, usage errors, and `config check`."""
import json
import os
import unittest

from agentd_test import AgentdCase


class CliTest(AgentdCase):
    def test_version_names_the_abi(self):
        r = self.run_agentd("version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^agentd \d+\.\d+\.\d+ \(plugin ABI 1\.0\)")

    def test_help_lists_every_command_and_each_has_help(self):
        r = self.run_agentd("help")
        self.assertEqual(r.returncode, 0)
        for cmd in ("serve", "plugins", "config", "sandbox", "version", "help"):
            self.assertRegex(r.stdout, r"\n  %s " % cmd)
            h = self.run_agentd(cmd, "--help")
            self.assertEqual(h.returncode, 0, cmd)
            self.assertIn("usage: agentd", h.stdout)

    def test_usage_errors_exit_2(self):
        for args in (["no-such-command"], ["plugins", "--bogus"], ["config"],
                     ["sandbox", "exec"], ["--config"], ["--log-level", "loud", "version"]):
            with self.subTest(args=args):
                r = self.run_agentd(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertTrue(r.stderr.strip(), "a usage error says what is wrong")

    def test_config_defaults_round_trip(self):
        r = self.run_agentd("config", "defaults")
        self.assertEqual(r.returncode, 0)
        cfg = json.loads(r.stdout)
        self.assertEqual(cfg["listen"]["address"], "127.0.0.1")
        self.assertEqual(cfg["default_sandbox"], "local")

    def test_config_check_reports_position_path_and_suggestion(self):
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            f.write('{\n  "listne": {"port": 1},\n  "listen": {"port": "x"}\n}\n')
        r = self.run_agentd("config", "check", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":2:3: listne:", r.stderr)
        self.assertIn('"listen"', r.stderr)
        self.assertRegex(r.stderr, path + r":3:\d+: listen\.port:")

    def test_config_check_syntax_error_and_missing_file(self):
        path = os.path.join(self.tmp, "broken.json")
        with open(path, "w") as f:
            f.write('{\n  "data_dir": "x",\n  oops\n}\n')
        r = self.run_agentd("config", "check", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(path + ":3:", r.stderr)
        r = self.run_agentd("config", "check", os.path.join(self.tmp, "absent.json"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("absent.json", r.stderr)

    def test_config_check_validates_plugin_settings_without_init(self):
        fixtures = self.plugin_dir("good", "init-fails")
        cfg = self.write_config({"plugins": {"dirs": [fixtures], "load": ["fixture-good", "fixture-init-fails"],
                                             "settings": {"fixture-good": {"count": 0}}},
                                 "sandboxes": {}})
        r = self.run_agentd("config", "check", cfg)
        self.assertEqual(r.returncode, 1)
        self.assertIn("plugins.settings.fixture-good.count", r.stderr)
        self.assertNotIn("init failed", r.stderr, "config check must not initialise plugins")

    def test_env_substitution_and_unset_variable(self):
        cfg = self.write_config({"data_dir": "${AGENTD_TEST_DATA}", "sandboxes": {},
                                 "plugins": {"load": []}})
        r = self.run_agentd("config", "check", cfg, env={"AGENTD_TEST_DATA": self.tmp})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_agentd("config", "check", cfg)
        self.assertEqual(r.returncode, 1)
        self.assertIn("AGENTD_TEST_DATA", r.stderr)
        self.assertIn("data_dir", r.stderr)

    def test_example_config_is_valid(self):
        example = os.path.join(os.environ["AGENTD_SOURCE_DIR"], "etc", "agentd.json")
        r = self.run_agentd("config", "check", example)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
