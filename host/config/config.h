/*
 * Host configuration: the JSON config file (docs/config.md), read with
 * jansson, or the embedded defaults when there is no file.
 *
 * Loading happens in two phases, because plugin settings can only be checked
 * once the plugin's descriptor is known:
 *   1. host_config_load(): parse, substitute ${ENV_VAR}, check every host key
 *      and type, fill defaults. Plugin sections and sandbox profiles are kept
 *      as JSON, only their shape (object, "plugin" key) checked.
 *   2. host_config_plugin_settings() / host_config_profile_settings(): check a
 *      plugin's section or a profile against the plugin's declared fields,
 *      fill their defaults, and return the JSON the plugin receives.
 *
 * Every problem becomes a diagnostic with file, line, column and key path;
 * an unknown key names the nearest known key. Thread: loop thread (or before
 * the loop runs). Ownership: a host_config_t owns everything it points to.
 */
#ifndef AGENTD_HOST_CONFIG_H
#define AGENTD_HOST_CONFIG_H

#include <stddef.h>

#include <jansson.h>
#include <stdio.h>

#include <agentd/plugin.h>

/* One problem found in a config file. */
typedef struct host_diag {
    char *file;     /* path of the config file, or "<defaults>" */
    int line;       /* 1-based; 0 when unknown */
    int column;     /* 1-based; 0 when unknown */
    char *path;     /* key path, e.g. "plugins.settings.sandbox-docker.memory";
                     * "" for the document itself */
    char *message;  /* what is wrong and, where possible, the fix; never a
                     * secret's value */
} host_diag_t;

typedef struct host_diags {
    host_diag_t *items;
    size_t count;
    size_t cap;
} host_diags_t;

/* Append a diagnostic (message printf-style). Returns AGENTD_ECONFIG, or
 * AGENTD_ENOMEM if it could not be recorded. */
int host_diags_add(host_diags_t *d, const char *file, int line, int column,
                   const char *path, const char *fmt, ...) AGENTD_PRINTF(6, 7);
/* "FILE:LINE:COL: PATH: MESSAGE", one per line. */
void host_diags_print(const host_diags_t *d, FILE *out);
void host_diags_free(host_diags_t *d);

typedef enum host_log_format {
    HOST_LOG_FORMAT_AUTO = 0, /* text on a terminal, JSON lines otherwise */
    HOST_LOG_FORMAT_TEXT = 1,
    HOST_LOG_FORMAT_JSON = 2
} host_log_format_t;

/* Explicit limits; each is in the config's "limits" object. */
typedef struct host_limits {
    unsigned shutdown_timeout_ms;      /* graceful shutdown deadline: 10000 */
    unsigned plugin_stop_timeout_ms;   /* per plugin's stop(): 5000 */
    unsigned max_sessions;             /* open sessions at once: 64 */
    unsigned session_timeout_minutes;  /* default per session, 1..240: 60 */
    size_t max_message_bytes;          /* one API message: 1 MiB */
    size_t max_config_bytes;           /* the config file itself: 4 MiB */
    unsigned max_pending_requests;     /* per session, waiting for a person: 32 */
} host_limits_t;

/* "agent": how the Claude Code CLI is run for sessions. */
typedef struct host_agent_config {
    char *command;             /* "claude": the CLI, searched on PATH */
    char *model;               /* NULL: the CLI's default */
    char *api_key;             /* NULL: ANTHROPIC_API_KEY from agentd's own
                                * environment; else "${secret:NAME}" or a
                                * value from ${ENV} substitution */
    char *base_url;            /* NULL: ANTHROPIC_BASE_URL from agentd's own
                                * environment, else the CLI's default */
    unsigned idle_timeout_s;   /* no output during a turn: 300 (10..86400) */
    unsigned exit_deadline_s;  /* exit after input ended: 10 (1..600) */
    unsigned stop_grace_s;     /* each step of a stop: 5 (1..120) */
    unsigned idle_pause_s;     /* idle time before auto-pause: 900 (5..604800) */
    size_t max_line_bytes;     /* longest agent output line kept whole: 64 MiB */
} host_agent_config_t;

/* "events": retention of the event log, and its database's write-ahead
 * log. */
typedef struct host_events_config {
    unsigned retention_days;            /* 0: forever (default) */
    unsigned long long max_per_session; /* 0: no limit (default) */
    unsigned wal_max_mb;                /* the loop checkpoints itself past this
                                         * (store/checkpointer.h); default 64 */
} host_events_config_t;

