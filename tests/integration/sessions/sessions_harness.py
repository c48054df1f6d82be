"""Driving the host's session runtime for the session tests.

session_driver (tests/support/session_driver.c) is the real runtime (config,
plugins, database, event log, sessions) as a long-running process: JSON
commands on stdin, replies and every committed event on stdout. Driver
below runs it and reads its stdout on a thread.

Environment (set by CTest, see CMakeLists.txt):
  SESSION_DRIVER      the driver program
  AGENTD_BIN          agentd (for the `agentd run` tests)
  AGENTD_PLUGIN_DIR   the build tree's plugin directory
  AGENTD_TESTS_DIR    tests/ of the source tree (node_modules, support/)

Exit status 77 means skipped (CTest shows the reason): a script whose tests
were all skipped exits with it.
"""

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "support"))
from polling import wait_for  # noqa: E402,F401  (tests/support/polling.py)

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS_DIR = os.environ.get("AGENTD_TESTS_DIR", os.path.dirname(os.path.dirname(HERE)))
SUPPORT = os.path.join(TESTS_DIR, "support")
NODE_MODULES = os.path.join(TESTS_DIR, "node_modules")
CLAUDE_LINK = os.path.join(NODE_MODULES, ".bin", "claude")
FAKE_AGENT = os.path.join(SUPPORT, "fake_agent.py")
DRIVER = os.environ.get("SESSION_DRIVER", "")
AGENTD = os.environ.get("AGENTD_BIN", "")
PLUGIN_DIR = os.environ.get("AGENTD_PLUGIN_DIR", "")
SKIP = 77
API_KEY = "sk-ant-test-0123456789abcdef"

sys.path.insert(0, SUPPORT)
import scripted_model_api  # noqa: E402,F401  (re-exported for the tests)


def claude_path():
    """The real CLI binary (the sandbox needs the realpath, not the npm
    link), or None when tests/node_modules is not installed (then the tests
    that need it are skipped; a broken install makes them fail)."""
    if not os.path.isdir(NODE_MODULES):
        return None
    return os.path.realpath(CLAUDE_LINK)


NEEDS_CLAUDE = ("the Claude Code CLI is not installed: %s is missing "
                "(run `npm ci --prefix %s`)" % (NODE_MODULES, TESTS_DIR))




def process_running(marker):
    """Is a process whose command line contains `marker` running (in any
    namespace: the sandboxes' processes too)?"""
    want = marker.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if want in f.read():
                    return True
        except OSError:
            pass
    return False


