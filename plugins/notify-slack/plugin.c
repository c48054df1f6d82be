/*
 * notify-slack: tells people in Slack about the session events that matter
 * (a question or approval waiting, a finished run, a failure), through an
 * incoming webhook or a bot token. The work arrives with the Slack issue
 * (not filed yet).
 *
 * STUB. It loads, declares the settings the real backend will take, and
 * takes every event (on_event returns 0, so the host never holds events
 * back for it) without delivering it: each one is logged at debug level as
 * not delivered, and the first one once at info, so nothing is dropped
 * silently. It reads no secret and makes no request.
 */
#include <inttypes.h>

#include <agentd/agentd.h>

#define PLUGIN_ID "notify-slack"
#define PLUGIN_LATER "the Slack issue, not filed yet"

typedef struct slack {
    const agentd_host_api_t *api;
    agentd_host_t *host;
    agentd_notify_resume_fn resume;  /* from subscribe; unused: never EAGAIN */
    void *resume_ctx;
    uint64_t undelivered;            /* events taken and not delivered */
} slack_t;

/* ---- settings ------------------------------------------------------------ */

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

/* plugins.settings.notify-slack */
static const agentd_config_field_t config_fields[] = {
    FIELD(.name = "webhook_url", .type = AGENTD_CONFIG_SECRET,
          .description = "incoming webhook URL as \"${secret:NAME}\" (posts to the webhook's "
                         "channel); or use bot_token"),
    FIELD(.name = "bot_token", .type = AGENTD_CONFIG_SECRET,
          .description = "bot token (xoxb-...) with chat:write, as \"${secret:NAME}\"; "
                         "needs channel"),
    FIELD(.name = "channel", .type = AGENTD_CONFIG_STRING,
          .description = "channel ID or #name to post to with bot_token"),
    FIELD(.name = "api_url", .type = AGENTD_CONFIG_STRING,
          .default_json = "\"https://slack.com/api\"",
          .description = "Slack Web API base URL, for bot_token"),
    FIELD(.name = "events", .type = AGENTD_CONFIG_STRING_LIST,
          .default_json = "[\"permission.requested\", \"agent.result\", \"error\"]",
          .description = "event type prefixes to post, e.g. \"permission.\", "
                         "\"agent.result\", \"session.state\""),
    FIELD(.name = "dashboard_url", .type = AGENTD_CONFIG_STRING,
          .description = "base URL of the dashboard, for links to a session in messages"),
    FIELD(.name = "request_timeout_s", .type = AGENTD_CONFIG_INT, .default_json = "10",
          .min = 1, .max = 120, .description = "deadline of one Slack request"),
};

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- events: taken, not delivered yet --------------------------------------- */

static void slack_subscribe(void *self, agentd_notify_resume_fn resume, void *resume_ctx)
{
    slack_t *s = self;
    s->resume = resume;
    s->resume_ctx = resume_ctx;
}

static int slack_on_event(void *self, const agentd_event_view_t *ev)
{
    slack_t *s = self;
    const char *type = ev != NULL && ev->type != NULL ? ev->type : "?";
    const char *session = ev != NULL && ev->session_id != NULL ? ev->session_id : "?";
    uint64_t seq = ev != NULL ? ev->seq : 0;
    if (s->undelivered++ == 0)
        s->api->log(s->host, AGENTD_LOG_INFO,
                    "stub: events are not delivered to Slack yet (arrives with " PLUGIN_LATER
                    "); each is logged at debug level");
    s->api->log(s->host, AGENTD_LOG_DEBUG,
                "not delivering event %s (session %s, seq %" PRIu64 "): stub, Slack delivery "
                "is not implemented yet",
                type, session, seq);
    return 0;
}

/* ---- lifetime --------------------------------------------------------------- */

static int slack_init(const agentd_host_api_t *api, agentd_host_t *host,
                      const char *config_json, size_t config_len, void **self,
                      agentd_err_t *err)
{
    (void)config_json, (void)config_len; /* nothing to act on yet */
    if (api == NULL || self == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, PLUGIN_ID ": init without host API");
    slack_t *s = api->calloc(host, 1, sizeof *s);
    if (s == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM,
                              PLUGIN_ID ": out of memory allocating the plugin state");
    s->api = api;
    s->host = host;
    api->log(host, AGENTD_LOG_DEBUG,
             "stub loaded: events are taken but not posted to Slack until " PLUGIN_LATER);
    *self = s;
    return 0;
}

static void slack_fini(void *self)
{
    slack_t *s = self;
    if (s != NULL) {
        if (s->undelivered > 0)
            s->api->log(s->host, AGENTD_LOG_DEBUG,
                        "%" PRIu64 " events were not delivered (stub)", s->undelivered);
        s->api->free(s->host, s);
    }
}

static const agentd_notify_vtable_t vtable = {
    .size = sizeof(agentd_notify_vtable_t),
    .event_prefixes = NULL, /* all: the events setting decides, once delivery exists */
    .subscribe = slack_subscribe,
    .on_event = slack_on_event,
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_NOTIFY,
    .id = PLUGIN_ID,
    .version = "0.1.0",
    .description = "Slack messages for the events that matter: questions and approvals "
                   "waiting, finished runs, failures",
    .limitations = "stub: posting to Slack arrives with a later issue; every event is taken "
                   "and logged at debug level as not delivered, nothing reaches Slack",
    .config_fields = config_fields,
    .config_field_count = COUNT(config_fields),
    .init = slack_init,
    .fini = slack_fini,
    .vtable = &vtable,
};
