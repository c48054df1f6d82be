#!/usr/bin/python3
"""sandbox-ssh's repository cache, on a real sshd host: the first sandbox
for a repository fills a bare mirror on the host; the second fetches into it
(so it sees a commit pushed in between) and starts from it: its workspace
borrows the mirror's objects (git alternates) instead of copying the
history, and its `origin` is still the real URL."""

import os
import pwd
import subprocess

from ssh_harness import USER, FleetCase, main

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}


def git(*args, cwd=None):
    r = subprocess.run(["git"] + list(args), cwd=cwd, env=GIT_ENV, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise AssertionError("git %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


class RepoCache(FleetCase):

    def make_origin(self, commits):
        f = self.fleet
        work = os.path.join(f.tmp, "src")
        git("init", "-q", "-b", "main", work)
        for i in range(commits):
            with open(os.path.join(work, "file.txt"), "a") as fh:
                fh.write("line %d\n" % i)
            git("add", "file.txt", cwd=work)
            git("commit", "-q", "-m", "commit %d" % i, cwd=work)
        origin = os.path.join(f.tmp, "origin.git")
        git("clone", "-q", "--bare", work, origin)
        self.give(origin, USER)
        return work, origin

    @staticmethod
    def give(repo, user):
        """git refuses a repository another user owns: the remote user reads
        it, the test (root) pushes to it."""
        pw = pwd.getpwnam(user)
        for dirpath, dirs, files in os.walk(repo):
            for n in dirs + files + ["."]:
                os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)

    def test_the_second_session_starts_from_the_cache(self):
        f = self.fleet
        work, origin = self.make_origin(20)
        url = "file://" + origin
        cfg = f.write_config(profile={"hosts": ["h1"], "repository": url})
        show = ["sh", "-c", "git rev-list --count HEAD; cat .git/objects/info/alternates; "
                "git remote get-url origin; git status --porcelain | wc -l; "
                "git count-objects -v | sed -n 's/^in-pack: //p'"]
        first = f.run(cfg, show, timeout=90)
        self.assertEqual(first.returncode, 0, first)
        self.assertIn("repository cache miss", first.stderr)
        count, alternates, remote, dirty, own_objects = first.stdout.splitlines()
        self.assertEqual(count, "20")
        cache = os.path.join(f.hosts[0].root, ".agentd-cache")
        mirrors = [m for m in os.listdir(cache) if m.endswith(".git")]
        self.assertEqual(len(mirrors), 1, os.listdir(cache))
        mirror = os.path.join(cache, mirrors[0])
        self.assertEqual(alternates, os.path.join(mirror, "objects"))
        self.assertEqual(remote, url)
        self.assertEqual(dirty, "0")
        # The history is borrowed from the mirror, not copied.
        self.assertEqual(own_objects, "0")

        # A commit lands upstream; the next session fetches it into the
        # mirror and starts from there.
        with open(os.path.join(work, "file.txt"), "a") as fh:
            fh.write("one more\n")
        git("commit", "-q", "-am", "one more", cwd=work)
        self.give(origin, "root")
        git("push", "-q", origin, "main", cwd=work)
        self.give(origin, USER)
        second = f.run(cfg, show, timeout=90)
        self.assertEqual(second.returncode, 0, second)
        self.assertIn("repository cache hit", second.stderr)
        self.assertEqual(second.stdout.splitlines()[0], "21")
        self.assertEqual(second.stdout.splitlines()[1], os.path.join(mirror, "objects"))
        self.assertLessEqual(int(second.stdout.splitlines()[4]), 0)
        self.assertEqual(git("--git-dir", mirror, "rev-list", "--count", "main").strip(), "21")
        self.assertEqual(f.session_dirs(f.hosts[0]), [])

    def test_a_repository_that_cannot_be_fetched_fails_and_leaves_nothing(self):
        f = self.fleet
        cfg = f.write_config(profile={"hosts": ["h1"],
                                      "repository": "file://" + f.tmp + "/no-such.git"})
        r = f.run(cfg, ["true"])
        self.assertEqual(r.returncode, 125, r)
        self.assertIn("cannot prepare the session directory", r.stderr)
        self.assertIn("no-such.git", r.stderr)
        self.assertEqual(f.session_dirs(f.hosts[0]), [])

    def test_without_the_cache_every_session_clones(self):
        f = self.fleet
        _, origin = self.make_origin(3)
        cfg = f.write_config(settings=f.plugin_settings(repo_cache=False),
                             profile={"hosts": ["h1"], "repository": "file://" + origin})
        r = f.run(cfg, ["sh", "-c", "git rev-list --count HEAD; "
                        "test -e .git/objects/info/alternates && echo shared || echo own; "
                        "git count-objects -v | sed -n 's/^in-pack: //p'"])
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout.split(), ["3", "own", "9"])  # 3 commits, trees, blobs
        self.assertFalse(os.path.exists(os.path.join(f.hosts[0].root, ".agentd-cache")))


if __name__ == "__main__":
    main()
