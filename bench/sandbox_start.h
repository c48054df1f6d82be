/*
 * The sandbox benches' shared driver: a sandbox provider loaded through the
 * host's registry and driven through the host API, as the daemon does:
 *
 *   create -> exec a command -> first byte of its stdout (it runs) -> exit
 *   -> destroy, `runs` times one after the other,
 *
 * recording create-to-first-byte and create-to-create-callback times (ms).
 * Used by sandbox_seccomp_bench.c and sandbox_ssh_bench.c.
 */
#ifndef AGENTD_BENCH_SANDBOX_START_H
#define AGENTD_BENCH_SANDBOX_START_H

#include <stdint.h>

#include "core/context.h"
#include "plugins/profiles.h"
#include "plugins/registry.h"

typedef struct bench_sandbox {
    host_ctx_t ctx;
    host_profile_t prof;
    const agentd_sandbox_vtable_t *vt;
    char workspace[256];         /* given to every sandbox */
    char id[64];
    int runs, done;
    double *to_running, *to_created; /* runs entries each, or NULL */
    uint64_t t0;
    agentd_sandbox_t *sb;
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    int running, exited, out_open;
    int idle;          /* keep the sandbox and its command after the first
                        * byte (the loop stops there), to measure it idle */
    int stopping;      /* the idle command is being killed on purpose */
    int failed;
} bench_sandbox_t;

/* Loads config (JSON text) and resolves the profile; -1 with diagnostics
 * printed. The caller sets workspace. */
int bench_sandbox_open(bench_sandbox_t *b, const char *config, const char *profile);

/* Runs b->runs creates, one after the other, until done or failed, then
 * until the last sandbox is destroyed. 0, or -1 (the reason was printed). */
int bench_sandbox_run(bench_sandbox_t *b);

/* Stops the plugins (within stop_ms) and closes the context. */
void bench_sandbox_close(bench_sandbox_t *b, unsigned stop_ms);

/* Sorts v and prints its median, p90, min and max; returns the median. */
double bench_report(const char *what, double *v, int n);

#endif
