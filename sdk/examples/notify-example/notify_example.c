/*
 * notify-example: a complete agentd notifier plugin, meant to be copied.
 *
 * What it does: it receives every durable session event (the notify kind,
 * sdk/include/agentd/notify.h) and writes one line per event through the
 * host's log function, at most one line every `interval_ms`, like a
 * notifier that must respect a chat service's rate limit. Events wait in a
 * small bounded queue; when the queue is full, on_event answers
 * AGENTD_EAGAIN ("not now"), the host holds the event, and the plugin calls
 * the host's resume function once a timer has made room. Nothing is
 * dropped and nothing buffers without bound (DESIGN.md, ABI rule 9).
 *
 * What it shows, in order of appearance:
 *   - configuration fields with defaults and bounds, which the host checks
 *     before init and prints in `agentd plugins --verbose`;
 *   - init/stop/fini and the state a plugin keeps;
 *   - the host API: log, malloc/free, timers;
 *   - the notify vtable: subscribe, on_event, backpressure;
 *   - the one exported symbol, the descriptor `agentd_plugin`.
 *
 * The rules it follows (sdk/include/agentd/abi.h): inputs are borrowed, so
 * on_event copies what it keeps; everything runs on the host's loop thread,
 * so no locks; errors are negative AGENTD_E* codes with text in `err`.
 *
 * Build: see CMakeLists.txt (find_package(AgentdSDK)) or Makefile
 * (pkg-config), and README.md.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h> /* any JSON library will do: config arrives as text */

#include <agentd/agentd.h>

#define EXAMPLE_ID "notify-example"
#define EXAMPLE_VERSION "1.0.0"

/* ---- configuration -------------------------------------------------------
 * The settings of this plugin's section of the config file:
 *   "plugins": { "settings": { "notify-example": { "prefix": "...", ... } } }
 * The host validates the section against these fields (types, bounds,
 * required, unknown keys) and fills in the defaults before it calls init, so
 * init can read them without checking again. default_json is JSON text:
 * strings are quoted. */
static const agentd_config_field_t example_fields[] = {
    {
        .size = sizeof(agentd_config_field_t),
        .name = "prefix",
        .type = AGENTD_CONFIG_STRING,
        .default_json = "\"event\"",
        .description = "text at the start of each notification line",
    },
    {
        .size = sizeof(agentd_config_field_t),
        .name = "level",
        .type = AGENTD_CONFIG_INT,
        .default_json = "2",
        .description = "log level of notification lines: 0 error, 1 warn, 2 info, 3 debug",
        .min = AGENTD_LOG_ERROR,
        .max = AGENTD_LOG_DEBUG,
    },
    {
        .size = sizeof(agentd_config_field_t),
        .name = "queue_size",
        .type = AGENTD_CONFIG_INT,
        .default_json = "16",
        .description = "events held before the plugin says \"not now\" (AGENTD_EAGAIN)",
        .min = 1,
        .max = 4096,
    },
    {
        .size = sizeof(agentd_config_field_t),
        .name = "interval_ms",
        .type = AGENTD_CONFIG_INT,
        .default_json = "200",
        .description = "minimum time between two notification lines, in milliseconds",
        .min = 1,
        .max = 60000,
    },
};

/* ---- state -------------------------------------------------------------- */

/* One event, copied out of the borrowed agentd_event_view_t. */
typedef struct example_event {
    char *session_id;
    char *type;
    uint64_t seq;
    size_t data_len;
} example_event_t;

typedef struct example {
    const agentd_host_api_t *api; /* valid until fini returns */
    agentd_host_t *host;

    /* settings */
    char *prefix;
    agentd_log_level_t level;
    uint32_t queue_size;
    uint64_t interval_ms;

    /* a ring buffer of queue_size events */
    example_event_t *queue;
    uint32_t head, count;

    agentd_timer_t *timer;         /* running while the queue is not empty */
    int blocked;                   /* we returned AGENTD_EAGAIN */
    agentd_notify_resume_fn resume; /* from subscribe */
    void *resume_ctx;
    uint64_t delivered;
} example_t;

