#!/usr/bin/python3
"""sandbox-seccomp: no network but the egress proxy, and the proxy lets only
the allowlist and the model API through."""

import os
import socket
import sys
import threading

from sbx_harness import TESTS_DIR, SandboxTestCase, main

sys.path.insert(0, os.path.join(TESTS_DIR, "support"))
from scripted_model_api import ScriptedModelAPI, text  # noqa: E402


class CountingServer:
    """A loopback TCP server that counts connections (and answers HTTP)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            # Read the request first: closing with unread bytes would reset
            # the connection before the client reads the answer.
            c.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


class Network(SandboxTestCase):
    EGRESS = []

    def setUp(self):
        super().setUp()
        self.model = ScriptedModelAPI([[text("hi")]]).start()
        self.addCleanup(self.model.stop)
        self.other = CountingServer()
        self.addCleanup(self.other.close)
        self.env = {"ANTHROPIC_BASE_URL": self.model.url}

    def probe(self, *args):
        return self.probe_ok(*args, env=self.env)

    def test_direct_tcp_udp_and_dns_fail(self):
        # TEST-NET-1 addresses: no route exists inside, nothing leaves.
        self.assertEqual(self.probe("tcp", "192.0.2.1", 443),
                         {"ok": False, "error": "ENETUNREACH"})
        self.assertEqual(self.probe("udp", "192.0.2.1", 53),
                         {"ok": False, "error": "ENETUNREACH"})
        self.assertFalse(self.probe("dns", "example.com")["ok"])
        # The host's loopback is not the sandbox's.
        self.assertEqual(self.probe("tcp", "127.0.0.1", self.other.port),
                         {"ok": False, "error": "ECONNREFUSED"})
        self.assertEqual(self.other.connections, 0)

    def test_refused_through_the_proxy_and_logged(self):
        r = self.sb.probe("connect", "example.com:443", env=self.env)
        self.assertEqual(r.json()["status_line"], "HTTP/1.1 403 Forbidden")
        self.assertIn("network refused: example.com:443", r.stderr)
        r = self.sb.probe("connect", "127.0.0.1:%d" % self.other.port, env=self.env)
        self.assertEqual(r.json()["status_line"], "HTTP/1.1 403 Forbidden")
        self.assertIn("network refused: 127.0.0.1:%d" % self.other.port, r.stderr)
        res = self.probe("http", "http://127.0.0.1:%d/" % self.other.port)
        self.assertEqual(res["status"], 403)
        self.assertEqual(self.other.connections, 0)

    def test_model_api_on_loopback_is_reachable_through_the_proxy(self):
        res = self.probe("http", self.model.url + "/v1/models")
        self.assertEqual(res["status"], 200, res)
        self.assertIn("Scripted", res["body"])
        self.assertEqual(self.probe("connect", "127.0.0.1:%d" % self.model.port)["status_line"],
                         "HTTP/1.1 200 Connection established")
        # And at the same address inside, for clients that ignore HTTP_PROXY.
        res = self.probe("http", self.model.url + "/v1/models", "0")
        self.assertEqual(res["status"], 200, res)
        paths = [r["path"] for r in self.model.requests]
        self.assertEqual(paths.count("/v1/models"), 2, paths)


class Allowlist(SandboxTestCase):

    def setUp(self):
        self.other = CountingServer()
        self.addCleanup(self.other.close)
        self.EGRESS = ["localhost:%d" % self.other.port, "vm:%d" % self.other.port,
                       "*.example.com:443"]
        super().setUp()

    def test_listed_host_passes(self):
        r = self.sb.probe("http", "http://localhost:%d/" % self.other.port)
        self.assertEqual(r.json()["status"], 200, r.stderr)
        self.assertEqual(self.other.connections, 1)

    def test_a_name_resolving_to_loopback_is_refused(self):
        # "vm" is in /etc/hosts as 127.0.0.1: an allowed name must not lead
        # to the host's own services unless the entry says so.
        r = self.sb.probe("connect", "vm:%d" % self.other.port)
        self.assertEqual(r.json()["status_line"], "HTTP/1.1 403 Forbidden")
        self.assertIn("loopback", r.stderr)
        self.assertEqual(self.other.connections, 0)

    def test_wildcard_does_not_match_the_apex(self):
        r = self.sb.probe("connect", "example.com:443")
        self.assertEqual(r.json()["status_line"], "HTTP/1.1 403 Forbidden")
        r = self.sb.probe("connect", "localhost:%d" % (self.other.port + 1))
        self.assertEqual(r.json()["status_line"], "HTTP/1.1 403 Forbidden")


if __name__ == "__main__":
    main()
