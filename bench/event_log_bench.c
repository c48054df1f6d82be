/*
 * Events per second from an agent's stdout to a listener, the way a session
 * runs them, and the event log's memory per idle session.
 *
 *   event_log_bench [--lines N] [--sync normal|full] [--sessions N]
 *
 * Throughput: the bench starts itself as a fake agent (--agent N) that
 * prints Claude Code stream-json lines as fast as it can into a pipe. On
 * one loop thread, pinned to one core (the fake agent gets the other), each
 * read goes through the line splitter, the normalizer, json_dumpb and a
 * durable append (SQLite WAL, synchronous=NORMAL as the host opens it, or
 * FULL: an fsync per commit); the loop's check phase commits one
 * transaction per iteration and fans out to one listener, which checks that
 * seqs arrive gapless and in order. Printed: events, seconds, events/s
 * (wall, and per CPU-second of the loop thread), commits and events per
 * commit.
 *
 * Memory: 1,000 sessions (--sessions) get 5 events each and go idle; the
 * resident set and the heap are measured before and after, and the log's
 * own accounting is printed too.
 */
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "agent/stream_json.h"
#include "events/event_log.h"
#include "store/db.h"

#define SESSION "bench-5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c"

/* ---- the fake agent ------------------------------------------------------ */

/* Lines shaped like Claude Code's (CLI 2.1.x), one content block each, the
 * way it prints them; the line's number replaces "%lu" in each. */
static const char *const LINES[] = {
    "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":"
    "\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":"
    "[{\"type\":\"text\",\"text\":\"Step %lu: I'll read the parser first, then add the "
    "missing test for the empty-input case and run the suite.\"}],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":4,\"cache_creation_input_tokens\":"
    "1520,\"cache_read_input_tokens\":13700,\"output_tokens\":112,\"service_tier\":"
    "\"standard\"}},\"parent_tool_use_id\":null,\"session_id\":"
    "\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"uuid\":\"8a1f2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d\"}",

    "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":"
    "\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":"
    "[{\"type\":\"tool_use\",\"id\":\"toolu_%lu\",\"name\":\"Bash\",\"input\":{\"command\":"
    "\"cd /work/ws && npm test -- --runInBand\",\"description\":\"Run the test suite\"}}],"
    "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":4,"
    "\"output_tokens\":87,\"service_tier\":\"standard\"}},\"parent_tool_use_id\":null,"
    "\"session_id\":\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"uuid\":"
    "\"1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e\"}",

    "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":"
    "\"toolu_%lu\",\"type\":\"tool_result\",\"content\":\"PASS src/parser.test.js\\n  "
    "parser\\n    \\u2713 parses an empty document (3 ms)\\n    \\u2713 rejects a "
    "trailing comma (1 ms)\\n\\nTests: 2 passed, 2 total\",\"is_error\":false}]},"
    "\"parent_tool_use_id\":null,\"session_id\":\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\","
    "\"uuid\":\"2c3d4e5f-6a7b-8c9d-0e1f-2a3b4c5d6e7f\"}",

    "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":"
    "\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":"
    "[{\"type\":\"thinking\",\"thinking\":\"Thought %lu: the failing case is the empty input;"
    " the tokenizer returns NULL there.\",\"signature\":\"EqQBCkYIBxgCKkBx\"}],"
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":4,"
    "\"output_tokens\":40}},\"parent_tool_use_id\":null,\"session_id\":"
    "\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"uuid\":\"3d4e5f6a-7b8c-9d0e-1f2a-3b4c5d6e7f80\"}",
};

static const char RESULT[] =
    "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":15234,"
    "\"duration_api_ms\":12873,\"num_turns\":%lu,\"result\":\"Done.\",\"session_id\":"
    "\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"total_cost_usd\":0.0421365,\"usage\":"
    "{\"input_tokens\":12,\"cache_creation_input_tokens\":4613,\"cache_read_input_tokens\":"
    "41200,\"output_tokens\":389},\"permission_denials\":[],\"uuid\":\"u\"}";

static void pin(int cpu);

