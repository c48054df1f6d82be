"""`agentd secret` as an operator uses it: set from stdin or a no-echo prompt,
ls (text and --json) that never shows a value, rm, check, rotate-key, the
master key file's permissions, a key from the environment, usage errors.
Throughout: the value never appears in any process's argv, in agentd's
output or logs, or in the database files in plain text.

ClaudeCodeCanary is issue 4's canary: a real Claude Code session (scripted
model) whose API key is a secret prints it every way; it must appear in none
of the event log, the event stream, the host log or any process's argv. It
skips itself when the CLI is not installed or sessions do not resolve
${secret:NAME} yet."""
import base64
import json
import os
import pty
import re
import select
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

from agentd_test import AGENTD, PLUGINS, SOURCE, AgentdCase

VALUE = "canary-Zq7Xv2pL9sK4tR8wM3nB"
OTHER = "slack-xoxb-8c1d7e0f-OTHER"


class SecretCli(AgentdCase):
    def setUp(self):
        super().setUp()
        self.var = os.path.join(self.tmp, "var")
        self.config = self.write_config({})
        self.key = os.path.join(self.var, "master.key")

    def env(self, extra=None):
        e = dict(os.environ)
        e.pop("AGENTD_CONFIG", None)
        e.pop("AGENTD_MASTER_KEY", None)
        e.pop("AGENTD_NEW_MASTER_KEY", None)
        if extra:
            e.update(extra)
        return e

    def secret(self, *args, input=None, env=None, log_level=None):
        cmd = [AGENTD, "--config", self.config]
        if log_level:
            cmd += ["--log-level", log_level]
        cmd += ["secret"] + list(args)
        r = subprocess.run(cmd, input=input if input is not None else "", capture_output=True,
                           text=True, timeout=60, env=self.env(env))
        # Whatever happens, no value is ever printed.
        for v in (VALUE, OTHER):
            self.assertNotIn(v, r.stdout)
            self.assertNotIn(v, r.stderr)
        return r

    def ok(self, *args, **kw):
        r = self.secret(*args, **kw)
        self.assertEqual(r.returncode, 0, "agentd secret %s: %s%s" % (args, r.stdout, r.stderr))
        return r

    def data_files(self):
        return [os.path.join(self.var, f) for f in os.listdir(self.var)]

    def assert_not_stored_in_clear(self, *values):
        for path in self.data_files():
            with open(path, "rb") as f:
                data = f.read()
            for v in values:
                self.assertNotIn(v.encode(), data, "%s holds a secret in clear" % path)

    # ---- set, ls, check, rm -------------------------------------------------

    def test_set_ls_check_rm(self):
        r = self.ok("set", "GH_TOKEN", input=VALUE + "\n")
        self.assertEqual(r.stdout.strip(), "created secret GH_TOKEN")
        self.ok("set", "SLACK", input=OTHER)
        r = self.ok("set", "SLACK", input=OTHER + "-2\n")
        self.assertEqual(r.stdout.strip(), "replaced secret SLACK")

        r = self.ok("ls")
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].split() == ["NAME", "SCOPE", "CREATED", "UPDATED"], r.stdout)
        self.assertEqual([l.split()[0] for l in lines[1:]], ["GH_TOKEN", "SLACK"])
        self.assertEqual(lines[1].split()[1], "global")

        r = self.ok("ls", "--json")
        listed = json.loads(r.stdout)
        self.assertEqual([s["name"] for s in listed], ["GH_TOKEN", "SLACK"])
        for s in listed:
            self.assertEqual(sorted(s), ["created", "name", "scope", "updated"])
            self.assertEqual(s["scope"], "global")
            self.assertRegex(s["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        self.assertEqual(self.ok("check", "GH_TOKEN").stdout, "ok\n")
        self.ok("rm", "GH_TOKEN")
        r = self.secret("rm", "GH_TOKEN")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no secret GH_TOKEN", r.stderr)
        r = self.secret("check", "GH_TOKEN")
        self.assertEqual(r.returncode, 1)
        self.assertIn("GH_TOKEN does not exist", r.stderr)
        self.assertEqual([s["name"] for s in json.loads(self.ok("ls", "--json").stdout)],
                         ["SLACK"])
        self.assert_not_stored_in_clear(VALUE, OTHER)

    def test_empty_list(self):
        r = self.ok("ls")
        self.assertEqual(r.stdout, "")
        self.assertIn("no secrets", r.stderr)
        self.assertEqual(json.loads(self.ok("ls", "--json").stdout), [])

    def test_stdin_rules_and_limits(self):
        # All of stdin minus exactly one trailing newline: "abc\n" is 3 bytes
        # (refused), "abc\n\n" is 4 ("abc\n", accepted).
        r = self.secret("set", "SHORT", input="abc\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("at least 4 bytes", r.stderr)
        self.ok("set", "SHORT", input="abc\n\n")
        self.ok("set", "FOUR", input="abcd")
        self.assertEqual(self.secret("set", "EMPTY", input="").returncode, 1)
        self.ok("set", "BIG", input="x" * 65536 + "\n")
        r = self.secret("set", "BIGGER", input="x" * 65537)
        self.assertEqual(r.returncode, 1)
        self.assertIn("longer than 65536", r.stderr)
        r = self.secret("set", "NUL", input="abc\0def")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NUL", r.stderr)
        self.assertEqual([s["name"] for s in json.loads(self.ok("ls", "--json").stdout)],
                         ["BIG", "FOUR", "SHORT"])

    def test_usage(self):
        cases = [
            (["set", "GH_TOKEN", VALUE], "never from the command line"),
            (["set"], "needs a NAME"),
            (["set", "1BAD"], "invalid secret name"),
            (["set", "a-b"], "invalid secret name"),
            (["rm"], "needs a NAME"),
            (["rm", "A", "B"], "exactly one NAME"),
            (["check"], "needs a NAME"),
            (["ls", "--yaml"], "unexpected argument"),
            (["rotate-key", "now"], "no arguments"),
            (["bogus"], "unknown command"),
            ([], "usage:"),
        ]
        for args, says in cases:
            r = subprocess.run([AGENTD, "--config", self.config, "secret"] + args,
                               capture_output=True, text=True, timeout=60, env=self.env(),
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertIn(says, r.stderr, args)
            self.assertNotIn(VALUE, r.stderr)
        r = self.ok("--help")
        self.assertIn("rotate-key", r.stdout)
        # Nothing was stored by the refused `set NAME VALUE`.
        self.assertEqual(json.loads(self.ok("ls", "--json").stdout), [])

    # ---- the value never leaves ----------------------------------------------

    def test_value_not_in_any_argv_or_log(self):
        cmd = [AGENTD, "--config", self.config, "--log-level", "debug", "secret", "set",
               "GH_TOKEN"]
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env())
        try:
            # agentd has the value on its stdin and waits for the end of it.
            p.stdin.write(VALUE.encode())
            p.stdin.flush()
            time.sleep(0.3)
            self.assertIsNone(p.poll(), "agentd secret set did not wait for stdin")
            seen = 0
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        argv = f.read()
                except OSError:
                    continue
                seen += 1
                self.assertNotIn(VALUE.encode(), argv, "the value is in the argv of pid " + pid)
                if int(pid) == p.pid:
                    self.assertIn(b"secret\0set\0GH_TOKEN", argv)
            self.assertGreater(seen, 1)
            out, err = p.communicate(timeout=60)  # closes stdin: end of the value
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn(VALUE.encode(), out)
        self.assertNotIn(VALUE.encode(), err)
        self.assertIn(b"secret.create name=GH_TOKEN", err)
        r = self.ok("check", "GH_TOKEN", log_level="debug")
        self.assertIn("secret.read name=GH_TOKEN", r.stderr)
        self.assert_not_stored_in_clear(VALUE)
        mode = stat.S_IMODE(os.stat(os.path.join(self.var, "agentd.db")).st_mode)
        self.assertEqual(mode & 0o077, 0)

    def test_prompt_without_echo(self):
        def run(first, second):
            master, slave = pty.openpty()
            p = subprocess.Popen([AGENTD, "--config", self.config, "secret", "set", "TTY_TOKEN"],
                                 stdin=slave, stdout=subprocess.PIPE, stderr=slave,
                                 env=self.env(), close_fds=True)
            os.close(slave)
            seen = b""

            def read_until(marker, timeout=20):
                nonlocal seen
                deadline = time.monotonic() + timeout
                while marker not in seen and time.monotonic() < deadline:
                    ready, _, _ = select.select([master], [], [], 0.2)
                    if ready:
                        try:
                            chunk = os.read(master, 4096)
                        except OSError:
                            break
                        if not chunk:
                            break
                        seen += chunk
                self.assertIn(marker, seen)

            try:
                read_until(b"Value for TTY_TOKEN: ")
                os.write(master, first.encode() + b"\n")
                read_until(b"Again, to confirm: ")
                os.write(master, second.encode() + b"\n")
                out, _ = p.communicate(timeout=30)
                # Drain what is left on the terminal.
                while select.select([master], [], [], 0.2)[0]:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    seen += chunk
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                os.close(master)
            self.assertNotIn(first.encode(), seen, "the value was echoed")
            self.assertNotIn(second.encode(), seen, "the value was echoed")
            return p.returncode, out.decode(), seen.decode(errors="replace")

        rc, out, term = run(VALUE, VALUE + "-typo")
        self.assertEqual(rc, 1)
        self.assertIn("differ", term)
        rc, out, term = run(VALUE, VALUE)
        self.assertEqual(rc, 0, term)
        self.assertIn("created secret TTY_TOKEN", out)
        self.assertEqual(self.ok("check", "TTY_TOKEN").stdout, "ok\n")

    # ---- the master key -------------------------------------------------------

    def test_master_key_file_and_permissions(self):
        self.ok("set", "GH_TOKEN", input=VALUE)
        st = os.stat(self.key)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_size, 32)
        for mode in (0o644, 0o640, 0o604, 0o660):
            os.chmod(self.key, mode)
            r = self.secret("check", "GH_TOKEN")
            self.assertEqual(r.returncode, 1, oct(mode))
            self.assertIn("chmod 600 " + self.key, r.stderr)
            self.assertIn("refuses to start", r.stderr)
        os.chmod(self.key, 0o600)
        self.ok("check", "GH_TOKEN")
        os.chmod(self.key, 0o400)
        self.ok("check", "GH_TOKEN")
        os.chmod(self.key, 0o600)
        # Missing while secrets exist: refused, and no new key is made.
        os.rename(self.key, self.key + ".bak")
        r = self.secret("ls")
        self.assertEqual(r.returncode, 1)
        self.assertIn("already holds encrypted secrets", r.stderr)
        self.assertFalse(os.path.exists(self.key))
        os.rename(self.key + ".bak", self.key)
        self.ok("check", "GH_TOKEN")

    def test_rotate_key(self):
        self.ok("set", "GH_TOKEN", input=VALUE)
        self.ok("set", "SLACK", input=OTHER)
        with open(self.key, "rb") as f:
            old = f.read()
        r = self.ok("rotate-key")
        self.assertRegex(r.stdout, r"master key rotated: key id [0-9a-f]{16} -> [0-9a-f]{16}")
        with open(self.key, "rb") as f:
            new = f.read()
        self.assertNotEqual(old, new)
        self.assertEqual(stat.S_IMODE(os.stat(self.key).st_mode), 0o600)
        self.assertFalse(os.path.exists(self.key + ".new"))
        # Old records read back with the new key; new ones can be added.
        self.ok("check", "GH_TOKEN")
        self.ok("check", "SLACK")
        self.ok("set", "AFTER", input="after-rotation-value")
        # The old key no longer opens the store.
        shutil.copy(self.key, self.key + ".rotated")
        with open(self.key, "wb") as f:
            f.write(old)
        os.chmod(self.key, 0o600)
        r = self.secret("check", "GH_TOKEN")
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not open this store", r.stderr)
        os.replace(self.key + ".rotated", self.key)
        for name in ("GH_TOKEN", "SLACK", "AFTER"):
            self.ok("check", name)
        self.assert_not_stored_in_clear(VALUE, OTHER)

    def test_master_key_from_environment(self):
        k1 = os.urandom(32).hex()
        k2 = os.urandom(32).hex()
        env1 = {"AGENTD_MASTER_KEY": k1}
        self.ok("set", "GH_TOKEN", input=VALUE, env=env1)
        self.assertFalse(os.path.exists(self.key))
        self.ok("check", "GH_TOKEN", env=env1)
        r = self.secret("check", "GH_TOKEN", env={"AGENTD_MASTER_KEY": k2})
        self.assertEqual(r.returncode, 1)
        self.assertNotIn(k2, r.stderr)
        r = self.secret("check", "GH_TOKEN", env={"AGENTD_MASTER_KEY": "not-a-key"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("64 hex digits or base64", r.stderr)
        # Without a file, a missing key is refused rather than replaced.
        r = self.secret("check", "GH_TOKEN")
        self.assertEqual(r.returncode, 1)
        self.assertIn("already holds encrypted secrets", r.stderr)
        # Rotation needs the new key from the operator.
        r = self.secret("rotate-key", env=env1)
        self.assertEqual(r.returncode, 1)
        self.assertIn("AGENTD_NEW_MASTER_KEY", r.stderr)
        r = self.ok("rotate-key", env={"AGENTD_MASTER_KEY": k1, "AGENTD_NEW_MASTER_KEY": k2})
        self.assertIn("AGENTD_MASTER_KEY", r.stdout)
        self.ok("check", "GH_TOKEN", env={"AGENTD_MASTER_KEY": k2})
        self.assertEqual(self.secret("check", "GH_TOKEN", env=env1).returncode, 1)
        self.assertFalse(os.path.exists(self.key))


# ---- the canary ------------------------------------------------------------------

TESTS_DIR = os.path.join(SOURCE, "tests") if SOURCE else \
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_MODULES = os.path.join(TESTS_DIR, "node_modules")
CLAUDE_LINK = os.path.join(NODE_MODULES, ".bin", "claude")
SUPPORT = os.path.join(TESTS_DIR, "support")


def leaks(text, value):
    """Does text show value in a form agentd promises to mask? Decodes JSON
    strings (recursively), %XX, base64 runs at 4 alignments, and ignores line
    breaks. Independent of the redactor."""
    def scan(t, depth):
        if value in t or value in t.replace("\r", "").replace("\n", ""):
            return True
        if depth > 3:
            return False
        for candidate in (t, '"%s"' % t):
            try:
                j = json.loads(candidate)
            except ValueError:
                continue
            stack = [j]
            while stack:
                x = stack.pop()
                if isinstance(x, str) and x != t and scan(x, depth + 1):
                    return True
                if isinstance(x, dict):
                    stack += list(x.keys()) + list(x.values())
                elif isinstance(x, list):
                    stack += x
        if "%" in t:
            u = urllib.parse.unquote(t)
            if u != t and scan(u, depth + 1):
                return True
        for run in re.findall(r"[A-Za-z0-9+/_=\-\r\n]{8,}", t):
            run = re.sub(r"[^A-Za-z0-9+/_\-]", "", run).replace("-", "+").replace("_", "/")
            for off in range(4):
                chunk = run[off:]
                chunk = chunk[:len(chunk) - len(chunk) % 4]
                try:
                    if value.encode() in base64.b64decode(chunk):
                        return True
                except ValueError:
                    pass
        return False
    return scan(text, 0)


@unittest.skipUnless(os.path.exists(CLAUDE_LINK) and PLUGINS and
                     os.path.exists(os.path.join(PLUGINS, "sandbox-seccomp.so")),
                     "needs the Claude Code CLI (npm ci --prefix tests) and sandbox-seccomp")
class ClaudeCodeCanary(AgentdCase):
    """The agent's API key is ${secret:ANTHROPIC_KEY}; the scripted model has
    the agent print it through env, printenv, a 0600 file, base64 at two
    alignments, JSON (escaped and \\u-escaped), URL encoding, two lines and
    stderr."""

    COMMANDS = [
        "env | grep ANTHROPIC_API_KEY",
        "printenv ANTHROPIC_API_KEY",
        "printenv ANTHROPIC_API_KEY > key.txt && chmod 600 key.txt && cat key.txt",
        "printenv ANTHROPIC_API_KEY | base64",
        "printf 'xy%s' \"$ANTHROPIC_API_KEY\" | base64 -w0",
        "python3 -c 'import json,os; print(json.dumps({\"k\": os.environ[\"ANTHROPIC_API_KEY\"]"
        " + chr(34)}))'",
        "python3 -c 'import os; print(\"\".join(\"\\\\u%04x\" % ord(c) for c in "
        "os.environ[\"ANTHROPIC_API_KEY\"]))'",
        "k=$(printenv ANTHROPIC_API_KEY); echo ${k:0:12}; echo ${k:12}",
        "python3 -c 'import os,urllib.parse; print(urllib.parse.quote("
        "os.environ[\"ANTHROPIC_API_KEY\"], safe=\"\"))'",
        "printenv ANTHROPIC_API_KEY >&2",
    ]

    def test_canary_never_leaves(self):
        sys.path.insert(0, SUPPORT)
        from scripted_model_api import ScriptedModelAPI, text, tool_use
        canary = "sk-ant-CANARY-" + os.urandom(12).hex()
        steps = [[tool_use("Bash", {"command": c, "description": "step %d" % i})]
                 for i, c in enumerate(self.COMMANDS)] + [[text("done")]]
        api = ScriptedModelAPI(steps).start()
        self.addCleanup(api.stop)
        ws = os.path.join(self.tmp, "ws")
        os.mkdir(ws)
        config = self.write_config({
            "log": {"level": "debug", "format": "json"},
            "plugins": {"dirs": [PLUGINS], "load": ["sandbox-seccomp"]},
            "sandboxes": {"local": {"plugin": "sandbox-seccomp",
                                    "ro_paths": [NODE_MODULES, SUPPORT]}},
            "default_sandbox": "local",
            "agent": {"command": os.path.realpath(CLAUDE_LINK), "base_url": api.url,
                      "api_key": "${secret:ANTHROPIC_KEY}", "idle_timeout_s": 60},
        }, name="canary.json")
        env = dict(os.environ)
        env.pop("AGENTD_CONFIG", None)
        r = subprocess.run([AGENTD, "--config", config, "secret", "set", "ANTHROPIC_KEY"],
                           input=canary, capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

        in_argv, stop = [], threading.Event()

        def watch():
            while not stop.is_set():
                for pid in os.listdir("/proc"):
                    if pid.isdigit():
                        try:
                            with open("/proc/%s/cmdline" % pid, "rb") as f:
                                if canary.encode() in f.read():
                                    in_argv.append(pid)
                        except OSError:
                            pass
                time.sleep(0.05)
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            run = subprocess.run([AGENTD, "--config", config, "run", "--json", "--workspace", ws,
                                  "--allow", "Bash", "--timeout", "10", "Do the steps"],
                                 capture_output=True, text=True, env=env, timeout=900)
        finally:
            stop.set()
            watcher.join()
        keys = {rq.get("headers", {}).get("x-api-key") for rq in api.requests}
        if "${secret:ANTHROPIC_KEY}" in keys or canary not in keys:
            self.skipTest("sessions do not resolve ${secret:NAME} yet (the agent got %r)"
                          % sorted(k for k in keys if k))
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        # The agent really printed it: the model saw it in the tool results.
        self.assertTrue(leaks(json.dumps([rq.get("body") for rq in api.requests]), canary))
        db = sqlite3.connect(os.path.join(self.tmp, "var", "agentd.db"))
        rows = [tuple(x.decode() if isinstance(x, bytes) else x for x in row)
                for row in db.execute("SELECT type, data, raw FROM events")]
        db.close()
        results = [row for row in rows if row[0] == "agent.tool_result"]
        self.assertEqual(len(results), len(self.COMMANDS))
        for where, text_ in [("the event log", json.dumps(rows)),
                             ("the event stream (agentd run --json)", run.stdout),
                             ("the host log", run.stderr)]:
            self.assertFalse(leaks(text_, canary), "the canary is in " + where)
        for typ, data, raw in results:
            self.assertIn("***", data)
            self.assertFalse(leaks(data, canary) or leaks(raw or "", canary))
        self.assertEqual(in_argv, [], "the canary was in a process's argv")
        for name in os.listdir(os.path.join(self.tmp, "var")):
            path = os.path.join(self.tmp, "var", name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    self.assertNotIn(canary.encode(), f.read(), path)
        reads = [json.loads(row[1]) for row in rows if row[0] == "secret.read"]
        self.assertEqual([(r["name"], r["purpose"]) for r in reads], [("ANTHROPIC_KEY", "env")])


if __name__ == "__main__":
    unittest.main()
