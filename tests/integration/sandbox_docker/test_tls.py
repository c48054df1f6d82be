#!/usr/bin/python3
"""sandbox-docker against an engine reached over TCP with TLS client
certificates (here the private dockerd also listens on 127.0.0.1 with
--tlsverify): version negotiation, a command with stdin and output over the
TLS-hijacked connection, and refusals without the right certificates."""

from docker_harness import Config, Engine, EngineTestCase, main, require_machine


class Tls(EngineTestCase):
    @classmethod
    def setUpClass(cls):
        require_machine()
        if EngineTestCase.engine is None:
            EngineTestCase.engine = Engine(tls=True).start()
            EngineTestCase.engine.import_test_image()

    def tls_config(self, **over):
        e = self.engine
        settings = {"engine": e.tcp_endpoint, "tls_ca": e.tls["ca"],
                    "tls_cert": e.tls["client"], "tls_key": e.tls["client-key"]}
        settings.update(over)
        cfg = Config(e, settings=settings)
        self.addCleanup(cfg.cleanup)
        return cfg

    def test_a_command_over_tls(self):
        cfg = self.tls_config()
        r = cfg.run(["/bin/sh", "-c", "cat; echo over-tls; echo err >&2; exit 4"],
                    input=b"stdin through TLS\n")
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(r.stdout, "stdin through TLS\nover-tls\n")
        self.assertIn("err", r.stderr)
        self.assertEqual(self.engine.containers(), [])

    def test_without_a_client_certificate_the_engine_refuses(self):
        cfg = self.tls_config(tls_cert="", tls_key="")
        r = cfg.run(["/bin/true"])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn("engine " + self.engine.tcp_endpoint, r.stderr)

    def test_an_engine_certificate_from_another_ca_is_refused(self):
        cfg = self.tls_config(tls_ca=self.engine.tls["client"])  # not the CA
        r = cfg.run(["/bin/true"])
        self.assertEqual(r.returncode, 125, r.stderr)
        self.assertIn("engine " + self.engine.tcp_endpoint, r.stderr)


if __name__ == "__main__":
    main()
