/*
 * The real host runtime for benchmarks that drive it in-process (config,
 * the sandbox-seccomp plugin, database, event log, sessions: what
 * `agentd serve` opens), in a scratch data directory. Shared by
 * sessions_bench and line_path_bench. Thread: the caller's, which runs the
 * host loop.
 */
#ifndef AGENTD_BENCH_HOST_H
#define AGENTD_BENCH_HOST_H

#include <stddef.h>

#include "core/context.h"
#include "sessions/runtime.h"

typedef struct bench_host {
    host_ctx_t ctx;
    host_runtime_t rt;
} bench_host_t;

/* dir := given, or /tmp/<name>-<pid>; created (0700). 0, or -1 with the
 * reason on stderr. */
int bench_scratch_dir(const char *name, const char *given, char *dir, size_t len);

/* Opens the runtime with data in <dir>/var; extra_json: more top-level
 * config members (", \"limits\": {...}"), or "". The loop is turned a few
 * times so that start-up work settles. 0, or -1 with the reason on
 * stderr. */
int bench_host_open(bench_host_t *h, const char *name, const char *dir, const char *extra_json);

/* Closes the runtime, stops the plugins, frees the context. */
void bench_host_close(bench_host_t *h);

/* rm -rf dir (a scratch directory this bench made). */
void bench_rmtree(const char *dir);

#endif