/* Host-accounted allocation; strings are copied with it too. */
static char *example_strdup(example_t *ex, const char *s)
{
    size_t n = strlen(s != NULL ? s : "") + 1;
    char *copy = ex->api->malloc(ex->host, n);
    if (copy != NULL)
        memcpy(copy, s != NULL ? s : "", n);
    return copy;
}

static void example_event_free(example_t *ex, example_event_t *ev)
{
    ex->api->free(ex->host, ev->session_id);
    ex->api->free(ex->host, ev->type);
    memset(ev, 0, sizeof *ev);
}

/* ---- delivery ----------------------------------------------------------- */

/* "Notify" about the oldest queued event: here, one log line. A real
 * notifier would start an HTTP request (through queue_work for a blocking
 * client, or the host's poll/timer functions for a non-blocking one) and
 * take the next event when it completes. */
static void example_deliver_one(example_t *ex)
{
    example_event_t *ev = &ex->queue[ex->head];
    ex->api->log(ex->host, ex->level, "%s: session %s #%llu %s (%zu bytes of data)",
                 ex->prefix, ev->session_id, (unsigned long long)ev->seq, ev->type,
                 ev->data_len);
    example_event_free(ex, ev);
    ex->head = (ex->head + 1) % ex->queue_size;
    ex->count--;
    ex->delivered++;
}

static void example_on_timer(void *ud)
{
    example_t *ex = ud;
    if (ex->count > 0)
        example_deliver_one(ex);
    if (ex->count == 0) {
        /* Idle: no timer until the next event. Closing a timer from its own
         * callback is allowed; it never runs again. */
        ex->api->timer_close(ex->timer);
        ex->timer = NULL;
    }
    if (ex->blocked && ex->count < ex->queue_size) {
        /* There is room again: ask the host for the event it holds. The
         * host may call on_event from inside resume, so update state first. */
        ex->blocked = 0;
        ex->resume(ex->resume_ctx);
    }
}

/* ---- notify vtable ------------------------------------------------------ */

static void example_subscribe(void *self, agentd_notify_resume_fn resume, void *resume_ctx)
{
    example_t *ex = self;
    ex->resume = resume;
    ex->resume_ctx = resume_ctx;
}

static int example_on_event(void *self, const agentd_event_view_t *view)
{
    example_t *ex = self;

    if (ex->count == ex->queue_size) {
        /* Backpressure: the host keeps this event and offers it again after
         * we call resume. */
        ex->blocked = 1;
        return AGENTD_EAGAIN;
    }
    if (ex->timer == NULL) {
        int rc = ex->api->timer_start(ex->host, ex->interval_ms, ex->interval_ms,
                                      example_on_timer, ex, &ex->timer);
        if (rc < 0)
            return rc; /* e.g. AGENTD_ESTATE while the host shuts down */
    }

    /* The view is borrowed for this call: copy what we keep. A view from a
     * newer or older host may differ in size; fields of ABI minor 0 are
     * always there. */
    example_event_t *slot = &ex->queue[(ex->head + ex->count) % ex->queue_size];
    slot->session_id = example_strdup(ex, view->session_id);
    slot->type = example_strdup(ex, view->type);
    slot->seq = view->seq;
    slot->data_len = view->data_len;
    if (slot->session_id == NULL || slot->type == NULL) {
        example_event_free(ex, slot);
        return AGENTD_ENOMEM;
    }
    ex->count++;
    return 0;
}

/* Only the minor 0 fields are set; the size tells the host which ones we
 * know. Unset optional callbacks stay NULL. */
static const agentd_notify_vtable_t example_vtable = {
    .size = sizeof(agentd_notify_vtable_t),
    .event_prefixes = NULL, /* all events; e.g. {"agent.result", "permission.", NULL} */
    .subscribe = example_subscribe,
    .on_event = example_on_event,
};

/* ---- lifecycle ------------------------------------------------------------ */

