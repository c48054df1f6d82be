/*
 * The cost of one agent line inside agentd: the session layer's line
 * handler (session_agent_line, what the runner calls for each stdout line)
 * over the real runtime (config, database, secret store, event log,
 * sessions, as `agentd serve` opens it): normalize, build the event, redact,
 * append; the loop's check phase commits and fans out to one listener.
 * No agent process, no socket: only the host's own work per line.
 *
 *   line_path_bench [--lines N] [--kind flood|claude] [--secrets N] [--batch N]
 *                   [--dir DIR]
 *
 * --kind flood: the line api_bench's fake agent floods with (a short
 * assistant text line); claude: a Claude Code 2.1 assistant text line
 * (~600 bytes, usage and ids around the text). --secrets N: N secret values
 * in the store, so every event is scanned by the redactor (0: the store is
 * empty). --batch: lines per loop iteration (what one read of the agent's
 * pipe brings; default 64).
 *
 * Printed: CPU ns per line (thread CPU time of the loop), and malloc calls
 * per line (every allocation of the process, counted by wrapping the
 * allocator; not in sanitizer builds). For instruction counts, run it under
 * callgrind, collecting only the measured part:
 *   valgrind --tool=callgrind --toggle-collect=run_lines bin/line_path_bench --lines 20000
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "core/context.h"
#include "secrets/secrets.h"
#include "sessions/runtime.h"
#include "sessions/session_internal.h"

#include "bench_host.h"

/* ---- counting allocations ------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNTING 0
static unsigned long allocs(void)
{
    return 0;
}
#else
#define COUNTING 1
/* The process's allocator, wrapped: a bench-only counter (glibc's own
 * entry points do the work). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static unsigned long n_allocs;

void *malloc(size_t n)
{
    n_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    n_allocs++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    n_allocs++;
    return __libc_realloc(p, n);
}

static unsigned long allocs(void)
{
    return n_allocs;
}
#endif

/* ---- lines ------------------------------------------------------------------ */

/* As tests/integration/api/fake_agent.py prints them (Python's json.dumps). */
static const char FLOOD[] =
    "{\"type\": \"assistant\", \"session_id\": \"fake-session-0001\", \"message\": {\"role\": "
    "\"assistant\", \"content\": [{\"type\": \"text\", \"text\": \"line %lu 1764000000.123456\"}]}}";

static const char CLAUDE[] =
    "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":"
    "\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":"
    "[{\"type\":\"text\",\"text\":\"Step %lu: I'll read the parser first, then add the "
    "missing test for the empty-input case and run the suite.\\n\\nThe tokenizer's "
    "`next_token()` returns NULL on \\\"\\\" \\u2014 that is the bug.\"}],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":4,\"cache_creation_input_tokens\":"
    "1520,\"cache_read_input_tokens\":13700,\"output_tokens\":112,\"service_tier\":"
    "\"standard\"}},\"parent_tool_use_id\":null,\"session_id\":"
    "\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"uuid\":\"8a1f2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d\"}";

/* ---- the host ------------------------------------------------------------------ */

typedef struct bench {
    bench_host_t h;
    host_session_t *s;
    unsigned long listened;
} bench_t;

