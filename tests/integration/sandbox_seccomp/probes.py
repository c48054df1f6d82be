#!/usr/bin/python3
"""Attempts made from INSIDE a sandbox, as an agent would make them.

Run inside by the tests (`agentd sandbox exec -- python3 probes.py NAME ARGS`);
each probe prints one JSON object on stdout and exits 0, whatever the
attempt's outcome: the test on the host decides what outcome is right.
Standard library only (it runs with the system's /usr/bin/python3).
"""

import ctypes
import errno
import json
import os
import socket
import stat
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# x86_64 syscall numbers.
NR = {
    "ptrace": 101, "syslog": 103, "uselib": 134, "personality": 135, "pivot_root": 155,
    "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166,
    "swapon": 167, "reboot": 169, "init_module": 175, "delete_module": 176,
    "quotactl": 179, "lookup_dcookie": 212, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_getfd": 438,
    "mount_setattr": 442, "clone": 56,
}

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, \
    0x40000000
SIGCHLD = 17


def out(**kw):
    print(json.dumps(kw))
    return 0


def raw(name, *args):
    """A raw syscall; returns (ret, errno)."""
    cargs = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(NR[name]), *cargs)
    err = ctypes.get_errno()
    if name == "clone" and ret == 0:
        os._exit(0)  # it must not have worked, but if it did the child leaves
    return ret, err


def buf(n=256):
    return ctypes.create_string_buffer(n)


# Arguments that would make each call do something real if it were allowed.
def syscall_args(name):
    b = buf()
    return {
        "keyctl": (0, -3, 1),                        # KEYCTL_GET_KEYRING_ID session, create
        "add_key": (ctypes.c_char_p(b"user"), ctypes.c_char_p(b"k"), b, 1, -3),
        "request_key": (ctypes.c_char_p(b"user"), ctypes.c_char_p(b"k"), 0, -3),
        "bpf": (0, b, 72),                           # BPF_MAP_CREATE
        "perf_event_open": (b, 0, -1, -1, 0),
        "userfaultfd": (0o2000000,),                 # O_CLOEXEC
        "kexec_load": (0, 0, 0, 0),
        "kexec_file_load": (-1, -1, 0, ctypes.c_char_p(b""), 0),
        "open_by_handle_at": (-100, b, 0),
        "name_to_handle_at": (-100, ctypes.c_char_p(b"/"), b, b, 0),
        "mount": (ctypes.c_char_p(b"none"), ctypes.c_char_p(b"/tmp"),
                  ctypes.c_char_p(b"tmpfs"), 0, 0),
        "umount2": (ctypes.c_char_p(b"/tmp"), 2),    # MNT_DETACH
        "pivot_root": (ctypes.c_char_p(b"/tmp"), ctypes.c_char_p(b"/tmp")),
        "setns": (0, 0),
        "unshare": (CLONE_NEWUSER,),
        "clone": (CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0),
        "io_uring_setup": (8, b),
        "io_uring_enter": (0, 1, 0, 0, 0, 0),
        "io_uring_register": (0, 0, 0, 0),
        "ptrace": (16, 1, 0, 0),                     # PTRACE_ATTACH pid 1
        "process_vm_readv": (1, b, 1, b, 1, 0),
        "process_vm_writev": (1, b, 1, b, 1, 0),
        "init_module": (b, 0, ctypes.c_char_p(b"")),
        "finit_module": (0, ctypes.c_char_p(b""), 0),
        "delete_module": (ctypes.c_char_p(b"x"), 0),
        "reboot": (0xfee1dead, 672274793, 0x4321fedc, 0),  # RB_POWER_OFF
        "swapon": (ctypes.c_char_p(b"/tmp/x"), 0),
        "chroot": (ctypes.c_char_p(b"/tmp"),),
        "syslog": (3, b, 255),
        "acct": (ctypes.c_char_p(b"/tmp/acct"),),
        "settimeofday": (0, 0),
        "open_tree": (-100, ctypes.c_char_p(b"/tmp"), 1),  # OPEN_TREE_CLONE
        "move_mount": (-100, ctypes.c_char_p(b"/tmp"), -100, ctypes.c_char_p(b"/tmp"), 0),
        "fsopen": (ctypes.c_char_p(b"tmpfs"), 0),
        "fsconfig": (0, 0, 0, 0, 0),
        "fsmount": (0, 0, 0),
        "fspick": (-100, ctypes.c_char_p(b"/"), 0),
        "mount_setattr": (-100, ctypes.c_char_p(b"/tmp"), 0, b, 32),
        "kcmp": (1, 1, 0, 0, 0),
        "pidfd_getfd": (0, 0, 0),
        "quotactl": (0, 0, 0, 0),
        "lookup_dcookie": (0, b, 255),
        "uselib": (ctypes.c_char_p(b"/bin/sh"),),
        "personality": (0x0040000,),                 # ADDR_NO_RANDOMIZE
    }[name]