/* "api": the WebSocket API server (docs/protocol.md). */
typedef struct host_api_config {
    unsigned max_connections;          /* WebSocket connections at once: 1024 */
    unsigned max_connections_per_address; /* from one peer address: 256 */
    unsigned handshake_timeout_s;      /* upgrade and first auth message: 10 */
    unsigned idle_timeout_s;           /* nothing from the peer (pongs count): 120 */
    unsigned ping_interval_s;          /* ping a quiet peer after: 30 */
    size_t client_queue_bytes;         /* per-client send queue before a slow
                                        * client is disconnected: 8 MiB */
    unsigned token_recheck_ms;         /* how often open connections' tokens
                                        * are checked for revocation: 1000 */
    char *tls_cert;                    /* PEM certificate (chain): NULL, plain
                                        * ws:// and http:// */
    char *tls_key;                     /* its private key; both or neither */
    char *static_dir;                  /* files served under /ui/: NULL, none */
} host_api_config_t;

typedef struct host_config {
    char *source;              /* the file read, or "<defaults>" */
    char *data_dir;            /* "./var" by default */
    char *listen_address;      /* "127.0.0.1" */
    int listen_port;           /* 7878 */
    agentd_log_level_t log_level;   /* info */
    host_log_format_t log_format;   /* auto */

    char **plugin_dirs;        /* "plugins.dirs"; empty: the host's default */
    size_t plugin_dir_count;
    char **plugin_load;        /* "plugins.load": ids to load */
    size_t plugin_load_count;  /* default: ["sandbox-seccomp"] */
    int plugin_load_all;       /* "plugins.load": "*" */
    int fatal_on_refusal;      /* "plugins.fatal_on_refusal": true */

    char **profile_names;      /* "sandboxes" keys, in file order */
    char **profile_plugins;    /* the "plugin" of each profile */
    size_t profile_count;
    char *default_sandbox;     /* "default_sandbox": "local" */

    host_limits_t limits;
    host_agent_config_t agent;
    host_events_config_t events;
    host_api_config_t api;
    json_t *permissions;       /* "permissions": the default rules of every
                                * session (docs/permissions.md), checked
                                * by the permission engine; never NULL */
    unsigned approval_timeout_s; /* permissions.approval_timeout_s: 600 */

    struct host_config_doc *doc; /* the parsed document with positions */
} host_config_t;

/* Read `path`, or the embedded defaults when path is NULL. On error returns
 * AGENTD_ECONFIG (or AGENTD_ENOENT for a missing file, AGENTD_ENOMEM) with
 * at least one diagnostic in `diags`; *out is then NULL. */
int host_config_load(const char *path, host_config_t **out, host_diags_t *diags);

/* As host_config_load, refusing a file larger than max_bytes before it is
 * read (0: the default, 4 MiB; at most 64 MiB). host_config_load uses the
 * default, since a file cannot raise its own limit before it is read; a
 * reload should pass the running config's limits.max_config_bytes. Either
 * way the file must also fit in the limits.max_config_bytes it sets. */
int host_config_load_limited(const char *path, size_t max_bytes, host_config_t **out,
                             host_diags_t *diags);

/* Parse config text already in memory (tests, `config check -`); `name` is
 * what diagnostics call the file. */
int host_config_load_text(const char *text, size_t len, const char *name,
                          host_config_t **out, host_diags_t *diags);

void host_config_free(host_config_t *cfg);

/* Phase 2: the plugin's section ("plugins.settings.<id>", {} when absent)
 * checked against `fields` (stride: fields[0].size), defaults filled in.
 * On success *json is malloc'd JSON text for the plugin's init; unknown
 * keys, wrong types, out-of-range integers and missing required fields are
 * diagnostics. */
int host_config_plugin_settings(const host_config_t *cfg, const char *plugin_id,
                                const agentd_config_field_t *fields, uint32_t count,
                                char **json, host_diags_t *diags);

/* Phase 2 for one sandbox profile ("sandboxes.<name>", without its
 * "plugin" key). Errors as above; AGENTD_ENOENT if there is no such
 * profile. */
int host_config_profile_settings(const host_config_t *cfg, const char *profile,
                                 const agentd_config_field_t *fields, uint32_t count,
                                 char **json, host_diags_t *diags);

/* The JSON text of the embedded defaults (`agentd config defaults`). */
const char *host_config_default_text(void);

#endif /* AGENTD_HOST_CONFIG_H */
