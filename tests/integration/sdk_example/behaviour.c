/*
 * sdk_example.behaviour: drives the notify-example plugin through a fake
 * host, the way the daemon will: dlopen, descriptor, init with settings,
 * subscribe, events until the plugin says AGENTD_EAGAIN, timer ticks that
 * log one line each and resume the flow, stop (flushes), fini (frees all).
 *
 *   sdk-example-behaviour PLUGIN.so
 *
 * The fake host's timer never fires by itself: the test fires it, so the
 * run is deterministic. Memory goes through the host API and is counted.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/agentd.h>

static int passed, failed;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (cond) {                                        \
            passed++;                                      \
        } else {                                           \
            failed++;                                      \
            printf("FAILED (line %d): ", __LINE__);        \
            printf(__VA_ARGS__);                           \
            printf("\n");                                  \
        }                                                  \
    } while (0)

/* ---- the fake host -------------------------------------------------------- */

struct agentd_host {
    int unused;
};
struct agentd_timer {
    agentd_timer_cb cb;
    void *ud;
    uint64_t timeout, repeat;
    int active;
};

static struct agentd_host fake_host;
static struct agentd_timer the_timer; /* the example uses at most one */
static int timer_starts;
static long live_allocations;
static char lines[64][512];
static int line_count;
static agentd_log_level_t last_level;

static void fake_log(agentd_host_t *host, agentd_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("  plugin log [%d]: %s\n", (int)level, buf);
    if (line_count < 64)
        snprintf(lines[line_count++], sizeof lines[0], "%s", buf);
    last_level = level;
}

static void *fake_malloc(agentd_host_t *host, size_t size)
{
    void *p = malloc(size);
    if (p != NULL)
        live_allocations++;
    return p;
}

static void *fake_calloc(agentd_host_t *host, size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p != NULL)
        live_allocations++;
    return p;
}

static void *fake_realloc(agentd_host_t *host, void *ptr, size_t size)
{
    void *p = realloc(ptr, size);
    if (p != NULL && ptr == NULL)
        live_allocations++;
    return p;
}

static void fake_free(agentd_host_t *host, void *ptr)
{
    if (ptr != NULL)
        live_allocations--;
    free(ptr);
}

static uint64_t fake_now(agentd_host_t *host)
{
    return 0;
}

static int fake_timer_start(agentd_host_t *host, uint64_t timeout_ms, uint64_t repeat_ms,
                            agentd_timer_cb cb, void *ud, agentd_timer_t **out)
{
    if (the_timer.active)
        return AGENTD_EBUSY; /* the example should never need two */
    the_timer = (struct agentd_timer){cb, ud, timeout_ms, repeat_ms, 1};
    timer_starts++;
    *out = &the_timer;
    return 0;
}

static void fake_timer_close(agentd_timer_t *t)
{
    if (t != NULL)
        t->active = 0;
}

/* Fires the timer once, as the loop would after `repeat` ms. */
static int fire_timer(void)
{
    if (!the_timer.active)
        return 0;
    the_timer.cb(the_timer.ud);
    if (the_timer.active && the_timer.repeat == 0)
        the_timer.active = 0;
    return 1;
}

static int fake_post(agentd_host_t *host, agentd_post_cb cb, void *ud)
{
    return AGENTD_ENOTSUP;
}

static agentd_host_api_t fake_api = {
    .size = sizeof(agentd_host_api_t),
    .abi_major = AGENTD_ABI_MAJOR,
    .abi_minor = AGENTD_ABI_MINOR,
    .log = fake_log,
    .malloc = fake_malloc,
    .calloc = fake_calloc,
    .realloc = fake_realloc,
    .free = fake_free,
    .now_ms = fake_now,
    .timer_start = fake_timer_start,
    .timer_close = fake_timer_close,
    .post = fake_post,
};

/* ---- the notifier's flow ---------------------------------------------------- */

static int resumes;
static void on_resume(void *ctx)
{
    CHECK(ctx == &resumes, "resume got its context back");
    resumes++;
}

static int stop_status = 1;
static void on_stopped(void *ud, int status)
{
    stop_status = status;
}