def p_syscall(name):
    ret, err = raw(name, *syscall_args(name))
    return out(name=name, ret=ret, errno=err, error=errno.errorcode.get(err, str(err)))


def p_syscalls():
    results = {}
    for name in sorted(NR):
        ret, err = raw(name, *syscall_args(name))
        results[name] = {"ret": ret, "errno": errno.errorcode.get(err, str(err))}
    return out(results=results)


def p_socket(family, proto="0"):
    try:
        s = socket.socket(int(family), socket.SOCK_RAW if int(family) == 17 else
                          socket.SOCK_SEQPACKET if int(family) == 38 else socket.SOCK_STREAM,
                          int(proto))
        s.close()
        return out(ok=True)
    except OSError as e:
        return out(ok=False, error=errno.errorcode.get(e.errno, str(e.errno)))


def p_tiocsti():
    """TIOCSTI on our own pty, with the ioctl number as is and with high bits
    set (which a filter comparing 64 bits would miss)."""
    master, slave = os.openpty()
    c = ctypes.c_char(b"x")
    res = {}
    for label, cmd in (("plain", 0x5412), ("high_bits", 0x5412 | (1 << 32))):
        ctypes.set_errno(0)
        ret = libc.syscall(ctypes.c_long(16), ctypes.c_long(slave), ctypes.c_long(cmd),
                           ctypes.byref(c))
        res[label] = {"ret": ret, "errno": errno.errorcode.get(ctypes.get_errno(), "0")}
    return out(results=res)


def attempt(fn):
    try:
        fn()
        return {"ok": True}
    except OSError as e:
        return {"ok": False, "error": errno.errorcode.get(e.errno, str(e.errno))}


def write_file(path, data=b"escape\n"):
    def go():
        with open(path, "wb") as f:
            f.write(data)
    return attempt(go)


def p_write_outside(workspace):
    """Writes that would land outside the workspace on the host."""
    ws = workspace
    res = {}
    for label, path in (("etc", "/etc/sbx-escape"), ("usr", "/usr/sbx-escape"),
                        ("root_dir", "/sbx-escape"), ("etc_double_slash", "/etc//sbx-escape"),
                        ("etc_dot", "/etc/./sbx-escape"),
                        ("usr_dotdot", "/usr/../etc/sbx-escape"),
                        ("ws_dotdot", ws + "/../sbx-escape"),
                        ("ws_double_slash_dotdot", ws + "//..//sbx-escape"),
                        ("ws_dot_dotdot", ws + "/./../sbx-escape")):
        res[label] = write_file(path)
    os.symlink("/etc", ws + "/link-etc")
    res["symlink_dir"] = write_file(ws + "/link-etc/sbx-escape")
    os.symlink(os.path.dirname(ws) + "/sbx-escape-sym", ws + "/link-out")
    res["symlink_file"] = write_file(ws + "/link-out")
    res["hardlink"] = attempt(lambda: os.link("/etc/hostname" if os.path.exists(
        "/etc/hostname") else "/etc/passwd", ws + "/hardlink"))
    res["symlink_passwd"] = attempt(lambda: os.symlink("/etc/passwd", ws + "/pw")) and \
        write_file(ws + "/pw")
    return out(results=res)


def p_mknod(workspace):
    res = {"char_null": attempt(lambda: os.mknod(workspace + "/null", stat.S_IFCHR | 0o666,
                                                 os.makedev(1, 3))),
           "block": attempt(lambda: os.mknod(workspace + "/blk", stat.S_IFBLK | 0o600,
                                             os.makedev(8, 0))),
           "fifo": attempt(lambda: os.mkfifo(workspace + "/fifo"))}
    return out(results=res)