static void example_fini(void *self);

static int example_init(const agentd_host_api_t *api, agentd_host_t *host,
                        const char *config_json, size_t config_len, void **self,
                        agentd_err_t *err)
{
    /* A host of an older minor may lack fields we use: check by size. All
     * the fields used here are minor 0, which every 1.x host has. */
    if (api->size < AGENTD_SIZE_THROUGH(agentd_host_api_t, timer_close))
        return agentd_err_set(err, AGENTD_EVERSION, "host API table too small (%u bytes)",
                              (unsigned)api->size);

    json_error_t jerr;
    json_t *cfg = json_loadb(config_json, config_len, 0, &jerr);
    if (cfg == NULL)
        return agentd_err_set(err, AGENTD_ECONFIG, "settings are not JSON: %s", jerr.text);

    example_t *ex = api->calloc(host, 1, sizeof *ex);
    if (ex == NULL) {
        json_decref(cfg);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    ex->api = api;
    ex->host = host;

    /* Defaults are filled in and types and bounds checked by the host. */
    ex->prefix = example_strdup(ex, json_string_value(json_object_get(cfg, "prefix")));
    ex->level = (agentd_log_level_t)json_integer_value(json_object_get(cfg, "level"));
    ex->queue_size = (uint32_t)json_integer_value(json_object_get(cfg, "queue_size"));
    ex->interval_ms = (uint64_t)json_integer_value(json_object_get(cfg, "interval_ms"));
    json_decref(cfg);

    if (ex->queue_size == 0 || ex->interval_ms == 0) {
        example_fini(ex);
        return agentd_err_set(err, AGENTD_ECONFIG, "queue_size and interval_ms must be >= 1");
    }
    ex->queue = api->calloc(host, ex->queue_size, sizeof *ex->queue);
    if (ex->prefix == NULL || ex->queue == NULL) {
        example_fini(ex);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }

    api->log(host, AGENTD_LOG_INFO, "ready: prefix \"%s\", queue of %u, one line per %llu ms",
             ex->prefix, (unsigned)ex->queue_size, (unsigned long long)ex->interval_ms);
    *self = ex;
    return 0;
}

/* Shutting down: deliver what is queued now rather than drop it, then say
 * we are done (synchronously is fine). */
static void example_stop(void *self, agentd_done_cb done, void *ud)
{
    example_t *ex = self;
    while (ex->count > 0)
        example_deliver_one(ex);
    ex->api->timer_close(ex->timer);
    ex->timer = NULL;
    ex->api->log(ex->host, AGENTD_LOG_INFO, "stopped after %llu notifications",
                 (unsigned long long)ex->delivered);
    done(ud, 0);
}

static void example_fini(void *self)
{
    example_t *ex = self;
    const agentd_host_api_t *api = ex->api;
    agentd_host_t *host = ex->host;

    api->timer_close(ex->timer); /* NULL is a no-op */
    if (ex->queue != NULL) {
        while (ex->count > 0) {
            example_event_free(ex, &ex->queue[ex->head]);
            ex->head = (ex->head + 1) % ex->queue_size;
            ex->count--;
        }
    }
    api->free(host, ex->queue);
    api->free(host, ex->prefix);
    api->free(host, ex);
}

/* ---- the descriptor: the plugin's one exported symbol ---------------------
 * AGENTD_PLUGIN_HEADER fills in the magic, the ABI version these headers
 * define, and sizeof(agentd_plugin_t); the host checks them before it calls
 * anything here. */
AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_NOTIFY,
    .id = EXAMPLE_ID,
    .version = EXAMPLE_VERSION,
    .description = "example notifier: logs each session event, rate-limited, with backpressure",
    .limitations = NULL,
    .config_fields = example_fields,
    .config_field_count = sizeof example_fields / sizeof example_fields[0],
    .profile_fields = NULL,
    .profile_field_count = 0,
    .init = example_init,
    .stop = example_stop,
    .fini = example_fini,
    .vtable = &example_vtable,
};
