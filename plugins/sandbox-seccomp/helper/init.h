/*
 * The sandbox's pid 1. It starts the command (in its own session: setsid),
 * reaps whatever gets reparented to it, forwards the signals the plugin
 * sends, runs the proxy relay, and when the command ends it reports the
 * command's status to the outer helper and exits, which makes the kernel
 * kill every process left in the pid namespace: nothing outlives the
 * command.
 */
#ifndef SBX_INIT_H
#define SBX_INIT_H

#include "launch.h"
#include "relay.h"

#include <sys/types.h>

/* The status record pid 1 sends the outer helper. */
typedef struct sbx_status {
    int signaled; /* 1: killed by `value`; 0: exited with `value` */
    int value;
} sbx_status_t;

/* Signals the outer helper forwards to pid 1 (and pid 1 to the command). */
extern const int sbx_forwarded_signals[];
extern const size_t sbx_forwarded_signal_count;

/* Block the forwarded signals and SIGCHLD, for signalfd. Dies on error. */
void sbx_init_block_signals(void);

/* Start the command and run until it ends; never returns. status_fd gets
 * one sbx_status_t. */
_Noreturn void sbx_init_run(const sbx_launch_t *l, sbx_relay_t *relay, int status_fd);

#endif