def holds_for(predicate, seconds, interval=0.05):
    """True if predicate() stays false for `seconds` (a condition waited on:
    returns early, False, as soon as it becomes true)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return False
        time.sleep(interval)
    return not predicate()


class Driver:
    """One session_driver process. Events and replies are collected by a
    reader thread; `request` sends a command and waits for its reply."""

    def __init__(self, config, stderr_path, env=None):
        e = dict(os.environ)
        e.pop("AGENTD_CONFIG", None)
        e.update(env or {})
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "ab")
        self.proc = subprocess.Popen([DRIVER, "--config", config], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr, env=e)
        self.events = []        # every {"event": ...} printed, in order
        self.replies = {}       # tag -> reply
        self.bad_lines = []     # lines that were not JSON (a line cut by SIGKILL)
        self.ready = False
        self.bye = False
        self._cond = threading.Condition()
        self._tags = itertools.count(1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait(lambda: self.ready, 30, "the driver to start")

    def _read(self):
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                with self._cond:
                    self.bad_lines.append(raw)
                continue
            with self._cond:
                if "event" in msg:
                    self.events.append(msg["event"])
                elif "reply" in msg:
                    self.replies[msg.get("tag")] = msg
                elif msg.get("ready"):
                    self.ready = True
                elif msg.get("bye"):
                    self.bye = True
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait(self, predicate, timeout, what):
        """Waits (on the reader's condition) until predicate() holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out after %.0fs waiting for %s\n%s"
                                         % (timeout, what, self.diagnostics()))
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError("the driver exited (%s) while waiting for %s\n%s"
                                         % (self.proc.returncode, what, self.diagnostics()))
                self._cond.wait(min(left, 0.5))

    def diagnostics(self):
        types = ["%s:%s" % (e["seq"], e["type"]) for e in self.events[-40:]]
        types += ["\n  %s %s: %s" % (e["session"], e["type"], json.dumps(e["data"])[:500])
                  for e in self.events
                  if e["type"] in ("error", "session.state", "agent.stderr")][-8:]
        try:
            with open(self.stderr_path, "rb") as f:
                err = f.read()[-4000:].decode(errors="replace")
        except OSError:
            err = ""
        return "last events: %s\ndriver stderr (tail):\n%s" % (" ".join(types), err)

    def send_line(self, obj):
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, op, timeout=30, **fields):
        """Sends a command; returns its reply (ok or not)."""
        tag = next(self._tags)
        self.send_line(dict(fields, op=op, tag=tag))
        return self.wait(lambda: self.replies.pop(tag, None), timeout, "the reply to " + op)

    def ok(self, op, timeout=30, **fields):
        """A command that must succeed."""
        r = self.request(op, timeout, **fields)
        if not r.get("ok"):
            raise AssertionError("%s %r failed: %s" % (op, fields, r))
        return r

    def create(self, **settings):
        return self.ok("create", settings=settings)["id"]

    def get(self, sid):
        return self.ok("get", id=sid)["session"]

    def log(self, sid, since=0):
        """The session's events as the log has them (flushed first)."""
        self.ok("flush")
        return self.ok("events", id=sid, since=since)["events"]

    def session_events(self, sid, type_=None):
        with self._cond:
            return [e for e in self.events
                    if e["session"] == sid and (type_ is None or e["type"] == type_)]

    def wait_event(self, sid, type_, pred=None, timeout=60, count=1, fatal=("failed",)):
        """Waits until `count` events of the type (matching pred(data)) were
        printed for the session; returns the last of them. Fails at once if
        the session enters one of the `fatal` states first."""
        what = "%d %s event(s) of %s" % (count, type_, sid)

        def found():
            hits = [e for e in self.events if e["session"] == sid and e["type"] == type_
                    and (pred is None or pred(e["data"]))]
            if len(hits) >= count:
                return hits[count - 1]
            for e in self.events:
                if (e["session"] == sid and e["type"] == "session.state"
                        and e["data"].get("state") in fatal):
                    raise AssertionError("session %s became %s while waiting for %s\n%s"
                                         % (sid, e["data"]["state"], what,
                                            self.diagnostics()))
            return None
        return self.wait(found, timeout, what)

    def wait_state(self, sid, state, timeout=60, count=1):
        return self.wait_event(sid, "session.state", lambda d: d.get("state") == state,
                               timeout, count, fatal=())

    def kill(self):
        """SIGKILL, as a crash."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(30)
        self._close()

    def terminate(self, timeout=60):
        """SIGTERM: shuts down cleanly; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the driver did not exit within %ss of SIGTERM\n%s"
                                 % (timeout, self.diagnostics()))
        self._reader.join(30)
        self._close()
        return self.proc.returncode

    def _close(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        self._stderr.close()


class SessionCase(unittest.TestCase):
    """A temporary directory with a workspace, a config whose sandbox is the
    real seccomp sandbox, and drivers that are ended after the test."""

    AGENT = {}

    @classmethod
    def setUpClass(cls):
        if not (DRIVER and os.access(DRIVER, os.X_OK)):
            raise AssertionError("SESSION_DRIVER must name the session_driver program "
                                 "(got %r)" % DRIVER)

    def setUp(self):
        # Short: the sandbox's socket paths live under the data dir, and a
        # unix socket path has at most 107 bytes.
        self.tmp = tempfile.mkdtemp(prefix="as-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.workspace = os.path.join(self.tmp, "ws")
        os.mkdir(self.workspace)
        self.data_dir = os.path.join(self.tmp, "var")
        self.drivers = []
        self.addCleanup(self._end_drivers)

    def _end_drivers(self):
        for d in self.drivers:
            if d.proc.poll() is None:
                try:
                    d.terminate(60)
                except AssertionError:
                    pass

    def write_config(self, agent, api_url=None, extra=None):
        agent = dict(agent)
        if api_url is not None:
            agent.setdefault("base_url", api_url)
            agent.setdefault("api_key", API_KEY)
        ro = [NODE_MODULES, SUPPORT] if os.path.isdir(NODE_MODULES) else [SUPPORT]
        cfg = {
            "data_dir": self.data_dir,
            "log": {"level": "info", "format": "json"},
            "plugins": {"dirs": [PLUGIN_DIR] if PLUGIN_DIR else [],
                        "load": ["sandbox-seccomp"]},
            "sandboxes": {"local": {"plugin": "sandbox-seccomp", "ro_paths": ro}},
            "default_sandbox": "local",
            "agent": agent,
        }
        cfg.update(extra or {})
        path = os.path.join(self.tmp, "agentd.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        self.config = path
        return path

    def start_driver(self, env=None):
        d = Driver(self.config, os.path.join(self.tmp, "driver.stderr"), env)
        self.drivers.append(d)
        return d


def main():
    """unittest.main, but a run whose tests were all skipped exits 77."""
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(SKIP)
    sys.exit(0)