static int send_event(const agentd_notify_vtable_t *vt, void *self, uint64_t seq)
{
    static const char data[] = "{\"text\":\"hello\"}";
    agentd_event_view_t ev = {
        .size = sizeof ev,
        .session_id = "s1",
        .seq = seq,
        .ts_ms = 1700000000000ull,
        .type = "agent.text",
        .data_json = data,
        .data_len = sizeof data - 1,
    };
    return vt->on_event(self, &ev);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 2;
    }
    void *dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        printf("FAILED: dlopen: %s\n", dlerror());
        return 1;
    }
    const agentd_plugin_t *d = dlsym(dl, AGENTD_PLUGIN_SYMBOL);
    CHECK(d != NULL, "exports %s", AGENTD_PLUGIN_SYMBOL);
    if (d == NULL)
        return 1;
    CHECK(d->magic == AGENTD_PLUGIN_MAGIC && d->abi_major == 1 && d->size == sizeof *d,
          "descriptor header");
    CHECK(d->kind == AGENTD_KIND_NOTIFY && strcmp(d->id, "notify-example") == 0,
          "kind notify, id notify-example");
    CHECK(d->config_field_count == 4 && d->config_fields[0].size == sizeof(agentd_config_field_t),
          "four settings");
    const agentd_notify_vtable_t *vt = d->vtable;
    CHECK(vt->size == sizeof *vt && vt->subscribe != NULL && vt->on_event != NULL,
          "notify vtable");

    /* Settings the host would pass: validated, defaults filled in. */
    static const char cfg[] = "{\"prefix\":\"ci\",\"level\":1,\"queue_size\":3,\"interval_ms\":50}";
    void *self = NULL;
    agentd_err_t err = {{0}};
    int rc = d->init(&fake_api, &fake_host, cfg, sizeof cfg - 1, &self, &err);
    CHECK(rc == 0 && self != NULL, "init: %d %s", rc, err.msg);
    if (rc != 0)
        return 1;
    vt->subscribe(self, on_resume, &resumes);
    line_count = 0;

    /* Three events fit the queue of 3; the fourth is "not now". */
    for (uint64_t seq = 1; seq <= 3; seq++)
        CHECK(send_event(vt, self, seq) == 0, "event %llu taken", (unsigned long long)seq);
    CHECK(send_event(vt, self, 4) == AGENTD_EAGAIN, "event 4: AGENTD_EAGAIN when full");
    CHECK(line_count == 0, "nothing logged before the timer runs");
    CHECK(the_timer.active && the_timer.timeout == 50 && the_timer.repeat == 50,
          "a 50 ms repeating timer runs while events wait");

    /* One tick: one line, room for one event, so the host is resumed. */
    fire_timer();
    CHECK(line_count == 1 && strcmp(lines[0], "ci: session s1 #1 agent.text (16 bytes of data)") == 0,
          "first tick logs event 1 with the prefix: \"%s\"", line_count ? lines[0] : "");
    CHECK(last_level == AGENTD_LOG_WARN, "at the configured level (1, warn)");
    CHECK(resumes == 1, "resume called once room was made (%d)", resumes);
    CHECK(send_event(vt, self, 4) == 0, "event 4 taken after resume");
    CHECK(send_event(vt, self, 5) == AGENTD_EAGAIN, "event 5: full again");

    /* Drain: one line per tick, in order; the timer stops when idle. */
    int ticks = 0;
    while (fire_timer() && ticks < 10)
        ticks++;
    CHECK(line_count == 4, "events 1-4 logged (%d lines)", line_count);
    CHECK(line_count == 4 && strstr(lines[3], "#4 ") != NULL, "in order");
    CHECK(!the_timer.active, "the timer is closed when the queue is empty");
    CHECK(resumes == 2, "resumed again after the second EAGAIN (%d)", resumes);

    /* Stop flushes what is queued, then reports done. */
    CHECK(send_event(vt, self, 5) == 0 && send_event(vt, self, 6) == 0, "events 5, 6 taken");
    d->stop(self, on_stopped, NULL);
    CHECK(stop_status == 0, "stop called done(0)");
    CHECK(line_count >= 6 && strstr(lines[5], "#6 ") != NULL, "stop flushed events 5 and 6");
    CHECK(!the_timer.active, "no timer after stop");
    d->fini(self);
    CHECK(live_allocations == 0, "fini freed everything (%ld left)", live_allocations);

    /* A plugin that checks its settings itself too: queue_size 0. */
    static const char bad[] = "{\"prefix\":\"x\",\"level\":2,\"queue_size\":0,\"interval_ms\":5}";
    memset(&err, 0, sizeof err);
    self = NULL;
    rc = d->init(&fake_api, &fake_host, bad, sizeof bad - 1, &self, &err);
    CHECK(rc == AGENTD_ECONFIG && strstr(err.msg, "queue_size") != NULL,
          "init refuses queue_size 0 with a message: %d \"%s\"", rc, err.msg);
    CHECK(live_allocations == 0, "a failed init frees everything (%ld left)", live_allocations);

    /* Not JSON at all. */
    memset(&err, 0, sizeof err);
    rc = d->init(&fake_api, &fake_host, "{", 1, &self, &err);
    CHECK(rc == AGENTD_ECONFIG && err.msg[0] != '\0', "init refuses text that is not JSON");

    dlclose(dl);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
