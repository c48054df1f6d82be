#!/usr/bin/python3
"""sandbox-docker against an engine reached over TCP with TLS client
certificates (here the private dockerd also listens on 127.0.0.1 with
--tlsverify), as a remote engine: version negotiation, a command with stdin
and output over the TLS-hijacked connection, the workspace in a volume
(copied in through the archive endpoint, and back to the host when the
sandbox ends), and refusals without the right certificates."""

import os

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

    def test_the_workspace_travels_in_a_volume_and_back(self):
        cfg = self.tls_config()  # workspace_mode auto: volume for tcp://
        ws = cfg.workspace
        with open(os.path.join(ws, "in.txt"), "w") as f:
            f.write("from the host\n")
        with open(os.path.join(ws, "gone.txt"), "w") as f:
            f.write("deleted inside\n")
        r = cfg.run(["/bin/sh", "-c", "cat in.txt; echo made > out.txt; rm gone.txt; "
                     "mkdir -p sub/deeper; echo deep > sub/deeper/d.txt"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("from the host\n"), r.stdout)
        with open(os.path.join(ws, "out.txt")) as f:
            self.assertEqual(f.read(), "made\n")
        with open(os.path.join(ws, "sub", "deeper", "d.txt")) as f:
            self.assertEqual(f.read(), "deep\n")
        self.assertFalse(os.path.exists(os.path.join(ws, "gone.txt")))
        self.assertEqual(self.engine.containers(), [])
        vols = self.engine.json("GET", "/volumes")["Volumes"] or []
        self.assertEqual([v["Name"] for v in vols if v["Name"].startswith("agentd-")], [])

    def test_copy_in_and_out_through_the_archive_endpoints(self):
        cfg = self.tls_config()
        src = os.path.join(cfg.tmp, "copy-src")
        os.makedirs(os.path.join(src, "sub"))
        with open(os.path.join(src, "a.txt"), "w") as f:
            f.write("alpha\n")
        with open(os.path.join(src, "sub", "b.txt"), "w") as f:
            f.write("beta\n")
        r = cfg.vt("copy", cfg.tmp)
        self.assert_vt_ok(r)
        with open(os.path.join(cfg.tmp, "copied-back.txt")) as f:
            self.assertEqual(f.read(), "made-inside\n")
        back = os.path.join(cfg.tmp, "copied-back-dir")
        with open(os.path.join(back, "a.txt")) as f:
            self.assertEqual(f.read(), "changed\n")
        with open(os.path.join(back, "sub", "b.txt")) as f:
            self.assertEqual(f.read(), "beta\n")
        # the volume's files came back to the workspace at destroy, too
        with open(os.path.join(cfg.workspace, "incoming", "new.txt")) as f:
            self.assertEqual(f.read(), "made-inside\n")

    def test_bind_mode_can_be_chosen_for_a_tcp_engine_on_this_host(self):
        cfg = self.tls_config(workspace_mode="bind")
        r = cfg.run(["/bin/sh", "-c", "echo bound > b.txt"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(cfg.workspace, "b.txt")) as f:
            self.assertEqual(f.read(), "bound\n")

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
