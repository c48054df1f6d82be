#!/usr/bin/python3
"""sandbox-docker through `agentd sandbox exec`, as an operator runs it:
stdio and exit codes, the restrictions a container gets (seen from inside
and from the engine), Ctrl-C, clear errors naming the profile and field,
the docker socket never inside, and the workspace's pre-execution script."""

import os
import signal
import time

from docker_harness import EngineTestCase, main, wait_for


class Lifecycle(EngineTestCase):
    def test_stdio_and_exit_code(self):
        r = self.cfg.run(["/bin/sh", "-c", "cat; echo to-stderr >&2; pwd; exit 3"],
                         input=b"from stdin\n")
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertEqual(r.stdout, "from stdin\n" + self.cfg.workspace + "\n")
        self.assertIn("to-stderr", r.stderr)
        self.assertNotIn("to-stderr", r.stdout)

    def test_a_missing_program_is_an_error(self):
        r = self.cfg.run(["/no/such/program"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no such file", r.stdout.lower() + r.stderr.lower())

    def test_restrictions_inside_the_container(self):
        r = self.cfg.run(["/bin/sh", "-c",
                          "grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status; "
                          "echo uid=$(id -u); touch /etc/x 2>/dev/null && echo root-writable; "
                          "ls /var/run/docker.sock /run/docker.sock 2>/dev/null && echo sock; "
                          "touch /tmp/ok && echo tmp-writable; touch ./ok && echo ws-writable"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("CapEff:\t0000000000000000", out)
        self.assertIn("CapPrm:\t0000000000000000", out)
        self.assertIn("NoNewPrivs:\t1", out)
        self.assertIn("Seccomp:\t2", out)  # the engine's default profile
        self.assertIn("uid=1000", out)  # the image's user is root: 1000 instead
        self.assertNotIn("root-writable", out)
        self.assertNotIn("sock", out)
        self.assertIn("tmp-writable", out)
        self.assertIn("ws-writable", out)

    def test_the_engine_sees_limits_labels_and_security_options(self):
        p = self.cfg.popen(["/bin/sh", "-c", "echo up; exec sleep 60"])
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline(), b"up\n")
        found = self.engine.containers()
        self.assertEqual(len(found), 1)
        c = self.engine.json("GET", "/containers/%s/json" % found[0]["Id"])
        hc, labels = c["HostConfig"], c["Config"]["Labels"]
        self.assertEqual(hc["Memory"], 512 << 20)
        self.assertEqual(hc["MemorySwap"], 512 << 20)
        self.assertEqual(hc["NanoCpus"], 1000000000)
        self.assertEqual(hc["PidsLimit"], 256)
        self.assertEqual(hc["CapDrop"], ["ALL"])
        self.assertIn("no-new-privileges", hc["SecurityOpt"])
        self.assertTrue(hc["ReadonlyRootfs"])
        self.assertTrue(hc["Init"])
        self.assertFalse(hc["Privileged"])
        self.assertEqual(hc["NetworkMode"], "host")
        self.assertEqual(labels["io.agentd.profile"], "test")
        self.assertTrue(labels["io.agentd.sandbox"].startswith("exec-"))
        self.assertEqual(labels["io.agentd.workspace"], self.cfg.workspace)
        self.assertNotIn("docker.sock", str(c["Mounts"]))
        # Ctrl-C: agentd passes the interrupt in; the command ends and the
        # container is removed.
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertNotIn(b"Sanitizer", err)
        wait_for(lambda: self.engine.containers() == [], 30, what="the container's removal")

    def test_ctrl_c_reaches_the_command(self):
        p = self.cfg.popen(["/bin/sh", "-c",
                            "trap 'echo got-int; exit 9' INT; echo up; while :; do sleep 0.05; "
                            "done"])
        self.addCleanup(p.kill)
        self.assertEqual(p.stdout.readline(), b"up\n")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        self.assertNotIn(b"Sanitizer", err)
        self.assertIn(b"got-int", out, err)
        self.assertEqual(p.returncode, 9, err)

    def _refused(self, words, cmd=("/bin/true",)):
        r = self.cfg.run(list(cmd))
        self.assertEqual(r.returncode, 125, r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)
        self.assertEqual(self.engine.containers(), [])
        return r

    def test_image_not_found_names_the_profile_and_field(self):
        self.cfg.profile["image"] = "no-such-image:1"
        self.cfg.write()
        self._refused(['profile "test"', "image", "no-such-image:1", "no such image"])

    def test_a_limit_the_engine_refuses_names_the_field(self):
        self.cfg.profile["cpus"] = 1000  # more cores than this machine has
        self.cfg.write()
        self._refused(['profile "test"', "cpus", "CPU"])

    def test_no_docker_socket_inside_ever(self):
        self.cfg.profile["mounts"] = [os.path.dirname(self.engine.sock) + ":/engine"]
        self.cfg.write()
        r = self.cfg.run(["/bin/true"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("docker socket", r.stderr)
        self.assertIn("mounts", r.stderr)
        self.assertEqual(self.engine.containers(), [])

    def _pre_script(self, text):
        d = os.path.join(self.cfg.workspace, ".agentd")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "pre-execution.sh"), "w") as f:
            f.write(text)

    def test_pre_execution_script_runs_before_the_command(self):
        self._pre_script("echo preparing; id -u > pre-ran\n")
        r = self.cfg.run(["/bin/sh", "-c", "cat pre-ran"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "1000\n")  # in the container, as its user

    def test_pre_execution_failure_stops_with_its_output(self):
        self._pre_script("echo 'setting up'; echo 'the setup broke' >&2; exit 4\n")
        r = self._refused(["pre-execution", "exit 4", "the setup broke"],
                          cmd=["/bin/sh", "-c", "echo ran > command-ran"])
        self.assertFalse(os.path.exists(os.path.join(self.cfg.workspace, "command-ran")))

    def test_pre_execution_output_becomes_session_events(self):
        self._pre_script("echo 'line one'; echo 'line two' >&2\n")
        r = self.cfg.vt("session", "vt-pre")
        self.assertIn("create: ok", r.stdout, r.stderr)
        self.assertIn('sandbox.pre_execution_output {"stream":"stdout","text":"line one"}',
                      r.stdout)
        self.assertIn('sandbox.pre_execution_output {"stream":"stderr","text":"line two"}',
                      r.stdout)
        self.assertIn('sandbox.pre_execution {"script":".agentd/pre-execution.sh",'
                      '"exit_code":0}', r.stdout)
        self.assertIn('sandbox.image {"profile":"test","image":"agentd-test:latest"', r.stdout)


if __name__ == "__main__":
    main()
