/*
 * Host memory per idle session: the real runtime (config, plugins,
 * database, event log, session layer: host_runtime_open, as `agentd serve`
 * opens it) with N sessions created through the session C API without a
 * prompt, so no agent runs; each has its settings, directories, database row,
 * `session.created` event and timers, as an idle session does.
 *
 *   sessions_bench [--sessions N] [--dir DIR]
 *
 * Printed: the resident set and the heap before and after the sessions are
 * created (and their events committed), per session; the same after the
 * runtime is closed and reopened, which loads the N sessions from the
 * database as a restarted host does; and the time a create takes. Target:
 * under 100 KB per idle session with 1,000 open.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "core/context.h"
#include "sessions/runtime.h"

#include "bench_host.h"

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long pages = 0, rss = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static long heap_bytes(void)
{
    struct mallinfo2 m = mallinfo2();
    return (long)m.uordblks;
}

static void report(const char *what, unsigned n, long rss0, long rss1, long heap0, long heap1)
{
    printf("%s\n", what);
    printf("  RSS  %6ld -> %6ld KiB: %+ld KiB, %.1f KiB per session\n", rss0, rss1,
           rss1 - rss0, (double)(rss1 - rss0) / (double)n);
    printf("  heap %6ld -> %6ld KiB: %+ld KiB, %.1f KiB per session\n", heap0 / 1024,
           heap1 / 1024, (heap1 - heap0) / 1024, (double)(heap1 - heap0) / 1024.0 / (double)n);
}

int main(int argc, char **argv)
{
    unsigned n = 1000;
    const char *given = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sessions") == 0 && i + 1 < argc)
            n = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            given = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--sessions N] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (n == 0 || n > 9984) {
        fprintf(stderr, "sessions_bench: --sessions from 1 to 9984\n");
        return 2;
    }
    char dir[256], limits[64];
    if (bench_scratch_dir("sessions_bench", given, dir, sizeof dir) != 0)
        return 1;
    snprintf(limits, sizeof limits, ", \"limits\": {\"max_sessions\": %u}",
             n + 16 > 10000 ? 10000 : n + 16);

    bench_host_t h;
    if (bench_host_open(&h, "sessions_bench", dir, limits) != 0)
        return 1;
    malloc_trim(0);
    long rss0 = rss_kib(), heap0 = heap_bytes();
    json_t *settings = json_object();
    char id[HOST_SESSION_ID_MAX], name[32];
    agentd_err_t err = {{0}};
    uint64_t t0 = uv_hrtime();
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof name, "bench-%u", i);
        json_object_set_new(settings, "name", json_string(name));
        if (host_sessions_create(h.rt.sessions, settings, id, &err) != 0) {
            fprintf(stderr, "sessions_bench: create %u: %s\n", i, err.msg);
            return 1;
        }
        /* Sessions come over time, not in one loop iteration. */
        if (i % 50 == 49)
            uv_run(&h.ctx.loop, UV_RUN_NOWAIT);
    }
    double create_ms = (double)(uv_hrtime() - t0) / 1e6;
    json_decref(settings);
    host_event_log_flush(h.rt.log, NULL);
    uv_run(&h.ctx.loop, UV_RUN_NOWAIT);
    malloc_trim(0);
    long rss1 = rss_kib(), heap1 = heap_bytes();
    host_event_log_stats_t st;
    host_event_log_stats(h.rt.log, &st);
    json_t *list = host_sessions_list(h.rt.sessions);
    size_t listed = json_array_size(list);
    json_decref(list);
    printf("sessions_bench: %u idle sessions (created without a prompt: no agent runs)\n", n);
    printf("create: %.1f ms in all, %.3f ms per session\n", create_ms, create_ms / n);
    report("after create (host_sessions_create x N, events committed):", n, rss0, rss1, heap0,
           heap1);
    printf("  event log's own state: %.0f bytes per session\n", (double)st.memory / n);
    bench_host_close(&h);
    if (listed != n) {
        fprintf(stderr, "sessions_bench: %zu sessions listed, %u created\n", listed, n);
        return 1;
    }

    /* A restarted host: the same sessions loaded from the database. */
    malloc_trim(0);
    long rss2 = rss_kib(), heap2 = heap_bytes();
    if (bench_host_open(&h, "sessions_bench", dir, limits) != 0)
        return 1;
    malloc_trim(0);
    long rss3 = rss_kib(), heap3 = heap_bytes();
    list = host_sessions_list(h.rt.sessions);
    listed = json_array_size(list);
    json_decref(list);
    report("after a restart (runtime opened over the N stored sessions; includes the "
           "runtime itself):", n, rss2, rss3, heap2, heap3);
    bench_host_close(&h);
    if (listed != n) {
        fprintf(stderr, "sessions_bench: %zu sessions loaded, %u stored\n", listed, n);
        return 1;
    }
    double per = (double)(rss1 - rss0) / (double)n;
    printf("result: %.1f KiB per idle session (target < 100 KiB): %s\n", per,
           per < 100.0 ? "ok" : "OVER");
    if (given == NULL)
        bench_rmtree(dir);
    return 0;
}
