/* The sandbox's pid 1 (init.h). */
#define _GNU_SOURCE
#include "init.h"

#include "fail.h"
#include "rlimits.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

const int sbx_forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT,
                                     SIGUSR1, SIGUSR2, SIGWINCH};
const size_t sbx_forwarded_signal_count =
    sizeof sbx_forwarded_signals / sizeof *sbx_forwarded_signals;

static sigset_t handled_set(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (size_t i = 0; i < sbx_forwarded_signal_count; i++)
        sigaddset(&set, sbx_forwarded_signals[i]);
    return set;
}

void sbx_init_block_signals(void)
{
    sigset_t set = handled_set();
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        sbx_die_errno("init", "sigprocmask");
}

/* In the command's process: its own session, limits, clean signal state,
 * only stdio open, then exec. */
static _Noreturn void exec_command(const sbx_launch_t *l)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (setsid() < 0)
        sbx_die_errno("command", "setsid");
    sbx_rlimits_apply(&l->rlimits);
    if (close_range(3, ~0u, 0) < 0)
        sbx_die_errno("command", "close inherited descriptors");
    execvpe(l->argv[0], l->argv, l->env);
    int err = errno;
    fprintf(stderr, "agentd-sandbox: %s: %s\n", l->argv[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
}

static void report(int status_fd, int wstatus)
{
    sbx_status_t st = {0, 0};
    if (WIFSIGNALED(wstatus))
        st = (sbx_status_t){1, WTERMSIG(wstatus)};
    else
        st.value = WEXITSTATUS(wstatus);
    if (write(status_fd, &st, sizeof st) != (ssize_t)sizeof st) {
        /* the outer helper is gone; the kernel ends us all anyway */
    }
}

/* SIGINT and the like go to the command's process group, as a terminal
 * would send them; SIGTERM and SIGHUP to every process in the sandbox. */
static void forward(int sig, pid_t cmd)
{
    if (sig == SIGTERM || sig == SIGHUP)
        kill(-1, sig);
    else if (kill(-cmd, sig) < 0)
        kill(cmd, sig);
}

/* Reap every child that ended; returns 1 once the command has. */
static int reap(pid_t cmd, int status_fd)
{
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        if (pid == cmd) {
            report(status_fd, wstatus);
            return 1;
        }
    }
    return 0;
}

static int handle_signals(int sfd, pid_t cmd, int status_fd)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo != SIGCHLD)
            forward((int)si.ssi_signo, cmd);
    }
    return reap(cmd, status_fd);
}

void sbx_init_run(const sbx_launch_t *l, sbx_relay_t *relay, int status_fd)
{
    sigset_t set = handled_set();
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        sbx_die_errno("init", "signalfd");
    pid_t cmd = fork();
    if (cmd < 0)
        sbx_die_errno("init", "fork the command");
    if (cmd == 0)
        exec_command(l);
    struct pollfd *pfds = calloc(SBX_RELAY_MAX_FDS + 1, sizeof *pfds);
    if (pfds == NULL)
        sbx_die("init", "out of memory");
    for (;;) {
        size_t n = relay != NULL ? sbx_relay_pollfds(relay, pfds + 1) : 0;
        pfds[0] = (struct pollfd){sfd, POLLIN, 0};
        if (poll(pfds, n + 1, -1) < 0 && errno != EINTR)
            sbx_die_errno("init", "poll");
        if ((pfds[0].revents & POLLIN) && handle_signals(sfd, cmd, status_fd))
            _exit(0); /* the kernel now kills what is left in the namespace */
        if (relay != NULL)
            sbx_relay_dispatch(relay, pfds + 1, n);
    }
}
