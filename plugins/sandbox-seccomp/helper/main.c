/*
 * agentd-sandbox-helper: starts one command in a fresh sandbox.
 *
 * The plugin spawns it through the host (agentd_host_api_t.spawn) with the
 * launch description on stdin (launch.h). It runs in two processes:
 *
 *   outer   in the host's namespaces: joins the sandbox's cgroups, prepares
 *           the workspace mount, clones the child into new namespaces,
 *           writes its uid/gid map, forwards signals, and ends the way the
 *           command ended (same exit code, or killed by the same signal).
 *   pid 1   in the new namespaces: builds the file system view, drops every
 *           privilege, loads the seccomp filter, and runs the command
 *           (init.c).
 *
 * Both die with their parent (PR_SET_PDEATHSIG): if the daemon dies, the
 * outer helper dies, then pid 1, and the kernel kills the rest of the pid
 * namespace. Any setup step that fails ends the helper with status 125 and
 * a message naming the step (fail.h): the command never runs in a weaker
 * sandbox than configured.
 */
#define _GNU_SOURCE
#include "fail.h"
#include "init.h"
#include "launch.h"
#include "mounts.h"
#include "namespaces.h"
#include "privileges.h"
#include "relay.h"
#include "seccomp_load.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static void join_cgroups(const sbx_launch_t *l)
{
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    for (char **p = l->cgroup_procs; *p != NULL; p++) {
        int fd = open(*p, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid, (size_t)n) != n)
            sbx_die_errno("cgroup", "join %s", *p);
        close(fd);
    }
}

/* Dies unless the outer helper is still there: its end of the pipe open. */
static void check_lifeline(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & POLLHUP))
        _exit(SBX_EXIT_SETUP);
}

static _Noreturn void child_main(const sbx_launch_t *l, const sbx_host_trees_t *trees,
                                 int sync_fd, int status_fd)
{
    char go = 0;
    while (read(sync_fd, &go, 1) < 0 && errno == EINTR) {
    }
    if (go != 'g')
        _exit(SBX_EXIT_SETUP); /* the outer helper died before mapping us */
    sbx_priv_become(l->uid, l->gid);
    /* After the credential change, which clears the parent-death signal. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        sbx_die_errno("init", "PR_SET_PDEATHSIG");
    check_lifeline(sync_fd);
    const char *host = l->hostname != NULL ? l->hostname : "sandbox";
    if (sethostname(host, strlen(host)) < 0)
        sbx_die_errno("uts namespace", "sethostname");
    sbx_ns_loopback_up();
    sbx_mount_build_root(l, trees);
    const char *cwd = l->cwd != NULL ? l->cwd : l->workspace;
    if (chdir(cwd) < 0)
        sbx_die_errno("workdir", "chdir %s", cwd);
    sbx_relay_t *relay = sbx_relay_open(l);
    /* Not dumpable: nothing inside may open our /proc/1/mem or ptrace us. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        sbx_die_errno("init", "PR_SET_DUMPABLE");
    sbx_priv_drop_all();
    sbx_seccomp_load(l);
    if (l->probe) {
        sbx_status_t ok = {0, 0};
        _exit(write(status_fd, &ok, sizeof ok) == (ssize_t)sizeof ok ? 0 : SBX_EXIT_SETUP);
    }
    sbx_init_run(l, relay, status_fd);
}

/* End the way the command ended, so the host sees its exit code or its
 * signal. */
static _Noreturn void exit_like(int signaled, int value)
{
    if (!signaled)
        _exit(value);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, value);
    signal(value, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), value);
    _exit(128 + value); /* a signal whose default is not to terminate */
}

static _Noreturn void finish(int wstatus, int status_fd)
{
    sbx_status_t st;
    if (read(status_fd, &st, sizeof st) == (ssize_t)sizeof st)
        exit_like(st.signaled, st.value);
    /* pid 1 ended without a report: a setup failure (its message is on
     * stderr) or it was killed (cgroup kill, timeout). */
    if (WIFSIGNALED(wstatus))
        exit_like(1, WTERMSIG(wstatus));
    _exit(WEXITSTATUS(wstatus) != 0 ? WEXITSTATUS(wstatus) : SBX_EXIT_SETUP);
}

static _Noreturn void outer_wait(pid_t child, int status_fd)
{
    sigset_t set;
    sigprocmask(SIG_BLOCK, NULL, &set);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        sbx_die_errno("helper", "signalfd");
    for (;;) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
            continue;
        if (si.ssi_signo != SIGCHLD) {
            kill(child, (int)si.ssi_signo);
            continue;
        }
        int wstatus;
        pid_t pid = waitpid(child, &wstatus, WNOHANG);
        if (pid == child)
            finish(wstatus, status_fd);
    }
}

static void host_identity(sbx_launch_t *l)
{
    if (geteuid() != 0) {
        /* Unprivileged: the only id we may map is our own. */
        l->host_uid = geteuid();
        l->host_gid = getegid();
        return;
    }
    if (l->host_uid == 0 || l->host_gid == 0)
        sbx_die("identity", "refusing to run a sandbox as the host's root (uid/gid 0)");
    if (setgroups(0, NULL) < 0)
        sbx_die_errno("identity", "drop supplementary groups");
}

int main(void)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        sbx_die_errno("helper", "PR_SET_PDEATHSIG");
    char msg[256];
    sbx_launch_t l;
    if (sbx_launch_read(STDIN_FILENO, &l, msg, sizeof msg) < 0)
        sbx_die("launch", "%s", msg);
    if (l.host_pid != 0 && getppid() != l.host_pid)
        sbx_die("helper", "the daemon (pid %d) is gone", l.host_pid);
    if (close_range(3, ~0u, 0) < 0)
        sbx_die_errno("helper", "close inherited descriptors");
    join_cgroups(&l);
    host_identity(&l);
    sbx_host_trees_t trees;
    sbx_mount_capture_host(&l, &trees);
    int sync[2], status[2];
    if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0)
        sbx_die_errno("helper", "pipe");
    sbx_init_block_signals();
    pid_t child = sbx_ns_clone(SBX_NS_FLAGS);
    if (child < 0)
        sbx_die_errno("namespaces", "clone(user, mount, pid, net, ipc, uts, cgroup)");
    if (child == 0) {
        close(sync[1]);
        close(status[0]);
        child_main(&l, &trees, sync[0], status[1]);
    }
    close(sync[0]);
    close(status[1]);
    if (trees.workspace >= 0)
        close(trees.workspace);
    if (trees.proxy_socket >= 0)
        close(trees.proxy_socket);
    sbx_ns_write_maps(child, l.uid, l.host_uid, l.gid, l.host_gid);
    if (write(sync[1], "g", 1) != 1)
        sbx_die_errno("helper", "start the sandbox");
    sbx_launch_free(&l);
    outer_wait(child, status[0]);
}
