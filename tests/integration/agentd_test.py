"""Shared helpers for the integration tests: run the real agentd binary with
a config written to a temporary directory, and read its JSON log lines."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

AGENTD = os.environ.get("AGENTD_BIN", "agentd")
FIXTURES = os.environ.get("AGENTD_FIXTURE_DIR", "")
PLUGINS = os.environ.get("AGENTD_PLUGIN_DIR", "")
SOURCE = os.environ.get("AGENTD_SOURCE_DIR", "")


class AgentdCase(unittest.TestCase):
    """A test with its own temporary directory, removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="agentd-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def plugin_dir(self, *fixtures):
        """A directory holding copies of the named fixture plugins."""
        d = tempfile.mkdtemp(dir=self.tmp, prefix="plugins-")
        for name in fixtures:
            shutil.copy(os.path.join(FIXTURES, name + ".so"), d)
        return d

    def write_config(self, cfg, name="agentd.json"):
        path = os.path.join(self.tmp, name)
        cfg = dict(cfg)
        cfg.setdefault("data_dir", os.path.join(self.tmp, "var"))
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        return path

    def run_agentd(self, *args, config=None, timeout=60, env=None, stdin=None):
        cmd = [AGENTD]
        if config is not None:
            cmd += ["--config", config]
        cmd += list(args)
        e = dict(os.environ)
        e.pop("AGENTD_CONFIG", None)
        if env:
            e.update(env)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=e, stdin=stdin if stdin is not None else subprocess.DEVNULL)

    def plugins_json(self, config, *extra):
        r = self.run_agentd("plugins", "--json", *extra, config=config)
        try:
            listed = json.loads(r.stdout)
        except ValueError:
            self.fail("agentd plugins --json printed no JSON:\n%s\n%s" % (r.stdout, r.stderr))
        return r, {os.path.basename(p["file"]): p for p in listed}


def log_lines(text):
    """The JSON log lines in a captured stderr (agentd logs JSON off a tty)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class Daemon:
    """`agentd serve` in the background, with its stderr read line by line."""

    def __init__(self, config, env=None):
        e = dict(os.environ)
        e.pop("AGENTD_CONFIG", None)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([AGENTD, "--config", config, "serve"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=e)
        self.lines = []

    def wait_for(self, predicate, timeout=30):
        """Reads log lines until predicate(line_dict) holds; returns that line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self.proc.stderr.readline()
            if raw == "":
                raise AssertionError("agentd exited (%s) before the expected log line; saw:\n%s"
                                     % (self.proc.poll(), "\n".join(map(str, self.lines))))
            self.lines.append(raw.rstrip("\n"))
            for entry in log_lines(raw):
                if predicate(entry):
                    return entry
        raise AssertionError("timed out waiting for a log line; saw:\n" + "\n".join(self.lines))

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def finish(self, timeout=30):
        """Waits for exit; returns the exit status. The rest of stderr is read
        through the same buffered reader as wait_for's lines, so none is lost."""
        self.proc.wait(timeout=timeout)
        self.lines += self.proc.stderr.read().splitlines()
        self.proc.stderr.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.proc.stderr.closed:
            self.proc.stderr.close()