static int agent_main(unsigned long lines)
{
    /* It inherited the loop's core: take the other one. */
    if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
        pin(1);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return 1;
    for (unsigned long i = 0; i < lines; i++) {
        if (cap - len < 4096) {
            for (size_t off = 0; off < len;) {
                ssize_t w = write(1, buf + off, len - off);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    return 1;
                off += (size_t)w;
            }
            len = 0;
        }
        const char *tmpl = i % 50 == 49 ? RESULT : LINES[i % 4];
        const char *hole = strstr(tmpl, "%lu");
        size_t head = (size_t)(hole - tmpl);
        memcpy(buf + len, tmpl, head);
        len += head;
        len += (size_t)snprintf(buf + len, cap - len, "%lu", i);
        size_t tail = strlen(hole + 3);
        memcpy(buf + len, hole + 3, tail);
        len += tail;
        buf[len++] = '\n';
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(1, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 1;
        off += (size_t)w;
    }
    free(buf);
    return 0;
}

/* ---- the host side ------------------------------------------------------- */

typedef struct bench {
    uv_loop_t *loop;
    host_event_log_t *log;
    uv_process_t proc;
    uv_pipe_t out;
    host_line_splitter_t split;
    char readbuf[256 * 1024];
    char *dump;                 /* json_dumpb's reusable buffer */
    size_t dump_cap;
    const char *line;           /* the line being normalized: raw for its first event */
    size_t line_len;
    int line_events;
    unsigned long lines, events_appended, listened;
    uint64_t last_seq;
    int errors, exited;
} bench_t;

static void on_agent_event(void *ud, const char *type, json_t *data)
{
    bench_t *b = ud;
    size_t n = json_dumpb(data, b->dump, b->dump_cap, JSON_COMPACT);
    if (n > b->dump_cap) {
        char *nb = realloc(b->dump, n);
        if (nb == NULL) {
            b->errors++;
            return;
        }
        b->dump = nb;
        b->dump_cap = n;
        n = json_dumpb(data, b->dump, b->dump_cap, JSON_COMPACT);
    }
    /* The raw line goes with the first event of its line only: the others
     * would store the same bytes again. */
    const char *raw = b->line_events++ == 0 ? b->line : NULL;
    agentd_err_t err;
    if (host_event_log_append(b->log, SESSION, type, b->dump, n, raw,
                              raw != NULL ? b->line_len : 0, NULL, &err) != 0) {
        if (b->errors++ == 0)
            fprintf(stderr, "append: %s\n", err.msg);
        return;
    }
    b->events_appended++;
}

static void on_line(void *ud, const char *line, size_t len, int truncated)
{
    bench_t *b = ud;
    b->lines++;
    b->line = line;
    b->line_len = len;
    b->line_events = 0;
    json_t *parsed = NULL;
    host_agent_normalize(line, len, truncated, on_agent_event, b, &parsed);
    json_decref(parsed);
}

static void on_listen(void *ud, const host_event_t *ev)
{
    bench_t *b = ud;
    if (ev->seq != b->last_seq + 1)
        b->errors++;
    b->last_seq = ev->seq;
    b->listened++;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    bench_t *b = h->data;
    (void)suggested;
    buf->base = b->readbuf;
    buf->len = sizeof b->readbuf;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    bench_t *b = s->data;
    if (n > 0) {
        if (host_line_splitter_feed(&b->split, buf->base, (size_t)n, on_line, b) != 0)
            b->errors++;
    } else if (n < 0) {
        host_line_splitter_finish(&b->split, on_line, b);
        uv_close((uv_handle_t *)s, NULL);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    bench_t *b = p->data;
    b->exited = 1;
    if (status != 0 || sig != 0)
        b->errors++;
    uv_close((uv_handle_t *)p, NULL);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int open_store(const char *dir, const char *name, const char *sync, uv_loop_t *loop,
                      host_db_t **db, host_event_log_t **log)
{
    char path[512];
    agentd_err_t err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (host_db_open(path, db, &err) != 0 ||
        (sync != NULL && strcmp(sync, "full") == 0 &&
         host_db_exec(*db, "PRAGMA synchronous=FULL", &err) != 0) ||
        host_event_log_open(loop, *db, NULL, log, &err) != 0) {
        fprintf(stderr, "event_log_bench: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void close_store(uv_loop_t *loop, host_db_t *db, host_event_log_t *log)
{
    host_event_log_close(log);
    uv_run(loop, UV_RUN_DEFAULT);
    host_db_close(db);
}

static int throughput(const char *dir, const char *self, unsigned long lines, const char *sync)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    host_db_t *db;
    bench_t *b = calloc(1, sizeof *b);
    if (b == NULL || open_store(dir, "throughput.db", sync, &loop, &db, &b->log) != 0)
        return 1;
    b->loop = &loop;
    b->dump_cap = 4096;
    b->dump = malloc(b->dump_cap);
    if (b->dump == NULL)
        return 1;
    host_line_splitter_init(&b->split, 0);
    host_event_log_listen(b->log, on_listen, b, NULL);

    char count[32];
    snprintf(count, sizeof count, "%lu", lines);
    char *args[] = {(char *)self, "--agent", count, NULL};
    uv_pipe_init(&loop, &b->out, 0);
    b->out.data = b;
    b->proc.data = b;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&b->out},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t po = {.file = self, .args = args, .exit_cb = on_exit_cb,
                               .stdio_count = 3, .stdio = stdio};
    double cpu0 = cpu_seconds();
    uint64_t t0 = uv_hrtime();
    int rc = uv_spawn(&loop, &b->proc, &po);
    if (rc != 0) {
        fprintf(stderr, "event_log_bench: spawn %s: %s\n", self, uv_strerror(rc));
        return 1;
    }
    uv_read_start((uv_stream_t *)&b->out, on_alloc, on_read);
    uv_run(&loop, UV_RUN_DEFAULT);
    agentd_err_t err;
    if (host_event_log_flush(b->log, &err) != 0) {
        fprintf(stderr, "event_log_bench: %s\n", err.msg);
        b->errors++;
    }
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    host_event_log_stats_t st;
    host_event_log_stats(b->log, &st);

    printf("throughput (synchronous=%s): %lu lines -> %lu events appended, %lu listened\n",
           sync, b->lines, b->events_appended, b->listened);
    printf("  %.3f s wall, %.3f s CPU on the loop thread\n", secs, cpu);
    printf("  %.0f events/s (wall), %.0f events per CPU-second\n",
           (double)b->listened / secs, (double)b->listened / cpu);
    printf("  %llu commits, %.1f events per commit\n", (unsigned long long)st.commits,
           st.commits ? (double)st.committed / (double)st.commits : 0.0);
    printf("  errors: %d (seq gaps, failed appends, agent exit)\n", b->errors);

    int bad = b->errors != 0 || b->listened != b->events_appended || b->listened < lines;
    host_line_splitter_free(&b->split);
    close_store(&loop, db, b->log);
    uv_loop_close(&loop);
    free(b->dump);
    free(b);
    return bad;
}

/* ---- memory per idle session -------------------------------------------- */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int memory(const char *dir, unsigned long sessions)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    host_db_t *db;
    host_event_log_t *log;
    if (open_store(dir, "memory.db", NULL, &loop, &db, &log) != 0)
        return 1;
    malloc_trim(0);
    long rss0 = rss_kb();
    struct mallinfo2 m0 = mallinfo2();
    char id[64];
    agentd_err_t err;
    static const char *const types[] = {"session.state", "agent.init", "agent.text",
                                        "agent.tool_use", "agent.result"};
    static const char *const data[] = {
        "{\"state\":\"running\"}", "{\"session_id\":\"x\",\"cwd\":\"/work/ws\"}",
        "{\"text\":\"I'll create hello.txt.\"}",
        "{\"id\":\"toolu_1\",\"name\":\"Write\",\"input\":{\"file_path\":\"hello.txt\"}}",
        "{\"subtype\":\"success\",\"is_error\":false,\"total_cost_usd\":0.01}"};
    for (unsigned long i = 0; i < sessions; i++) {
        snprintf(id, sizeof id, "%08lx-8d7b-4c1e-9a3f-2b6d8e1f0a7c", i);
        for (int k = 0; k < 5; k++) {
            if (host_event_log_append(log, id, types[k], data[k], strlen(data[k]), data[k],
                                      strlen(data[k]), NULL, &err) != 0) {
                fprintf(stderr, "event_log_bench: %s\n", err.msg);
                return 1;
            }
        }
        /* Sessions come and go over time, not in one batch. */
        if (i % 50 == 49)
            uv_run(&loop, UV_RUN_NOWAIT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    malloc_trim(0);
    long rss1 = rss_kb();
    struct mallinfo2 m1 = mallinfo2();
    host_event_log_stats_t st;
    host_event_log_stats(log, &st);
    long heap = (long)m1.uordblks - (long)m0.uordblks;
    printf("memory: %lu idle sessions, 5 events each\n", sessions);
    printf("  RSS delta %ld KiB: %.0f bytes per session (includes SQLite's page cache)\n",
           rss1 - rss0, (double)(rss1 - rss0) * 1024.0 / (double)sessions);
    printf("  heap delta %ld bytes: %.0f bytes per session\n", heap,
           (double)heap / (double)sessions);
    printf("  event log's own state: %zu bytes, %.0f bytes per session (%zu sessions known)\n",
           st.memory, (double)st.memory / (double)sessions, st.sessions);
    close_store(&loop, db, log);
    uv_loop_close(&loop);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long lines = 300000, sessions = 1000;
    const char *sync = "normal";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--agent") == 0 && i + 1 < argc)
            return agent_main(strtoul(argv[i + 1], NULL, 10));
        if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc)
            lines = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--sessions") == 0 && i + 1 < argc)
            sessions = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--sync") == 0 && i + 1 < argc)
            sync = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--lines N] [--sync normal|full] [--sessions N]\n",
                    argv[0]);
            return 2;
        }
    }
    char self[4096];
    size_t self_len = sizeof self;
    if (uv_exepath(self, &self_len) != 0) {
        fprintf(stderr, "event_log_bench: cannot find its own executable\n");
        return 1;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/agentd-bench-XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("event_log_bench: mkdtemp");
        return 1;
    }
    /* The loop on one core; the fake agent moves to the other one. */
    pin(0);
    int rc = throughput(dir, self, lines, sync);
    rc |= memory(dir, sessions);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "event_log_bench: could not remove %s\n", dir);
    return rc;
}