static void on_listen(void *ud, const host_event_t *ev)
{
    (void)ev;
    ((bench_t *)ud)->listened++;
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The measured part (callgrind's --toggle-collect=run_lines). */
__attribute__((noinline)) void run_lines(bench_t *b, const char *tmpl, unsigned long n,
                                         unsigned batch);
__attribute__((noinline)) void run_lines(bench_t *b, const char *tmpl, unsigned long n,
                                         unsigned batch)
{
    char line[2048];
    const char *hole = strstr(tmpl, "%lu");
    size_t head = (size_t)(hole - tmpl), tail = strlen(hole + 3);
    memcpy(line, tmpl, head);
    for (unsigned long i = 0; i < n; i++) {
        size_t len = head + (size_t)snprintf(line + head, sizeof line - head, "%lu", i);
        memcpy(line + len, hole + 3, tail);
        len += tail;
        session_agent_line(b->s, line, len, 0);
        if (i % batch == batch - 1)
            uv_run(&b->h.ctx.loop, UV_RUN_NOWAIT); /* check phase: commit, fan-out */
    }
    uv_run(&b->h.ctx.loop, UV_RUN_NOWAIT);
}

int main(int argc, char **argv)
{
    unsigned long lines = 200000;
    unsigned nsecrets = 0, batch = 64;
    const char *kind = "flood", *given = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc)
            lines = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc)
            kind = argv[++i];
        else if (strcmp(argv[i], "--secrets") == 0 && i + 1 < argc)
            nsecrets = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            given = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--lines N] [--kind flood|claude] [--secrets N] "
                            "[--batch N] [--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    const char *tmpl = strcmp(kind, "claude") == 0 ? CLAUDE : strcmp(kind, "flood") == 0 ? FLOOD
                                                                                         : NULL;
    if (tmpl == NULL || lines == 0 || batch == 0 || nsecrets > 1000) {
        fprintf(stderr, "line_path_bench: --kind flood|claude, --lines and --batch > 0, "
                        "--secrets up to 1000\n");
        return 2;
    }
    char dir[256];
    if (bench_scratch_dir("line_path_bench", given, dir, sizeof dir) != 0)
        return 1;
    bench_t b = {0};
    if (bench_host_open(&b.h, "line_path_bench", dir, "") != 0)
        return 1;
    agentd_err_t err = {{0}};
    for (unsigned i = 0; i < nsecrets; i++) {
        char name[32], value[64];
        snprintf(name, sizeof name, "BENCH_TOKEN_%u", i);
        snprintf(value, sizeof value, "sk-bench-%08x-%u-7f3a9c1e5b2d", i * 2654435761u, i);
        if (host_secrets_set(b.h.rt.secrets, name, value, strlen(value), NULL, &err) != 0) {
            fprintf(stderr, "line_path_bench: secret: %s\n", err.msg);
            return 1;
        }
    }
    json_t *settings = json_pack("{s:s}", "name", "line-path-bench");
    char id[HOST_SESSION_ID_MAX];
    if (settings == NULL || host_sessions_create(b.h.rt.sessions, settings, id, &err) != 0) {
        fprintf(stderr, "line_path_bench: create: %s\n", err.msg);
        return 1;
    }
    json_decref(settings);
    b.s = session_find(b.h.rt.sessions, id);
    host_event_listener_t *l = NULL;
    host_event_log_flush(b.h.rt.log, NULL);
    host_event_log_listen(b.h.rt.log, on_listen, &b, &l);

    /* Warm-up (statements, caches, the session's first rows). */
    run_lines(&b, tmpl, 1000, batch);
    unsigned long a0 = allocs(), l0 = b.listened;
    double t0 = cpu_ns();
    run_lines(&b, tmpl, lines, batch);
    double t1 = cpu_ns();
    unsigned long a1 = allocs(), got = b.listened - l0;

    printf("line_path_bench: %lu %s lines, %u secret(s), %u lines per loop iteration\n", lines,
           kind, nsecrets, batch);
    printf("  cpu: %.0f ns per line (%.2f s)\n", (t1 - t0) / (double)lines, (t1 - t0) / 1e9);
    if (COUNTING)
        printf("  allocations: %.2f per line\n", (double)(a1 - a0) / (double)lines);
    printf("  events fanned out: %lu\n", got);
    host_event_log_unlisten(b.h.rt.log, l);
    bench_host_close(&b.h);
    if (given == NULL)
        bench_rmtree(dir);
    if (got != lines) {
        fprintf(stderr, "line_path_bench: %lu events for %lu lines\n", got, lines);
        return 1;
    }
    return 0;
}
