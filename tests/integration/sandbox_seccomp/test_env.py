#!/usr/bin/python3
"""sandbox-seccomp: the environment holds only what the profile passes."""

from sbx_harness import SandboxTestCase, main

FIXED = {"PATH", "HOME", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
         "ANTHROPIC_BASE_URL"}


class Environment(SandboxTestCase):
    PROFILE = {"env_passthrough": ["LANG", "TERM", "PASSED_TOKEN"], "env": {"FOO": "bar"}}

    def test_env_shows_only_the_profile_variables(self):
        r = self.sb.probe("env", env={"SECRET_TOKEN": "do-not-pass", "PASSED_TOKEN": "yes",
                                      "LANG": "C.UTF-8", "ANTHROPIC_BASE_URL":
                                      "http://127.0.0.1:9"})
        env = r.json()["env"]
        self.assertEqual(set(env), FIXED | {"LANG", "PASSED_TOKEN", "FOO"})
        self.assertEqual(env["FOO"], "bar")
        self.assertEqual(env["PASSED_TOKEN"], "yes")
        self.assertEqual(env["HOME"], "/home/agent")
        self.assertEqual(env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9")
        self.assertEqual(env["HTTPS_PROXY"], "http://127.0.0.1:3128")
        self.assertNotIn("do-not-pass", r.stdout)

    def test_no_secret_in_the_helper_command_line(self):
        # The launch description (with the environment) travels on stdin.
        r = self.sb.run(["/bin/sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"],
                        env={"PASSED_TOKEN": "s3cr3t-value"})
        self.assertNotIn("s3cr3t-value", r.stdout)
        self.assertIn("agentd-sandbox-helper", r.stdout)


if __name__ == "__main__":
    main()
