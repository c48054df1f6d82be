#!/usr/bin/python3
"""sandbox-docker templates: a Dockerfile built by the engine once, cached by
content hash and reused; a change makes a new image; a template the engine
cannot build is a clear error naming the profile and field."""

import os

from docker_harness import EngineTestCase, main


class Template(EngineTestCase):
    def setUp(self):
        super().setUp()
        self.tdir = os.path.join(self.cfg.tmp, "template")
        os.mkdir(self.tdir)
        self.dockerfile = os.path.join(self.tdir, "Dockerfile")
        self.write("Dockerfile", "FROM agentd-test:latest\nCOPY greeting.txt /etc/greeting.txt\n")
        self.write("greeting.txt", "hello from the template\n")
        del self.cfg.profile["image"]
        self.cfg.profile["template"] = self.dockerfile
        self.cfg.write()

    def write(self, name, text):
        with open(os.path.join(self.tdir, name), "w") as f:
            f.write(text)

    def templates(self):
        return [t for i in self.engine.images("agentd-template") for t in i["RepoTags"]]

    def test_built_once_then_reused_and_rebuilt_on_change(self):
        before = set(self.templates())
        r = self.cfg.run(["/bin/cat", "/etc/greeting.txt"], timeout=120)
        self.assertEqual((r.returncode, r.stdout), (0, "hello from the template\n"), r.stderr)
        self.assertIn("built", r.stderr)
        made = set(self.templates()) - before
        self.assertEqual(len(made), 1)
        r = self.cfg.run(["/bin/cat", "/etc/greeting.txt"], timeout=120)
        self.assertEqual((r.returncode, r.stdout), (0, "hello from the template\n"), r.stderr)
        self.assertIn("reused (cached)", r.stderr)
        self.assertEqual(set(self.templates()) - before, made)
        self.write("greeting.txt", "changed\n")
        r = self.cfg.run(["/bin/cat", "/etc/greeting.txt"], timeout=120)
        self.assertEqual((r.returncode, r.stdout), (0, "changed\n"), r.stderr)
        self.assertIn("built", r.stderr)
        self.assertEqual(len(set(self.templates()) - before), 2)

    def test_a_template_the_engine_cannot_build(self):
        self.write("Dockerfile", "FROM agentd-no-such-base:1\n")
        r = self.cfg.run(["/bin/true"], timeout=120)
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn('profile "test": template', r.stderr)
        self.assertIn("could not build", r.stderr)

    def test_a_missing_dockerfile(self):
        os.unlink(self.dockerfile)
        r = self.cfg.run(["/bin/true"])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn('profile "test": template', r.stderr)
        self.assertIn("not a readable Dockerfile", r.stderr)


if __name__ == "__main__":
    main()