def p_setuid(workspace):
    sh = workspace + "/sh-copy"
    with open("/bin/sh", "rb") as src, open(sh, "wb") as dst:
        dst.write(src.read())
    os.chmod(sh, 0o755)
    res = {"chmod_setuid": attempt(lambda: os.chmod(sh, 0o4755)),
           "chmod_setgid": attempt(lambda: os.chmod(sh, 0o2755)),
           "open_creat_setuid": attempt(lambda: os.close(
               os.open(workspace + "/created-suid", os.O_CREAT | os.O_WRONLY, 0o4755))),
           "fchmod_setuid": attempt(lambda: _fchmod(sh, 0o4755))}
    res["mode"] = oct(os.stat(sh).st_mode)
    return out(results=res)


def _fchmod(path, mode):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def p_ptrace(pid):
    ret, err = raw("ptrace", 16, int(pid), 0, 0)
    traceme = raw("ptrace", 0, 0, 0, 0)
    return out(attach={"ret": ret, "errno": errno.errorcode.get(err, str(err))},
               traceme={"ret": traceme[0], "errno": errno.errorcode.get(traceme[1], "0")})


def p_proc_mem():
    res = {}
    for pid in ("1", str(os.getppid())):
        def go(p=pid):
            fd = os.open("/proc/%s/mem" % p, os.O_RDWR)
            os.close(fd)
        res["pid_" + pid] = attempt(go)
    return out(results=res)


def p_procs():
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    cmdlines = {}
    for p in pids:
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                cmdlines[p] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            pass
    return out(pids=pids, cmdlines=cmdlines)


def p_fds():
    fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
    links = {}
    for fd in fds:
        try:
            links[fd] = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            pass
    return out(fds=fds, links=links)


def p_exists(*paths):
    res = {}
    for p in paths:
        try:
            os.listdir(p) if os.path.isdir(p) else open(p, "rb").close()
            res[p] = "readable"
        except FileNotFoundError:
            res[p] = "absent"
        except OSError as e:
            res[p] = errno.errorcode.get(e.errno, str(e.errno))
    return out(results=res)


def p_status():
    with open("/proc/self/status") as f:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    keep = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
            "NoNewPrivs", "Seccomp", "Seccomp_filters")
    return out(status={k: fields.get(k, "").strip() for k in keep}, sid=os.getsid(0),
               pid=os.getpid(), pgid=os.getpgid(0))


def p_fork_bomb(limit):
    """Fork until fork fails; children wait for the parent to finish."""
    r, w = os.pipe()
    n, failure = 0, None
    while n < int(limit):
        try:
            pid = os.fork()
        except OSError as e:
            failure = errno.errorcode.get(e.errno, str(e.errno))
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)  # until the parent's end closes
            os._exit(0)
        n += 1
    os.close(w)
    for _ in range(n):
        os.wait()
    return out(forked=n, failure=failure)


def p_memory_hog(mb):
    chunks = []
    for _ in range(int(mb)):
        chunks.append(bytearray(1 << 20))
        chunks[-1][::4096] = b"x" * len(chunks[-1][::4096])
    return out(allocated_mb=len(chunks))


def p_tcp(host, port):
    def go():
        s = socket.create_connection((host, int(port)), timeout=5)
        s.close()
    return out(**attempt(go))


def p_udp(host, port):
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"\0" * 12, (host, int(port)))
        s.close()
    return out(**attempt(go))


def p_dns(name):
    try:
        addrs = socket.getaddrinfo(name, 443)
        return out(ok=True, addrs=[a[4][0] for a in addrs])
    except socket.gaierror as e:
        return out(ok=False, error=str(e))


def p_http(url, use_proxy="1"):
    """GET url with urllib (which honours HTTP_PROXY/HTTPS_PROXY)."""
    import urllib.request
    handlers = [] if use_proxy == "1" else [urllib.request.ProxyHandler({})]
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=10) as r:
            return out(ok=True, status=r.status, body=r.read().decode(errors="replace"))
    except urllib.error.HTTPError as e:
        return out(ok=False, status=e.code, body=e.read().decode(errors="replace"))
    except OSError as e:
        return out(ok=False, error=str(e))


def p_connect(target):
    """A raw CONNECT through the proxy at HTTPS_PROXY; returns its status line."""
    proxy = os.environ["HTTPS_PROXY"].split("//", 1)[1].rstrip("/")
    host, port = proxy.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target, target)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return out(status_line=data.split(b"\r\n", 1)[0].decode(errors="replace"))


def p_env():
    return out(env=dict(os.environ))


PROBES = {name[2:]: fn for name, fn in globals().items() if name.startswith("p_")}

if __name__ == "__main__":
    sys.exit(PROBES[sys.argv[1]](*sys.argv[2:]))
