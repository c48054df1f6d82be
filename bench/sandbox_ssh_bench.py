#!/usr/bin/python3
"""Runs bench/sandbox_ssh_bench.c against a real sshd on loopback.

It starts one sshd (generated host and client keys, the remote user
agentd-ssh; tests/integration/sandbox_ssh/ssh_harness.py does the setup),
makes a repository of 1,000 commits whose history is much larger than its
tree, as in real projects (each commit rewrites four files with
BENCH_BLOB_KIB KiB of random bytes each, default 16: 64 MiB of history, a
256 KiB checkout; the ratio cached/full grows with the history's size, and
the figures printed say what was measured), writes two agentd configs
(repository cache on and off) and runs the C program, which prints the
figures.

    python3 bench/sandbox_ssh_bench.py BUILD/bin/sandbox_ssh_bench [RUNS]

As root. AGENTD_PLUGIN_DIR defaults to the plugin directory beside the
program (BUILD/lib/agentd/plugins).
"""
import os
import pwd
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration", "sandbox_ssh"))
import ssh_harness as H  # noqa: E402

COMMITS = 1000
BLOB = int(os.environ.get("BENCH_BLOB_KIB", "16")) * 1024


def make_repo(tmp):
    """A bare repository of COMMITS commits, built with git fast-import."""
    origin = os.path.join(tmp, "origin.git")
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", origin], check=True)
    stream = bytearray()
    for i in range(COMMITS):
        stream += b"commit refs/heads/main\n"
        stream += b"committer Bench <bench@example.com> %d +0000\n" % (1700000000 + i)
        msg = b"commit %d" % i
        stream += b"data %d\n%s\n" % (len(msg), msg)
        for f in range(4):
            blob = os.urandom(BLOB)
            stream += b"M 644 inline file%d.bin\ndata %d\n%s\n" % (f, len(blob), blob)
    subprocess.run(["git", "-C", origin, "fast-import", "--quiet"], input=bytes(stream),
                   check=True)
    subprocess.run(["git", "-C", origin, "gc", "--quiet"], check=True)
    pw = pwd.getpwnam(H.USER)
    for dirpath, dirs, files in os.walk(origin):
        for n in dirs + files + ["."]:
            os.chown(os.path.join(dirpath, n), pw.pw_uid, pw.pw_gid)
    return origin


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    prog = os.path.abspath(sys.argv[1])
    runs = sys.argv[2] if len(sys.argv) > 2 else "50"
    build = os.path.dirname(os.path.dirname(prog))
    H.PLUGIN_DIR = os.environ.get("AGENTD_PLUGIN_DIR",
                                  os.path.join(build, "lib", "agentd", "plugins"))
    H.AGENTD = os.path.join(build, "bin", "agentd")
    H.require_machine()
    fleet = H.Fleet(1)
    try:
        origin = make_repo(fleet.tmp)
        common = dict(settings=None, extra={"log": {"level": "warn", "format": "text"},
                                            "default_sandbox": "plain",
                                            "sandboxes": {
                                                "plain": {"plugin": "sandbox-ssh"},
                                                "repo": {"plugin": "sandbox-ssh",
                                                         "repository": "file://" + origin}}})
        with_cache = fleet.write_config(name="with.json", **common)
        common["settings"] = fleet.plugin_settings(repo_cache=False)
        without = fleet.write_config(name="without.json", **common)
        print("sshd on 127.0.0.1:%d; repository: %d commits, %.1f MiB packed"
              % (fleet.hosts[0].port, COMMITS,
                 sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in
                     os.walk(os.path.join(origin, "objects")) for f in fs) / 1048576.0))
        sys.stdout.flush()
        return subprocess.run([prog, runs, with_cache, without]).returncode
    finally:
        fleet.cleanup()


if __name__ == "__main__":
    sys.exit(main())
