#!/usr/bin/env python3
"""The SDK as a third-party author gets it, end to end.

1. `cmake --install` the built tree into a temporary prefix.
2. Copy sdk/examples/notify-example out of the source tree and build it
   against that prefix twice: with CMake (find_package(AgentdSDK)) and with
   make (pkg-config agentd-sdk).
3. Run the INSTALLED daemon, `PREFIX/bin/agentd --config CFG plugins`, with
   each build's plugin directory, and check that notify-example is loaded
   with its id, kind, version and ABI, and that --verbose shows its settings.
4. `make install` with pkg-config's plugindir puts the plugin where the
   installed daemon looks by default.
5. A setting out of its declared bounds is refused (exit 1, a reason).

usage: test_sdk_example.py --build-dir DIR --source-dir DIR --work-dir DIR
Python 3 standard library only. Exit 0 when every check passed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

EXAMPLE_ID = "notify-example"
EXAMPLE_VERSION = "1.0.0"
EXAMPLE_FIELDS = ["prefix", "level", "queue_size", "interval_ms"]

checks = {"passed": 0, "failed": 0}


def log(msg):
    print("sdk_example: " + msg, flush=True)


def check(cond, what, detail=""):
    if cond:
        checks["passed"] += 1
        log("ok: " + what)
    else:
        checks["failed"] += 1
        log("FAILED: " + what + ("\n" + detail if detail else ""))
    return cond


def run(cmd, cwd=None, env=None, expect=0):
    """Run a command; print it and, on an unexpected exit status, its output."""
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=600)
    if expect is not None and p.returncode != expect:
        sys.stdout.write(p.stdout)
        sys.stdout.write(p.stderr)
        raise SystemExit("sdk_example: `%s` exited %d, expected %d"
                         % (" ".join(cmd), p.returncode, expect))
    return p


def clean_env(**extra):
    env = dict(os.environ)
    # The test says what the daemon reads; nothing from the caller's setup.
    for k in ("AGENTD_CONFIG", "CFLAGS", "LDFLAGS", "CPPFLAGS", "PKG_CONFIG_PATH",
              "CMAKE_PREFIX_PATH", "MAKEFLAGS", "MFLAGS"):
        env.pop(k, None)
    env.update(extra)
    return env


def write_config(path, plugin_dirs, settings=None):
    plugins = {"load": [EXAMPLE_ID],
               "settings": {EXAMPLE_ID: settings if settings is not None else {}}}
    if plugin_dirs is not None:
        plugins["dirs"] = plugin_dirs
    # "sandboxes": {} so that the built-in "local" profile does not require
    # sandbox-seccomp to be loaded too.
    with open(path, "w") as f:
        json.dump({"plugins": plugins, "sandboxes": {}}, f, indent=2)
    return path


def plugins_json(agentd, cfg, env, expect=0):
    p = run([agentd, "--config", cfg, "plugins", "--json"], env=env, expect=expect)
    try:
        return json.loads(p.stdout), p
    except ValueError:
        raise SystemExit("sdk_example: `agentd plugins --json` printed no JSON:\n"
                         + p.stdout + p.stderr)


def find_example(entries):
    for e in entries:
        if e.get("id") == EXAMPLE_ID:
            return e
    return None


def check_loaded(agentd, cfg, env, how):
    entries, _ = plugins_json(agentd, cfg, env)
    e = find_example(entries)
    if not check(e is not None, "%s: notify-example is listed" % how,
                 json.dumps(entries, indent=2)):
        return
    check(os.path.basename(e.get("file", "")) == EXAMPLE_ID + ".so",
          "%s: file is notify-example.so" % how, str(e.get("file")))
    check(e.get("status") == "loaded", "%s: status is loaded" % how,
          "status %r, reason %r, fix %r" % (e.get("status"), e.get("reason"), e.get("fix")))
    check(e.get("kind") == "notify", "%s: kind is notify" % how, str(e.get("kind")))
    check(e.get("version") == EXAMPLE_VERSION, "%s: version is %s" % (how, EXAMPLE_VERSION),
          str(e.get("version")))
    check(e.get("abi") == "1.0", "%s: ABI is 1.0" % how, str(e.get("abi")))
    fields = {f.get("name"): f for f in (e.get("fields") or [])}
    check(sorted(fields) == sorted(EXAMPLE_FIELDS), "%s: its settings are declared" % how,
          json.dumps(e.get("fields"), indent=2))
    prefix = fields.get("prefix", {})
    check(prefix.get("type") == "string" and prefix.get("default") == '"event"'
          and not prefix.get("required") and prefix.get("description"),
          "%s: prefix is an optional string defaulting to \"event\"" % how, json.dumps(prefix))
    qs = fields.get("queue_size", {})
    check(qs.get("type") == "int" and qs.get("default") == "16",
          "%s: queue_size is an int defaulting to 16" % how, json.dumps(qs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    source = os.path.abspath(args.source_dir)
    work = os.path.abspath(args.work_dir)

    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    prefix = os.path.join(work, "prefix")
    env = clean_env()

    # 1. The installed tree.
    run(["cmake", "--install", build, "--prefix", prefix], env=env)
    agentd = os.path.join(prefix, "bin", "agentd")
    for rel in ("bin/agentd", "include/agentd/agentd.h", "include/agentd/notify.h",
                "lib/pkgconfig/agentd-sdk.pc", "lib/cmake/AgentdSDK/AgentdSDKConfig.cmake",
                "lib/cmake/AgentdSDK/AgentdSDKConfigVersion.cmake",
                "lib/cmake/AgentdSDK/AgentdPlugin.cmake", "etc/agentd/agentd.json",
                "lib/systemd/system/agentd.service", "lib/sysusers.d/agentd.conf"):
        check(os.path.exists(os.path.join(prefix, rel)), "installed " + rel)
    if not os.access(agentd, os.X_OK):
        raise SystemExit("sdk_example: no installed daemon at " + agentd)
    with open(os.path.join(prefix, "lib/systemd/system/agentd.service")) as f:
        unit = f.read()
    check("@CMAKE" not in unit and "ExecStart=/" in unit and "--config /" in unit,
          "the installed unit has its paths filled in")

    example_src = os.path.join(source, "sdk", "examples", EXAMPLE_ID)
    pc_dir = os.path.join(prefix, "lib", "pkgconfig")
    installed_plugin_dir = os.path.join(prefix, "lib", "agentd", "plugins")

    # 2a. Out of tree with CMake and find_package(AgentdSDK).
    src_cmake = os.path.join(work, "src-cmake")
    shutil.copytree(example_src, src_cmake)
    plugins_cmake = os.path.join(work, "plugins-cmake")
    run(["cmake", "-S", src_cmake, "-B", os.path.join(work, "build-cmake"),
         "-DCMAKE_PREFIX_PATH=" + prefix, "-DAGENTD_PLUGIN_INSTALL_DIR=" + plugins_cmake],
        env=env)
    run(["cmake", "--build", os.path.join(work, "build-cmake")], env=env)
    run(["cmake", "--install", os.path.join(work, "build-cmake")], env=env)
    check(os.path.isfile(os.path.join(plugins_cmake, EXAMPLE_ID + ".so")),
          "cmake: agentd_add_plugin installed notify-example.so")

    # 2b. Out of tree with make and pkg-config.
    src_make = os.path.join(work, "src-make")
    shutil.copytree(example_src, src_make)
    plugins_make = os.path.join(work, "plugins-make")
    make_env = clean_env(PKG_CONFIG_PATH=pc_dir)
    p = run(["pkg-config", "--variable=plugindir", "agentd-sdk"], env=make_env)
    check(os.path.realpath(p.stdout.strip()) == os.path.realpath(installed_plugin_dir),
          "pkg-config: plugindir is PREFIX/lib/agentd/plugins", p.stdout)
    p = run(["pkg-config", "--modversion", "agentd-sdk"], env=make_env)
    check(p.stdout.strip() == "1.0", "pkg-config: agentd-sdk version is the ABI, 1.0",
          p.stdout)
    run(["make", "-C", src_make], env=make_env)
    run(["make", "-C", src_make, "check-exports"], env=make_env)
    run(["make", "-C", src_make, "install", "PLUGINDIR=" + plugins_make], env=make_env)
    check(os.path.isfile(os.path.join(plugins_make, EXAMPLE_ID + ".so")),
          "make: installed notify-example.so")

    # 3. The installed daemon loads each build.
    cfg_cmake = write_config(os.path.join(work, "cmake.json"), [plugins_cmake])
    check_loaded(agentd, cfg_cmake, env, "cmake build")
    cfg_make = write_config(os.path.join(work, "make.json"), [plugins_make],
                            {"prefix": "from-make", "queue_size": 4})
    check_loaded(agentd, cfg_make, env, "make build")

    p = run([agentd, "--config", cfg_cmake, "plugins"], env=env)
    rows = [l.split() for l in p.stdout.splitlines()]
    check(any(r[:1] == ["FILE"] and r[1:6] == ["ID", "KIND", "VERSION", "ABI", "STATUS"]
              for r in rows), "plugins: the table has its header", p.stdout)
    check(any(len(r) >= 6 and r[0].endswith(EXAMPLE_ID + ".so") and
              r[1:6] == [EXAMPLE_ID, "notify", EXAMPLE_VERSION, "1.0", "loaded"]
              for r in rows), "plugins: a row says notify-example notify 1.0.0 1.0 loaded",
          p.stdout)
    p = run([agentd, "--config", cfg_cmake, "plugins", "--verbose"], env=env)
    check(all(name in p.stdout for name in EXAMPLE_FIELDS),
          "plugins --verbose: shows every setting", p.stdout)
    check("minimum time between two notification lines" in p.stdout,
          "plugins --verbose: shows the settings' descriptions", p.stdout)

    # 4. pkg-config's plugindir is where the installed daemon looks by default.
    run(["make", "-C", src_make, "install"], env=make_env)
    check(os.path.isfile(os.path.join(installed_plugin_dir, EXAMPLE_ID + ".so")),
          "make install: into PREFIX/lib/agentd/plugins")
    cfg_default = write_config(os.path.join(work, "default-dirs.json"), None)
    check_loaded(agentd, cfg_default, env, "default plugin dir")

    # 5. A setting outside its bounds: refused, with the reason; fatal.
    cfg_bad = write_config(os.path.join(work, "bad.json"), [plugins_cmake],
                           {"queue_size": 0})
    entries, p = plugins_json(agentd, cfg_bad, env, expect=None)
    e = find_example(entries) or {}
    check(p.returncode == 1, "bad setting: `agentd plugins` exits 1",
          "exit %d\n%s" % (p.returncode, p.stderr))
    check(e.get("status") == "refused" and "queue_size" in (e.get("reason") or "")
          + (p.stderr or ""), "bad setting: refused, naming queue_size",
          json.dumps(e, indent=2) + "\n" + p.stderr)

    print("%d passed, %d failed" % (checks["passed"], checks["failed"]))
    return 0 if checks["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
