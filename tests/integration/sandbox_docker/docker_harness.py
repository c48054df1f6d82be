"""A private Docker engine for the sandbox-docker tests, and `agentd sandbox
exec` driven as an operator would.

Each test module starts its own dockerd (its own socket, data and exec
directories under /tmp), waits for it by polling GET /_ping, imports a small
test image made from this machine's own binaries (no registry is reachable:
the rootfs is built here and imported through the engine's API, as
`docker import` does), and stops the engine at the end.

Environment (set by CTest, see CMakeLists.txt):
  AGENTD_BIN          the daemon
  AGENTD_PLUGIN_DIR   the build tree's plugin directory
  AGENTD_TESTS_DIR    tests/ of the source tree (node_modules, support/)
  DK_VT               the vtable driver (test_vtable.c)

A test that needs something this machine lacks exits with status 77 (CTest:
"Skipped", reason printed): never a silent pass.
"""

import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "support"))
from polling import wait_for  # noqa: E402,F401  (tests/support/polling.py)

HERE = os.path.dirname(os.path.abspath(__file__))
AGENTD = os.environ.get("AGENTD_BIN", "")
PLUGIN_DIR = os.environ.get("AGENTD_PLUGIN_DIR", "")
TESTS_DIR = os.environ.get("AGENTD_TESTS_DIR", os.path.dirname(os.path.dirname(HERE)))
DK_VT = os.environ.get("DK_VT", "")
SKIP = 77
IMAGE = "agentd-test:latest"
NODE_MODULES = os.path.realpath(os.path.join(TESTS_DIR, "node_modules"))
CLAUDE_DIR = os.path.join(NODE_MODULES, "@anthropic-ai", "claude-code-linux-x64")
CLAUDE = os.path.join(CLAUDE_DIR, "claude")
CLAUDE_IN = "/opt/claude/claude"  # where the test profile mounts it

# What the test image holds: a shell and the tools the plugin's in-container
# signalling and the tests use, with the shared libraries they need.
TOOLS = ["sh", "dash", "bash", "sleep", "cat", "tr", "grep", "id", "ls", "mkdir", "touch", "rm",
         "env", "head", "wc", "stat", "sed"]


def missing(reason):
    sys.stderr.write("SKIPPED: sandbox-docker test needs %s\n" % reason)
    sys.exit(SKIP)




