#!/usr/bin/python3
"""sandbox-ssh through `agentd sandbox exec`, as an operator runs it, against
real sshd instances: a command's streams, exit status, working directory and
session directory; a large stream both ways; a stop that leaves no remote
process (also one that left the process group); host key checking (changed
key, unknown key, trust on first use); authentication failures and
unreachable hosts (retried with backoff, the others not); the key never in a
process's command line or in the log."""

import hashlib
import os
import signal
import time

from ssh_harness import (USER, FleetCase, keygen, main, pids_with_env, cmdlines,
                         wait_for)


def remote_procs(fleet):
    """Live processes started in a session directory of this fleet."""
    return [p for p in pids_with_env("AGENTD_SSH_SANDBOX=")
            if p in set(pids_with_env("HOME=" + fleet.tmp))]


class Exec(FleetCase):

    def test_streams_status_and_session_directory(self):
        f = self.fleet
        cfg = f.write_config(profile={"hosts": ["h1"], "env": ["GREETING=hello there"]})
        r = f.run(cfg, ["sh", "-c", "echo out; echo err >&2; pwd; id -un; "
                        "echo \"$HOME|$CLAUDE_CONFIG_DIR|$GREETING\"; "
                        "ls -ld \"$HOME\" \"$CLAUDE_CONFIG_DIR\" | cut -c1-10; exit 7"])
        self.assertEqual(r.returncode, 7, r)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "out", r)
        self.assertIn("err\n", r.stderr)
        self.assertNotIn("err", r.stdout)
        # Its own directory under the host's working root, as the remote user.
        root = f.hosts[0].root + "/"
        self.assertTrue(lines[1].startswith(root) and lines[1].endswith("/workspace"), r)
        session_dir = lines[1][:-len("/workspace")]
        self.assertEqual(lines[2], USER)
        self.assertEqual(lines[3], "%s/home|%s/claude|hello there" % (session_dir, session_dir))
        self.assertEqual(lines[4:6], ["drwx------", "drwx------"], r)
        # Deleted with the sandbox; nothing on the other host.
        self.assertFalse(os.path.exists(session_dir))
        self.assertEqual(f.session_dirs(f.hosts[0]), [])
        self.assertEqual(f.session_dirs(f.hosts[1]), [])

    def test_a_large_stream_both_ways(self):
        f = self.fleet
        cfg = f.write_config()
        data = os.urandom(1 << 20) * 24  # 24 MiB
        p = f.popen(cfg, ["sh", "-c", "cat; head -c 8000000 /dev/zero >&2"])
        out, err = p.communicate(data, timeout=120)
        self.assertEqual(p.returncode, 0, err[-2000:])
        self.assertEqual(hashlib.sha256(out).hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertEqual(err.count(b"\0"), 8000000)

    def test_a_reader_that_stops_stops_the_remote_writer(self):
        f = self.fleet
        cfg = f.write_config()
        size = 400 * 1024 * 1024
        p = f.popen(cfg, ["head", "-c", str(size), "/dev/zero"])
        writer = wait_for(lambda: remote_procs(f), 30, what="the remote writer")[0]

        def written():
            with open("/proc/%d/io" % writer) as io:
                return int(next(l for l in io if l.startswith("wchar:")).split()[1])
        # Nobody reads: the remote writer comes to a halt (its channel's
        # window is full) long before the end, and agentd holds little.
        last = [-1]

        def halted():
            now, before = written(), last[0]
            last[0] = now
            return now > 0 and now == before
        wait_for(halted, 30, interval=0.3, what="the remote writer to be held")
        self.assertLess(written(), size // 4)
        with open("/proc/%d/status" % p.pid) as st:
            rss_kib = int(next(l for l in st if l.startswith("VmRSS:")).split()[1])
        self.assertLess(rss_kib, 100 * 1024, "agentd holds %d KiB" % rss_kib)
        got = 0
        while True:
            chunk = p.stdout.read(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        p.wait(60)
        self.assertEqual(p.returncode, 0, p.stderr.read()[-2000:])
        self.assertEqual(got, size)

    def test_a_stop_leaves_no_remote_process(self):
        f = self.fleet
        cfg = f.write_config()
        # One child leaves the process group (setsid): the environment mark
        # still finds it.
        p = f.popen(cfg, ["sh", "-c", "setsid sleep 1001 & sleep 1002 & sleep 1003; wait"])
        wait_for(lambda: len(remote_procs(f)) >= 4, 30, what="the remote processes")
        leader = [d for h in f.hosts for d in f.session_dirs(h)]
        self.assertEqual(len(leader), 1)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM, err.decode()[-2000:])
        wait_for(lambda: remote_procs(f) == [], 10, what="every remote process to end")
        self.assertEqual([d for h in f.hosts for d in f.session_dirs(h)], [])

    def test_a_changed_host_key_is_refused(self):
        f = self.fleet
        other = keygen(os.path.join(f.tmp, "impostor"), "impostor")
        f.write_known_hosts([f.hosts[0].known_hosts_line(other), f.hosts[1].known_hosts_line()])
        cfg = f.write_config(profile={"hosts": ["h1"]})
        r = f.run(cfg, ["true"])
        self.assertEqual(r.returncode, 125, r)
        self.assertIn("host key has changed", r.stderr)
        self.assertIn("h1", r.stderr)
        self.assertNotIn("retry", r.stderr)  # never retried
        with open(f.hosts[0].log, errors="replace") as log:
            self.assertNotIn("Accepted publickey", log.read())
        # The other host, whose key matches, is used when the profile allows.
        cfg = f.write_config(name="both.json")
        r = f.run(cfg, ["sh", "-c", "pwd"])
        self.assertEqual(r.returncode, 0, r)
        self.assertTrue(r.stdout.startswith(f.hosts[1].root), r)

    def test_an_unknown_host_key_is_refused_unless_trusted_on_first_use(self):
        f = self.fleet
        f.write_known_hosts([])
        cfg = f.write_config(profile={"hosts": ["h1"]})
        r = f.run(cfg, ["true"])
        self.assertEqual(r.returncode, 125, r)
        self.assertIn("not in known_hosts", r.stderr)
        self.assertNotIn("retry", r.stderr)
        cfg = f.write_config(settings=f.plugin_settings(trust_on_first_use=True),
                             profile={"hosts": ["h1"]}, name="tofu.json")
        r = f.run(cfg, ["echo", "trusted"])
        self.assertEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, "trusted\n")
        with open(f.known_hosts) as kh:
            recorded = kh.read()
        self.assertIn(f.hosts[0].host_pub.split()[1], recorded)
        # Once recorded, a different key on that address is refused even
        # with trust on first use.
        f.hosts[0].stop()
        f.hosts[0].host_pub = keygen(f.hosts[0].host_key + ".new", "new")
        os.replace(f.hosts[0].host_key + ".new", f.hosts[0].host_key)
        f.hosts[0].start()
        r = f.run(cfg, ["true"])
        self.assertEqual(r.returncode, 125, r)
        self.assertIn("host key has changed", r.stderr)

    def test_authentication_failure_is_not_retried(self):
        f = self.fleet
        stranger = os.path.join(f.tmp, "stranger")
        keygen(stranger, "stranger")
        cfg = f.write_config(settings=f.plugin_settings(key_file=stranger),
                             profile={"hosts": ["h1"]})
        r = f.run(cfg, ["true"])
        self.assertEqual(r.returncode, 125, r)
        self.assertIn("authentication was refused", r.stderr)
        self.assertNotIn("retry", r.stderr)

    def test_an_unreachable_host_is_retried_with_backoff(self):
        f = self.fleet
        f.hosts[0].stop()
        cfg = f.write_config(settings=f.plugin_settings(retry_max=3, retry_backoff_ms=100),
                             profile={"hosts": ["h1"]})
        t0 = time.monotonic()
        r = f.run(cfg, ["true"])
        elapsed = time.monotonic() - t0
        self.assertEqual(r.returncode, 125, r)
        for i in (1, 2, 3):
            self.assertIn("retry %d of 3" % i, r.stderr)
        self.assertIn("in 100 ms", r.stderr)
        self.assertIn("in 200 ms", r.stderr)
        self.assertIn("in 400 ms", r.stderr)
        self.assertIn("unreachable", r.stderr)
        self.assertGreaterEqual(elapsed, 0.7)  # 100 + 200 + 400 ms of backoff

    def test_a_key_file_others_can_read_is_refused(self):
        f = self.fleet
        os.chmod(f.key, 0o644)
        cfg = f.write_config()
        r = f.run(cfg, ["true"])
        self.assertEqual(r.returncode, 125, r)
        self.assertIn("chmod 600", r.stderr)

    def test_the_key_is_never_in_a_command_line_or_the_log(self):
        f = self.fleet
        cfg = f.write_config()
        # The first line is the same in every OpenSSH key: the rest is this key.
        body = [line for line in f.key_text.splitlines() if not line.startswith("-----")][1:]
        self.assertTrue(body)
        p = f.popen(cfg, ["sleep", "30"])
        wait_for(lambda: remote_procs(f), 30, what="the remote command")
        for pid, cmd in cmdlines().items():
            for line in body:
                self.assertNotIn(line.encode(), cmd, "pid %d has the key in argv" % pid)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        for line in body:
            self.assertNotIn(line, err.decode())
            self.assertNotIn(line, out.decode())


if __name__ == "__main__":
    main()
