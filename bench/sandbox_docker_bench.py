#!/usr/bin/python3
"""sandbox-docker benchmark: starts a private dockerd with the test image
(tests/integration/sandbox_docker/docker_harness.py), then runs
sandbox_docker_bench for three profiles and prints its figures:

  image            the local test image
  template cold    a template whose content changes every run (built each time)
  template cached  the same template, already built

    python3 bench/sandbox_docker_bench.py BUILD_DIR [RUNS]     (root)
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "sandbox_docker"))
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build"))
runs = sys.argv[2] if len(sys.argv) > 2 else "20"
os.environ.setdefault("AGENTD_BIN", os.path.join(build, "bin", "agentd"))
os.environ.setdefault("AGENTD_PLUGIN_DIR", os.path.join(build, "lib", "agentd", "plugins"))

import docker_harness as h  # noqa: E402

BENCH = os.path.join(build, "bin", "sandbox_docker_bench")


def run(cfg, n):
    p = subprocess.run([BENCH, cfg.path, cfg.workspace, str(n)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-2000:])
    return p.stdout.strip()


def main():
    h.require_machine()
    engine = h.Engine().start()
    try:
        engine.import_test_image()
        print("engine: dockerd %s, storage driver %s" % (
            engine.json("GET", "/version")["Version"], engine.driver))
        cfg = h.Config(engine)
        print("image            ", run(cfg, runs))
        tdir = os.path.join(cfg.tmp, "template")
        os.mkdir(tdir)
        with open(os.path.join(tdir, "Dockerfile"), "w") as f:
            f.write("FROM agentd-test:latest\nCOPY stamp /etc/stamp\n")
        del cfg.profile["image"]
        cfg.profile["template"] = os.path.join(tdir, "Dockerfile")
        cfg.write()
        cold = []
        for i in range(min(int(runs), 5)):
            with open(os.path.join(tdir, "stamp"), "w") as f:
                f.write("run %d %d\n" % (os.getpid(), i))
            cold.append(run(cfg, 1))
        for line in cold:
            print("template cold    ", line)
        print("template cached  ", run(cfg, runs))
        cfg.cleanup()
    finally:
        engine.cleanup()


if __name__ == "__main__":
    main()
