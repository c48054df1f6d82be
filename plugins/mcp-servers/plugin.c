/*
 * mcp-servers: the MCP servers a team has configured, with their secrets,
 * turned into the --mcp-config document each session's agent runs with
 * (secret references resolved at the moment of use); shared servers started
 * and stopped as sessions need them. The work arrives with the MCP server
 * management issue (not filed yet).
 *
 * STUB. It loads, declares the settings the real backend will take, and
 * answers list_servers and session_config with AGENTD_ENOTSUP and a message
 * naming what is missing. It starts nothing and reads no secret. The
 * optional session_release stays unset.
 */
#include <agentd/agentd.h>

#define PLUGIN_ID "mcp-servers"
#define PLUGIN_LATER "the MCP server management issue, not filed yet"

typedef struct mcp {
    const agentd_host_api_t *api;
    agentd_host_t *host;
} mcp_t;

/* ---- settings ------------------------------------------------------------ */

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

/* plugins.settings.mcp-servers */
static const agentd_config_field_t config_fields[] = {
    FIELD(.name = "servers", .type = AGENTD_CONFIG_OBJECT, .default_json = "{}",
          .description = "MCP servers by name, as in Claude Code's --mcp-config: {\"<name>\": "
                         "{\"command\", \"args\", \"env\"} or {\"type\": \"http\"|\"sse\", "
                         "\"url\", \"headers\"}, plus \"description\"}; values may be "
                         "\"${secret:NAME}\""),
    FIELD(.name = "default_servers", .type = AGENTD_CONFIG_STRING_LIST, .default_json = "[]",
          .description = "servers a session gets when it names none"),
    FIELD(.name = "startup_timeout_s", .type = AGENTD_CONFIG_INT, .default_json = "30",
          .min = 1, .max = 600,
          .description = "deadline for a shared server to start and list its tools"),
};

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- every operation: not yet ---------------------------------------------- */

static int not_yet(agentd_err_t *err, const char *what)
{
    return agentd_err_set(err, AGENTD_ENOTSUP,
                          PLUGIN_ID ": %s is not implemented yet (this plugin is a stub; "
                                    "it arrives with " PLUGIN_LATER ")",
                          what);
}

static int mcp_list_servers(void *self, agentd_json_cb cb, void *ud, agentd_err_t *err)
{
    (void)self, (void)cb, (void)ud;
    return not_yet(err, "listing MCP servers");
}

static int mcp_session_config(void *self, const char *request_json, size_t len,
                              agentd_json_cb cb, void *ud, agentd_err_t *err)
{
    (void)self, (void)request_json, (void)len, (void)cb, (void)ud;
    return not_yet(err, "building a session's MCP configuration");
}

/* ---- lifetime --------------------------------------------------------------- */

static int mcp_init(const agentd_host_api_t *api, agentd_host_t *host, const char *config_json,
                    size_t config_len, void **self, agentd_err_t *err)
{
    (void)config_json, (void)config_len; /* nothing to act on yet */
    if (api == NULL || self == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, PLUGIN_ID ": init without host API");
    mcp_t *m = api->calloc(host, 1, sizeof *m);
    if (m == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM,
                              PLUGIN_ID ": out of memory allocating the plugin state");
    m->api = api;
    m->host = host;
    api->log(host, AGENTD_LOG_DEBUG,
             "stub loaded: list_servers and session_config return \"not supported\" until "
             PLUGIN_LATER);
    *self = m;
    return 0;
}

static void mcp_fini(void *self)
{
    mcp_t *m = self;
    if (m != NULL)
        m->api->free(m->host, m);
}

static const agentd_mcp_vtable_t vtable = {
    .size = sizeof(agentd_mcp_vtable_t),
    .list_servers = mcp_list_servers,
    .session_config = mcp_session_config,
    /* session_release: not offered yet (nothing is ever held) */
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_MCP,
    .id = PLUGIN_ID,
    .version = "0.1.0",
    .description = "MCP servers configured for the team, with secrets resolved at use, "
                   "given to each session as its --mcp-config",
    .limitations = "stub: MCP server management arrives with a later issue; list_servers "
                   "and session_config return AGENTD_ENOTSUP, no server is started and no "
                   "--mcp-config is produced",
    .config_fields = config_fields,
    .config_field_count = COUNT(config_fields),
    .init = mcp_init,
    .fini = mcp_fini,
    .vtable = &vtable,
};