def ensure_dockerd():
    """dockerd from the docker.io package, installed when absent."""
    if shutil.which("dockerd") is None and shutil.which("apt-get") is not None:
        subprocess.run(["apt-get", "install", "-y", "-q", "docker.io"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if shutil.which("dockerd") is None:
        missing("dockerd (apt-get install docker.io)")


def require_machine():
    if not (AGENTD and os.access(AGENTD, os.X_OK)):
        missing("AGENTD_BIN pointing at the agentd binary (got %r)" % AGENTD)
    if os.geteuid() != 0:
        missing("to run as root (it starts its own dockerd)")
    ensure_dockerd()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("docker", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _rootfs_tar():
    """A rootfs: TOOLS from this machine, their libraries, a passwd with a
    non-root user, /tmp 1777, empty mount points."""
    files = {}
    for name in TOOLS:
        path = shutil.which(name)
        if path:
            files["/bin/" + name] = os.path.realpath(path)
    libs = set()
    binaries = set(files.values())
    if os.path.exists(CLAUDE):
        binaries.add(os.path.realpath(CLAUDE))  # its libraries; it is mounted, not copied
    for real in binaries:
        out = subprocess.run(["ldd", real], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            for p in parts:
                if p.startswith("/"):
                    libs.add(p)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name, mode=0o755):
            info = tarfile.TarInfo(name.lstrip("/"))
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)

        def add_bytes(name, data, mode=0o644):
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))

        dirs = set()
        for d in ["/bin", "/etc", "/tmp", "/proc", "/sys", "/dev", "/home/agent", "/opt/claude",
                  "/var/run", "/usr/bin"]:
            dirs.add(d)
        for lib in libs:
            d = os.path.dirname(lib)
            while d not in ("/", ""):
                dirs.add(d)
                d = os.path.dirname(d)
        for d in sorted(dirs):
            add_dir(d, 0o1777 if d == "/tmp" else 0o755)
        for name, real in sorted(files.items()):
            with open(real, "rb") as f:
                add_bytes(name, f.read(), 0o755)
        for lib in sorted(libs):
            with open(os.path.realpath(lib), "rb") as f:
                add_bytes(lib, f.read(), 0o755)
        add_bytes("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                                 b"agent:x:1000:1000:agent:/home/agent:/bin/sh\n")
        add_bytes("/etc/group", b"root:x:0:\nagent:x:1000:\n")
    return buf.getvalue()


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_tls(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate,
    made with the openssl CLI."""
    os.makedirs(d, exist_ok=True)

    def ssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca-key.pem", "-out", "ca.pem")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext.replace("\\n", "\n") + "\n")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
            "-keyout", name + "-key.pem", "-out", name + ".csr")
        ssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem")
    return {n: os.path.join(d, n + ".pem") for n in ("ca", "server", "server-key", "client",
                                                     "client-key")}


class Engine:
    """A private dockerd; with tls=True it also listens on 127.0.0.1 with
    TLS client certificates required (self.tcp_endpoint, self.tls)."""

    def __init__(self, tls=False):
        self.dir = tempfile.mkdtemp(prefix="dk-engine-")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.proc = None
        self.log_path = os.path.join(self.dir, "dockerd.log")
        self.driver = None
        self.tls = make_tls(os.path.join(self.dir, "tls")) if tls else None
        self.tcp_endpoint = "tcp://127.0.0.1:%d" % _free_port() if tls else None

    @property
    def endpoint(self):
        return "unix://" + self.sock

    def _argv(self, driver):
        return ["dockerd", "--host", self.endpoint, "--data-root", os.path.join(self.dir, "data"),
                "--exec-root", os.path.join(self.dir, "exec"),
                "--pidfile", os.path.join(self.dir, "dockerd.pid"),
                "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--storage-driver=" + driver] + (
                    ["--host", self.tcp_endpoint, "--tlsverify", "--tlscacert", self.tls["ca"],
                     "--tlscert", self.tls["server"], "--tlskey", self.tls["server-key"]]
                    if self.tls else [])

    def start(self, timeout=60):
        # overlay2 is much faster; vfs works everywhere.
        for driver in ([self.driver] if self.driver else ["overlay2", "vfs"]):
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self._argv(driver), stdout=log, stderr=log,
                                         start_new_session=True)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.ping():
                    self.driver = driver
                    return self
                time.sleep(0.05)
            self.stop()
        with open(self.log_path, errors="replace") as f:
            missing("a dockerd that starts here; its log:\n" + f.read()[-3000:])

    def ping(self):
        try:
            return self.request("GET", "/_ping", timeout=2)[0] == 200
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        data = os.path.join(self.dir, "data")
        # whatever the engine left mounted (it unmounts on a clean stop)
        with open("/proc/mounts") as f:
            mounts = [l.split()[1] for l in f if self.dir in l]
        for m in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, headers=None, timeout=120):
        conn = _UnixConnection(self.sock, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return r.status, data
        finally:
            conn.close()

    def json(self, method, path, body=None):
        status, data = self.request(method, path, body)
        if status >= 400:
            raise AssertionError("%s %s: HTTP %d %s" % (method, path, status, data[:500]))
        return json.loads(data) if data else None

    def import_test_image(self):
        status, data = self.request(
            "POST", "/images/create?fromSrc=-&repo=agentd-test&tag=latest",
            body=_rootfs_tar(), headers={"Content-Type": "application/x-tar"})
        if status != 200:
            raise AssertionError("image import failed: %d %s" % (status, data[:500]))

    def containers(self, label="io.agentd.sandbox"):
        q = json.dumps({"label": [label]})
        from urllib.parse import quote
        return self.json("GET", "/containers/json?all=1&filters=" + quote(q))

    def container(self, sandbox_id):
        status, data = self.request("GET", "/containers/agentd-%s/json" % sandbox_id)
        return json.loads(data) if status == 200 else None

    def images(self, reference):
        from urllib.parse import quote
        q = json.dumps({"reference": [reference]})
        return self.json("GET", "/images/json?filters=" + quote(q))


SANITIZER_WORDS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Result:
    def __init__(self, proc, stdout, stderr):
        self.returncode = proc.returncode
        self.stdout = stdout.decode(errors="replace")
        self.stderr = stderr.decode(errors="replace")
        # a sanitized build's report fails the test, whatever it checks
        for w in SANITIZER_WORDS:
            if w in self.stderr:
                raise AssertionError("sanitizer report:\n" + self.stderr[-6000:])


class Config:
    """A config with one profile ("test") for the engine, and a workspace."""

    def __init__(self, engine, profile=None, settings=None):
        self.engine = engine
        self.tmp = tempfile.mkdtemp(prefix="dk-test-")
        self.workspace = os.path.join(self.tmp, "ws")
        os.mkdir(self.workspace)
        self.data_dir = os.path.join(self.tmp, "var")
        prof = {"plugin": "sandbox-docker", "image": IMAGE, "network_mode": "host",
                "memory_mb": 512, "cpus": 1, "pids_max": 256}
        prof.update(profile or {})
        plugin_settings = {"engine": engine.endpoint, "retry_max": 2, "retry_base_ms": 50,
                           "request_timeout_s": 20}
        plugin_settings.update(settings or {})
        self.config = {
            "data_dir": self.data_dir,
            "log": {"level": "info", "format": "text"},
            "plugins": {"dirs": [PLUGIN_DIR] if PLUGIN_DIR else [],
                        "load": ["sandbox-docker"],
                        "settings": {"sandbox-docker": plugin_settings}},
            "sandboxes": {"test": prof},
            "default_sandbox": "test",
        }
        self.path = os.path.join(self.tmp, "agentd.json")
        self.write()

    def write(self):
        with open(self.path, "w") as f:
            json.dump(self.config, f, indent=2)

    @property
    def profile(self):
        return self.config["sandboxes"]["test"]

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def argv(self, cmd):
        return [AGENTD, "--config", self.path, "sandbox", "exec", "--workspace",
                self.workspace, "--"] + list(cmd)

    def popen(self, cmd, **kw):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        return subprocess.Popen(self.argv(cmd), env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kw)

    def run(self, cmd, input=b"", timeout=60):
        p = self.popen(cmd)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("agentd sandbox exec %r did not finish in %ss; stderr=%r"
                                 % (cmd, timeout, err))
        return Result(p, out, err)

    def vt(self, *args, timeout=120):
        """The vtable driver on this config: prints ok/FAIL lines."""
        p = subprocess.run([DK_VT, self.path, self.workspace] + list(args),
                           capture_output=True, timeout=timeout)
        return Result(p, p.stdout, p.stderr)


class EngineTestCase(unittest.TestCase):
    """One engine per module (started in setUpClass), a Config per test."""

    PROFILE = None
    SETTINGS = None
    engine = None

    @classmethod
    def setUpClass(cls):
        require_machine()
        if EngineTestCase.engine is None:
            EngineTestCase.engine = Engine().start()
            EngineTestCase.engine.import_test_image()

    def setUp(self):
        self.cfg = Config(self.engine, self.PROFILE, self.SETTINGS)
        self.addCleanup(self.cfg.cleanup)

    def assert_vt_ok(self, r):
        fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
        self.assertTrue(r.returncode == 0 and not fails and "ok" in r.stdout,
                        "driver rc=%d\nstdout:\n%s\nstderr:\n%s"
                        % (r.returncode, r.stdout, r.stderr[-3000:]))


def main():
    require_machine()
    prog = None
    try:
        prog = unittest.main(verbosity=2, exit=False)
    finally:
        if EngineTestCase.engine is not None:
            EngineTestCase.engine.cleanup()
    sys.exit(0 if prog is not None and prog.result.wasSuccessful() else 1)
