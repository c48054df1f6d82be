/*
 * Loading the config: read the file (bounded), parse it with jansson, index
 * key positions, substitute ${VAR}, check every host key and fill
 * host_config_t, defaults for whatever the file leaves out. Plugin sections
 * and sandbox profiles are only checked for shape here; their contents are
 * checked in phase 2 (config_fields.c) against each plugin's fields.
 *
 * All problems are collected, not just the first; see docs/config.md for the
 * keys, their bounds and the error format.
 */
#include "config/config_internal.h"
#include "permissions/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Text given to host_config_load_text is refused above this before it is
 * parsed: the largest limits.max_config_bytes allows. */
#define CFG_HARD_MAX_CONFIG_BYTES ((size_t)64 * 1024 * 1024)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct loader {
    cfg_ctx_t c;
    host_config_t *cfg;
    json_t *root;
    cfg_node_t *pos;
    int load_failed;            /* plugins.load is wrong (reported): no
                                 * cross-checks against it */
    cfg_node_t *load_node;      /* position of plugins.load, if written */
    int profiles_from_defaults; /* the file has no "sandboxes" */
} loader_t;

static const char *const root_keys[] = {"data_dir",  "listen",          "log",    "plugins",
                                        "sandboxes", "default_sandbox", "limits", "agent",
                                        "events",    "api",             "permissions"};
static const char *const agent_keys[] = {"command",        "model",          "api_key",
                                         "base_url",       "idle_timeout_s", "exit_deadline_s",
                                         "stop_grace_s",   "idle_pause_s",   "max_line_bytes"};
static const char *const events_keys[] = {"retention_days", "max_per_session", "wal_max_mb"};
static const char *const api_keys[] = {"max_connections",  "max_connections_per_address",
                                       "handshake_timeout_s", "idle_timeout_s",
                                       "ping_interval_s",  "client_queue_bytes",
                                       "token_recheck_ms", "tls_cert",
                                       "tls_key",          "static_dir"};
static const char *const listen_keys[] = {"address", "port"};
static const char *const log_keys[] = {"level", "format"};
static const char *const plugins_keys[] = {"dirs", "load", "fatal_on_refusal", "settings"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const format_names[] = {"auto", "text", "json"};

/* Keys that belong one level down, for "did you mean "listen.port"?" when
 * they are written at the top. */
static const struct {
    const char *key, *where;
} nested_keys[] = {
    {"address", "listen.address"},
    {"port", "listen.port"},
    {"level", "log.level"},
    {"format", "log.format"},
    {"dirs", "plugins.dirs"},
    {"load", "plugins.load"},
    {"fatal_on_refusal", "plugins.fatal_on_refusal"},
    {"settings", "plugins.settings"},
    {"shutdown_timeout_ms", "limits.shutdown_timeout_ms"},
    {"plugin_stop_timeout_ms", "limits.plugin_stop_timeout_ms"},
    {"max_sessions", "limits.max_sessions"},
    {"session_timeout_minutes", "limits.session_timeout_minutes"},
    {"max_message_bytes", "limits.max_message_bytes"},
    {"max_config_bytes", "limits.max_config_bytes"},
    {"max_pending_requests", "limits.max_pending_requests"},
    {"sandbox", "default_sandbox"},
    {"profiles", "sandboxes"},
};

static char *xstrdup(cfg_ctx_t *c, const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p == NULL) {
        c->oom = 1;
        return NULL;
    }
    memcpy(p, s, n + 1);
    return p;
}

static const char *errtext(int e, char *buf, size_t n)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, n);
#else
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
#endif
}

/* ---- small checks shared by the sections ---- */

static int node_bad(const cfg_node_t *n)
{
    return n != NULL && (n->flags & CFG_NODE_BAD);
}

int cfg_plugin_id_valid(const char *id, size_t len)
{
    if (id == NULL || len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return 1;
}

static int profile_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || (ch != '-' && ch != '_' && ch != '.')))
            return 0;
    }
    return 1;
}

/* The list of known keys, for messages: "address, port". */
static void known_list(char *buf, size_t n, const char *const *keys, size_t count)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && at < n; i++) {
        int w = snprintf(buf + at, n - at, "%s%s", i ? ", " : "", keys[i]);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

static void report_unknown(loader_t *L, const cfg_member_t *m, const cfg_path_t *p,
                           const char *const *keys, size_t count, int at_root)
{
    char q[96], known[256];
    const char *near = cfg_suggest(m->key, m->key_len, keys, count);
    cfg_path_t self = {p, m->key, m->key_len, 0};
    cfg_quote(q, sizeof q, m->key, m->key_len, 40);
    if (near != NULL) {
        cfg_report(&L->c, m->node, 0, &self, "unknown key %s; did you mean \"%s\"?", q, near);
        return;
    }
    if (at_root) {
        for (size_t i = 0; i < COUNT(nested_keys); i++) {
            const char *k = nested_keys[i].key;
            if (strlen(k) == m->key_len && memcmp(k, m->key, m->key_len) == 0) {
                cfg_report(&L->c, m->node, 0, &self,
                           "unknown key %s at the top level; did you mean \"%s\"?", q,
                           nested_keys[i].where);
                return;
            }
        }
    }
    known_list(known, sizeof known, keys, count);
    cfg_report(&L->c, m->node, 0, &self, "unknown key %s (known keys here: %s)", q, known);
}

/* Report every member of obj that is not in keys. */
static void check_keys(loader_t *L, json_t *obj, cfg_node_t *node, const cfg_path_t *p,
                       const char *const *keys, size_t count, int at_root)
{
    cfg_iter_t it;
    cfg_member_t m;
    cfg_iter_init(&it, obj, node, 1);
    while (cfg_iter_next(&it, &m)) {
        int known = 0;
        for (size_t i = 0; i < count && !known; i++)
            known = strlen(keys[i]) == m.key_len && memcmp(keys[i], m.key, m.key_len) == 0;
        if (!known)
            report_unknown(L, &m, p, keys, count, at_root);
    }
}

/* Member `key` of obj (NULL if absent), its node in *kn. */
static json_t *member(json_t *obj, cfg_node_t *node, const char *key, cfg_node_t **kn)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    *kn = v != NULL ? cfg_node_member(node, key, strlen(key)) : NULL;
    return v;
}

/* Report a value of the wrong type (unless already reported). */
static void wrong_type(loader_t *L, json_t *v, cfg_node_t *n, const cfg_path_t *p,
                       const char *want)
{
    if (node_bad(n))
        return;
    cfg_report(&L->c, n, 0, p, "must be %s, not %s", want, cfg_json_type_name(v));
}

/* A string member; NULL (and reported) if present but not a (non-empty)
 * string; `dflt` when absent. *kn_out: its node, NULL when not written. */
static const char *get_string(loader_t *L, json_t *obj, cfg_node_t *node, const cfg_path_t *up,
                              const char *key, const char *dflt, int nonempty,
                              cfg_node_t **kn_out)
{
    cfg_node_t *kn;
    json_t *v = member(obj, node, key, &kn);
    cfg_path_t p = {up, key, strlen(key), 0};
    if (kn_out != NULL)
        *kn_out = kn;
    if (v == NULL)
        return dflt;
    if (node_bad(kn))
        return NULL;
    if (!json_is_string(v)) {
        wrong_type(L, v, kn, &p, "a string");
        return NULL;
    }
    if (nonempty && json_string_length(v) == 0) {
        cfg_report(&L->c, kn, 0, &p, "must not be empty");
        return NULL;
    }
    return json_string_value(v);
}

/* An integer member within [min, max]; `dflt` when absent or wrong. */
static long long get_int(loader_t *L, json_t *obj, cfg_node_t *node, const cfg_path_t *up,
                         const char *key, long long min, long long max, long long dflt,
                         cfg_node_t **kn_out)
{
    cfg_node_t *kn;
    json_t *v = member(obj, node, key, &kn);
    cfg_path_t p = {up, key, strlen(key), 0};
    if (kn_out != NULL)
        *kn_out = kn;
    if (v == NULL)
        return dflt;
    if (!json_is_integer(v)) {
        wrong_type(L, v, kn, &p, "an integer");
        return dflt;
    }
    long long x = json_integer_value(v);
    if (x < min || x > max) {
        cfg_report(&L->c, kn, 0, &p, "%lld is out of range: allowed %lld..%lld", x, min, max);
        return dflt;
    }
    return x;
}

/* An object member: returns it, NULL if absent or (reported) not an
 * object. */
static json_t *get_object(loader_t *L, json_t *obj, cfg_node_t *node, const cfg_path_t *up,
                          const char *key, cfg_node_t **kn)
{
    json_t *v = member(obj, node, key, kn);
    if (v == NULL)
        return NULL;
    if (!json_is_object(v)) {
        cfg_path_t p = {up, key, strlen(key), 0};
        wrong_type(L, v, *kn, &p, "an object");
        return NULL;
    }
    return v;
}

/* One of `names` (index), or -1 (reported) / dflt when absent. */
static int get_enum(loader_t *L, json_t *obj, cfg_node_t *node, const cfg_path_t *up,
                    const char *key, const char *const *names, size_t count, int dflt)
{
    cfg_node_t *kn;
    const char *s = get_string(L, obj, node, up, key, NULL, 0, &kn);
    if (s == NULL)
        return kn == NULL ? dflt : -1;
    size_t len = json_string_length(json_object_get(obj, key));
    for (size_t i = 0; i < count; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return (int)i;
    char list[128], q[96];
    size_t at = 0;
    list[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int w = snprintf(list + at, sizeof list - at, "%s\"%s\"", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= sizeof list - at)
            break;
        at += (size_t)w;
    }
    cfg_path_t p = {up, key, strlen(key), 0};
    if (kn != NULL && (kn->flags & CFG_NODE_SUBSTITUTED)) {
        /* From the environment: never echo it. */
        cfg_report(&L->c, kn, 0, &p, "the value (from the environment) must be one of %s", list);
        return -1;
    }
    const char *near = cfg_suggest(s, len, names, count);
    cfg_quote(q, sizeof q, s, len, 40);
    if (near != NULL)
        cfg_report(&L->c, kn, 0, &p, "unknown value %s; did you mean \"%s\"? (one of %s)", q,
                   near, list);
    else
        cfg_report(&L->c, kn, 0, &p, "unknown value %s; must be one of %s", q, list);
    return -1;
}

/* A JSON list of strings into a NULL-terminated char* array; each element
 * checked by `check` (NULL: any non-empty string). Returns 0 if fine. */
static int get_string_list(loader_t *L, json_t *arr, cfg_node_t *an, const cfg_path_t *p,
                           int (*check)(const char *, size_t), const char *check_what,
                           int unique, char ***out, size_t *count)
{
    size_t n = json_array_size(arr);
    char **list = calloc(n + 1, sizeof *list);
    int ok = 1;
    if (list == NULL) {
        L->c.oom = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *el = json_array_get(arr, i);
        cfg_node_t *en = cfg_node_element(an, i);
        cfg_path_t ep = {p, NULL, 0, i};
        if (node_bad(en)) {
            ok = 0;
            continue;
        }
        if (!json_is_string(el)) {
            wrong_type(L, el, en, &ep, "a string");
            ok = 0;
            continue;
        }
        const char *s = json_string_value(el);
        size_t len = json_string_length(el);
        if (len == 0) {
            cfg_report(&L->c, en, 0, &ep, "must not be empty");
            ok = 0;
            continue;
        }
        if (check != NULL && !check(s, len)) {
            cfg_report(&L->c, en, 0, &ep, "is not %s", check_what);
            ok = 0;
            continue;
        }
        if (unique) {
            for (size_t k = 0; k < i; k++) {
                json_t *prev = json_array_get(arr, k);
                if (json_is_string(prev) && json_string_length(prev) == len &&
                    memcmp(json_string_value(prev), s, len) == 0) {
                    cfg_report(&L->c, en, 0, &ep, "is listed twice (also at [%zu])", k);
                    ok = 0;
                    break;
                }
            }
        }
        if (memchr(s, '\0', len) != NULL) {
            ok = 0;
            continue;
        }
        list[i] = xstrdup(&L->c, s);
        if (list[i] == NULL)
            ok = 0;
    }
    if (!ok) {
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        return -1;
    }
    *out = list;
    *count = n;
    return 0;
}

static int id_check(const char *s, size_t len)
{
    return cfg_plugin_id_valid(s, len);
}

/* ---- the sections ---- */

static void load_listen(loader_t *L, const cfg_path_t *rp)
{
    cfg_node_t *kn;
    json_t *obj = get_object(L, L->root, L->pos, rp, "listen", &kn);
    cfg_path_t p = {rp, "listen", 6, 0};
    const char *addr = CFG_DEFAULT_LISTEN_ADDRESS;
    if (obj != NULL) {
        check_keys(L, obj, kn, &p, listen_keys, COUNT(listen_keys), 0);
        addr = get_string(L, obj, kn, &p, "address", CFG_DEFAULT_LISTEN_ADDRESS, 1, NULL);
        L->cfg->listen_port = (int)get_int(L, obj, kn, &p, "port", CFG_PORT_MIN, CFG_PORT_MAX,
                                           CFG_DEFAULT_LISTEN_PORT, NULL);
    } else {
        L->cfg->listen_port = CFG_DEFAULT_LISTEN_PORT;
    }
    L->cfg->listen_address = xstrdup(&L->c, addr != NULL ? addr : CFG_DEFAULT_LISTEN_ADDRESS);
}

static void load_log(loader_t *L, const cfg_path_t *rp)
{
    cfg_node_t *kn;
    json_t *obj = get_object(L, L->root, L->pos, rp, "log", &kn);
    cfg_path_t p = {rp, "log", 3, 0};
    L->cfg->log_level = AGENTD_LOG_INFO;
    L->cfg->log_format = HOST_LOG_FORMAT_AUTO;
    if (obj == NULL)
        return;
    check_keys(L, obj, kn, &p, log_keys, COUNT(log_keys), 0);
    static const agentd_log_level_t levels[] = {AGENTD_LOG_ERROR, AGENTD_LOG_WARN,
                                                AGENTD_LOG_INFO, AGENTD_LOG_DEBUG};
    static const host_log_format_t formats[] = {HOST_LOG_FORMAT_AUTO, HOST_LOG_FORMAT_TEXT,
                                                HOST_LOG_FORMAT_JSON};
    int lv = get_enum(L, obj, kn, &p, "level", level_names, COUNT(level_names), 2);
    int fm = get_enum(L, obj, kn, &p, "format", format_names, COUNT(format_names), 0);
    if (lv >= 0)
        L->cfg->log_level = levels[lv];
    if (fm >= 0)
        L->cfg->log_format = formats[fm];
}

static void load_plugins(loader_t *L, const cfg_path_t *rp)
{
    host_config_t *cfg = L->cfg;
    cfg_node_t *kn;
    json_t *obj = get_object(L, L->root, L->pos, rp, "plugins", &kn);
    cfg_path_t p = {rp, "plugins", 7, 0};
    cfg->fatal_on_refusal = 1;
    int load_set = 0;

    if (obj != NULL) {
        check_keys(L, obj, kn, &p, plugins_keys, COUNT(plugins_keys), 0);

        cfg_node_t *dn;
        json_t *dirs = member(obj, kn, "dirs", &dn);
        cfg_path_t dp = {&p, "dirs", 4, 0};
        if (dirs != NULL) {
            if (!json_is_array(dirs))
                wrong_type(L, dirs, dn, &dp, "a list of directory paths");
            else
                get_string_list(L, dirs, dn, &dp, NULL, NULL, 0, &cfg->plugin_dirs,
                                &cfg->plugin_dir_count);
        }

        cfg_node_t *ln;
        json_t *load = member(obj, kn, "load", &ln);
        cfg_path_t lp = {&p, "load", 4, 0};
        L->load_node = ln;
        if (load != NULL) {
            load_set = 1;
            if (node_bad(ln)) {
                L->load_failed = 1;
            } else if (json_is_string(load)) {
                if (strcmp(json_string_value(load), "*") == 0) {
                    cfg->plugin_load_all = 1;
                } else {
                    cfg_report(&L->c, ln, 0, &lp,
                               "must be a list of plugin ids, or the string \"*\" for every "
                               "plugin found");
                    L->load_failed = 1;
                }
            } else if (json_is_array(load)) {
                if (get_string_list(L, load, ln, &lp, id_check, "a plugin id ([a-z0-9-]+)", 1,
                                    &cfg->plugin_load, &cfg->plugin_load_count) != 0)
                    L->load_failed = 1;
            } else {
                wrong_type(L, load, ln, &lp, "a list of plugin ids or \"*\"");
                L->load_failed = 1;
            }
        }

        cfg_node_t *fn;
        json_t *fatal = member(obj, kn, "fatal_on_refusal", &fn);
        if (fatal != NULL) {
            cfg_path_t fp = {&p, "fatal_on_refusal", 16, 0};
            if (!json_is_boolean(fatal))
                wrong_type(L, fatal, fn, &fp, "true or false");
            else
                cfg->fatal_on_refusal = json_is_true(fatal);
        }

        cfg_node_t *sn;
        json_t *settings = get_object(L, obj, kn, &p, "settings", &sn);
        if (settings != NULL) {
            cfg_path_t sp = {&p, "settings", 8, 0};
            cfg_iter_t it;
            cfg_member_t m;
            cfg_iter_init(&it, settings, sn, 1);
            while (cfg_iter_next(&it, &m)) {
                cfg_path_t ip = {&sp, m.key, m.key_len, 0};
                if (!cfg_plugin_id_valid(m.key, m.key_len)) {
                    char q[96];
                    cfg_report(&L->c, m.node, 0, &ip,
                               "%s is not a plugin id ([a-z0-9-]+): \"settings\" maps each "
                               "plugin's id to its settings",
                               cfg_quote(q, sizeof q, m.key, m.key_len, 40));
                } else if (!json_is_object(m.value)) {
                    wrong_type(L, m.value, m.node, &ip, "an object (the plugin's settings)");
                }
            }
        }
    }
    if (!load_set) {
        cfg->plugin_load = calloc(2, sizeof *cfg->plugin_load);
        if (cfg->plugin_load == NULL) {
            L->c.oom = 1;
            return;
        }
        cfg->plugin_load[0] = xstrdup(&L->c, CFG_DEFAULT_PLUGIN);
        cfg->plugin_load_count = cfg->plugin_load[0] != NULL ? 1 : 0;
    }
}

static int plugin_loaded(const host_config_t *cfg, const char *id)
{
    if (cfg->plugin_load_all)
        return 1;
    for (size_t i = 0; i < cfg->plugin_load_count; i++)
        if (cfg->plugin_load[i] != NULL && strcmp(cfg->plugin_load[i], id) == 0)
            return 1;
    return 0;
}

/* A settings section for a plugin that plugins.load does not load is
 * allowed (a plugin taken out of "load" keeps its settings), unless its id
 * looks like a typo of one that is loaded: then it would be silently
 * ignored while the plugin runs on its defaults. */
static void check_settings_ids(loader_t *L, const cfg_path_t *rp)
{
    host_config_t *cfg = L->cfg;
    if (L->load_failed || cfg->plugin_load_all || cfg->plugin_load_count == 0)
        return;
    json_t *plugins = json_object_get(L->root, "plugins");
    cfg_node_t *pn = cfg_node_member(L->pos, "plugins", 7);
    json_t *settings = json_object_get(plugins, "settings");
    if (!json_is_object(settings))
        return;
    cfg_path_t pp = {rp, "plugins", 7, 0};
    cfg_path_t sp = {&pp, "settings", 8, 0};
    cfg_iter_t it;
    cfg_member_t m;
    cfg_iter_init(&it, settings, cfg_node_member(pn, "settings", 8), 1);
    while (cfg_iter_next(&it, &m)) {
        if (memchr(m.key, '\0', m.key_len) != NULL || plugin_loaded(cfg, m.key))
            continue;
        const char *near = cfg_suggest(m.key, m.key_len, (const char *const *)cfg->plugin_load,
                                       cfg->plugin_load_count);
        if (near == NULL)
            continue;
        char q[96];
        cfg_path_t ip = {&sp, m.key, m.key_len, 0};
        cfg_report(&L->c, m.node, 0, &ip,
                   "settings for plugin %s, which plugins.load does not load; did you mean "
                   "\"%s\"?",
                   cfg_quote(q, sizeof q, m.key, m.key_len, 40), near);
    }
}

static int add_profile(loader_t *L, const char *name, const char *plugin)
{
    host_config_t *cfg = L->cfg;
    size_t n = cfg->profile_count;
    char **names = realloc(cfg->profile_names, (n + 1) * sizeof *names);
    if (names == NULL) {
        L->c.oom = 1;
        return -1;
    }
    cfg->profile_names = names;
    char **plugins = realloc(cfg->profile_plugins, (n + 1) * sizeof *plugins);
    if (plugins == NULL) {
        L->c.oom = 1;
        return -1;
    }
    cfg->profile_plugins = plugins;
    names[n] = xstrdup(&L->c, name);
    plugins[n] = xstrdup(&L->c, plugin);
    if (names[n] == NULL || plugins[n] == NULL) {
        free(names[n]);
        free(plugins[n]);
        return -1;
    }
    cfg->profile_count = n + 1;
    return 0;
}

static void load_sandboxes(loader_t *L, const cfg_path_t *rp)
{
    cfg_node_t *kn;
    json_t *v = member(L->root, L->pos, "sandboxes", &kn);
    cfg_path_t p = {rp, "sandboxes", 9, 0};
    if (v == NULL) {
        L->profiles_from_defaults = 1;
        add_profile(L, CFG_DEFAULT_PROFILE, CFG_DEFAULT_PLUGIN);
        return;
    }
    if (!json_is_object(v)) {
        wrong_type(L, v, kn, &p, "an object (profile name -> settings)");
        return;
    }
    cfg_iter_t it;
    cfg_member_t m;
    cfg_iter_init(&it, v, kn, 1);
    while (cfg_iter_next(&it, &m)) {
        cfg_path_t pp = {&p, m.key, m.key_len, 0};
        char q[96];
        int ok = 1;
        if (!profile_name_valid(m.key, m.key_len)) {
            cfg_report(&L->c, m.node, 0, &pp,
                       "%s is not a valid profile name: 1 to 64 letters, digits, '-', '_' "
                       "or '.', starting with a letter or digit",
                       cfg_quote(q, sizeof q, m.key, m.key_len, 40));
            ok = 0;
        }
        if (!json_is_object(m.value)) {
            wrong_type(L, m.value, m.node, &pp,
                       "an object such as {\"plugin\": \"sandbox-seccomp\"}");
            continue;
        }
        cfg_node_t *pn;
        json_t *plugin = member(m.value, m.node, "plugin", &pn);
        cfg_path_t plp = {&pp, "plugin", 6, 0};
        if (plugin == NULL) {
            cfg_report(&L->c, m.node, 0, &pp,
                       "missing \"plugin\": a profile names the sandbox plugin that runs it, "
                       "e.g. \"plugin\": \"sandbox-seccomp\"");
            continue;
        }
        if (node_bad(pn))
            continue;
        if (!json_is_string(plugin)) {
            wrong_type(L, plugin, pn, &plp, "a string (a plugin id)");
            continue;
        }
        const char *id = json_string_value(plugin);
        size_t idlen = json_string_length(plugin);
        if (!cfg_plugin_id_valid(id, idlen)) {
            cfg_report(&L->c, pn, 0, &plp, "is not a plugin id ([a-z0-9-]+)");
            continue;
        }
        if (!L->load_failed && !plugin_loaded(L->cfg, id)) {
            if (pn != NULL && (pn->flags & CFG_NODE_SUBSTITUTED))
                cfg_report(&L->c, pn, 0, &plp,
                           "the plugin (from the environment) is not in plugins.load; add "
                           "it there, or the profile cannot run");
            else
                cfg_report(&L->c, pn, 0, &plp,
                           "plugin \"%s\" is not in plugins.load; add it there, or the "
                           "profile cannot run",
                           id);
            ok = 0;
        }
        if (ok && memchr(m.key, '\0', m.key_len) == NULL)
            add_profile(L, m.key, id);
    }
}

/* The profile names as written (also those with errors), else the built-in
 * one; NULL names when "sandboxes" is not an object. */
static const char **written_profiles(loader_t *L, size_t *n)
{
    json_t *sb = json_object_get(L->root, "sandboxes");
    const char **names = calloc(json_is_object(sb) ? json_object_size(sb) + 1 : 2, sizeof *names);
    *n = 0;
    if (names == NULL) {
        L->c.oom = 1;
        return NULL;
    }
    if (sb == NULL) {
        names[(*n)++] = CFG_DEFAULT_PROFILE;
        return names;
    }
    if (!json_is_object(sb)) {
        free(names);
        return NULL;
    }
    cfg_iter_t it;
    cfg_member_t m;
    cfg_iter_init(&it, sb, cfg_node_member(L->pos, "sandboxes", 9), 1);
    while (cfg_iter_next(&it, &m))
        names[(*n)++] = m.key;
    return names;
}

static int in_list(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] != NULL && strcmp(names[i], s) == 0)
            return 1;
    return 0;
}

static void set_default_sandbox(loader_t *L, const char *name)
{
    /* Only a profile that passed its checks (the others were reported). */
    if (in_list((const char *const *)L->cfg->profile_names, L->cfg->profile_count, name))
        L->cfg->default_sandbox = xstrdup(&L->c, name);
}

static void load_default_sandbox(loader_t *L, const cfg_path_t *rp)
{
    cfg_node_t *kn;
    const char *name = get_string(L, L->root, L->pos, rp, "default_sandbox", NULL, 1, &kn);
    cfg_path_t p = {rp, "default_sandbox", 15, 0};
    size_t n;
    const char **names = written_profiles(L, &n);
    if (names == NULL)
        return; /* "sandboxes" is not an object: reported */
    if (kn != NULL) {
        if (name == NULL) {
            /* reported */
        } else if (in_list(names, n, name)) {
            set_default_sandbox(L, name);
        } else if (kn->flags & CFG_NODE_SUBSTITUTED) {
            cfg_report(&L->c, kn, 0, &p,
                       "the value (from the environment) names no profile in \"sandboxes\"");
        } else {
            char q[96];
            cfg_quote(q, sizeof q, name, strlen(name), 40);
            const char *near = cfg_suggest(name, strlen(name), names, n);
            if (n == 0)
                cfg_report(&L->c, kn, 0, &p,
                           "names profile %s, but \"sandboxes\" defines no profiles", q);
            else if (near != NULL)
                cfg_report(&L->c, kn, 0, &p,
                           "no profile %s in \"sandboxes\"; did you mean \"%s\"?", q, near);
            else
                cfg_report(&L->c, kn, 0, &p, "no profile %s in \"sandboxes\"", q);
        }
    } else if (in_list(names, n, CFG_DEFAULT_PROFILE)) {
        /* Not written: "local" if there is one, else the only profile, else
         * nothing when there are none; several profiles need a choice. */
        set_default_sandbox(L, CFG_DEFAULT_PROFILE);
    } else if (n == 1) {
        set_default_sandbox(L, names[0]);
    } else if (n > 1) {
        cfg_report(&L->c, NULL, 0, &p,
                   "missing: there are several sandbox profiles and none is named \"local\"; "
                   "set \"default_sandbox\" to one of them");
    }
    free(names);
}

static void load_limits(loader_t *L, const cfg_path_t *rp)
{
    host_limits_t *lim = &L->cfg->limits;
    long long v[CFG_LIMIT_KEY_COUNT];
    const char *names[CFG_LIMIT_KEY_COUNT];
    cfg_node_t *kn;
    json_t *obj = get_object(L, L->root, L->pos, rp, "limits", &kn);
    cfg_path_t p = {rp, "limits", 6, 0};

    for (size_t i = 0; i < CFG_LIMIT_KEY_COUNT; i++) {
        const cfg_int_key_t *k = &cfg_limit_keys[i];
        names[i] = k->name;
        v[i] = obj != NULL ? get_int(L, obj, kn, &p, k->name, k->min, k->max, k->def, NULL)
                           : k->def;
    }
    if (obj != NULL)
        check_keys(L, obj, kn, &p, names, CFG_LIMIT_KEY_COUNT, 0);
    /* plugin_stop_timeout_ms above shutdown_timeout_ms is allowed: the whole
     * shutdown deadline then cuts each stop() short. */
    lim->shutdown_timeout_ms = (unsigned)v[0];
    lim->plugin_stop_timeout_ms = (unsigned)v[1];
    lim->max_sessions = (unsigned)v[2];
    lim->session_timeout_minutes = (unsigned)v[3];
    lim->max_message_bytes = (size_t)v[4];
    lim->max_config_bytes = (size_t)v[5];
    lim->max_pending_requests = (unsigned)v[6];
}

static char *opt_string(loader_t *L, json_t *obj, cfg_node_t *node, const cfg_path_t *p,
                        const char *key, const char *dflt)
{
    const char *v = obj != NULL ? get_string(L, obj, node, p, key, dflt, 1, NULL) : dflt;
    return v != NULL ? xstrdup(&L->c, v) : NULL;
}

static void load_agent(loader_t *L, const cfg_path_t *rp)
{
    host_agent_config_t *a = &L->cfg->agent;
    cfg_node_t *kn = NULL;
    json_t *obj = get_object(L, L->root, L->pos, rp, "agent", &kn);
    cfg_path_t p = {rp, "agent", 5, 0};
    if (obj != NULL)
        check_keys(L, obj, kn, &p, agent_keys, COUNT(agent_keys), 0);
    a->command = opt_string(L, obj, kn, &p, "command", "claude");
    a->model = opt_string(L, obj, kn, &p, "model", NULL);
    a->api_key = opt_string(L, obj, kn, &p, "api_key", NULL);
    a->base_url = opt_string(L, obj, kn, &p, "base_url", NULL);
#define AGENT_INT(field, min, max, def) \
    a->field = obj != NULL ? get_int(L, obj, kn, &p, #field, min, max, def, NULL) : def
    AGENT_INT(idle_timeout_s, 10, 86400, 300);
    AGENT_INT(exit_deadline_s, 1, 600, 10);
    AGENT_INT(stop_grace_s, 1, 120, 5);
    AGENT_INT(idle_pause_s, 5, 604800, 900);
    AGENT_INT(max_line_bytes, 4096, 256LL * 1024 * 1024, 64LL * 1024 * 1024);
#undef AGENT_INT
}

static void load_events(loader_t *L, const cfg_path_t *rp)
{
    host_events_config_t *e = &L->cfg->events;
    cfg_node_t *kn = NULL;
    json_t *obj = get_object(L, L->root, L->pos, rp, "events", &kn);
    cfg_path_t p = {rp, "events", 6, 0};
    e->wal_max_mb = 64;
    if (obj == NULL)
        return;
    check_keys(L, obj, kn, &p, events_keys, COUNT(events_keys), 0);
    e->retention_days = (unsigned)get_int(L, obj, kn, &p, "retention_days", 0, 36500, 0, NULL);
    e->max_per_session = (unsigned long long)get_int(L, obj, kn, &p, "max_per_session", 0,
                                                     1000000000000LL, 0, NULL);
    e->wal_max_mb = (unsigned)get_int(L, obj, kn, &p, "wal_max_mb", 4, 65536, 64, NULL);
}

static void load_api(loader_t *L, const cfg_path_t *rp)
{
    host_api_config_t *a = &L->cfg->api;
    cfg_node_t *kn = NULL;
    json_t *obj = get_object(L, L->root, L->pos, rp, "api", &kn);
    cfg_path_t p = {rp, "api", 3, 0};
    if (obj != NULL)
        check_keys(L, obj, kn, &p, api_keys, COUNT(api_keys), 0);
#define API_INT(field, min, max, def) \
    a->field = obj != NULL ? get_int(L, obj, kn, &p, #field, min, max, def, NULL) : def
    API_INT(max_connections, 1, 100000, 1024);
    API_INT(max_connections_per_address, 1, 100000, 256);
    API_INT(handshake_timeout_s, 1, 600, 10);
    API_INT(idle_timeout_s, 5, 86400, 120);
    API_INT(ping_interval_s, 1, 3600, 30);
    API_INT(client_queue_bytes, 4096, 1024LL * 1024 * 1024, 8LL * 1024 * 1024);
    API_INT(token_recheck_ms, 100, 600000, 1000);
#undef API_INT
    a->tls_cert = opt_string(L, obj, kn, &p, "tls_cert", NULL);
    a->tls_key = opt_string(L, obj, kn, &p, "tls_key", NULL);
    a->static_dir = opt_string(L, obj, kn, &p, "static_dir", NULL);
    if ((a->tls_cert == NULL) != (a->tls_key == NULL))
        cfg_report(&L->c, kn, 0, &p,
                   "give both \"tls_cert\" and \"tls_key\" (PEM files) for TLS, or neither");
}

/* "permissions": the rules every session starts from. The permission
 * engine is the one reader of rules, so it checks them here too. */
static void load_permissions(loader_t *L, const cfg_path_t *rp)
{
    cfg_node_t *kn = NULL;
    json_t *obj = get_object(L, L->root, L->pos, rp, "permissions", &kn);
    cfg_path_t p = {rp, "permissions", 11, 0};
    host_perm_policy_t pol;
    char why[256];
    json_t *none = json_object();
    int rc = none != NULL ? host_perm_policy_build(obj, none, &pol, why, sizeof why)
                          : AGENTD_ENOMEM;
    json_decref(none);
    if (rc == 0)
        host_perm_policy_free(&pol);
    else if (rc == AGENTD_ENOMEM)
        L->c.oom = 1;
    else /* why starts "config permissions.<key>": keep the key path */
        cfg_report(&L->c, kn, 0, &p, "%s",
                   strncmp(why, "config permissions", 18) == 0 ? why + 7 : why);
    L->cfg->permissions = obj != NULL ? json_deep_copy(obj)
                                      : json_pack("{s:s, s:s, s:[], s:[], s:[], s:i}", "mode",
                                                  "allowlist", "phase", "execute", "allow",
                                                  "ask", "deny", "approval_timeout_s",
                                                  (int)HOST_PERM_DEFAULT_APPROVAL_S);
    if (L->cfg->permissions == NULL)
        L->c.oom = 1;
    L->cfg->approval_timeout_s =
        host_perm_approval_timeout_s(obj, NULL, HOST_PERM_DEFAULT_APPROVAL_S);
}

/* A profile's plugin that plugins.load leaves out, when the profile is the
 * built-in one (nothing in the file to point at but "load"). */
static void check_default_profile_plugin(loader_t *L, const cfg_path_t *rp)
{
    if (!L->profiles_from_defaults || L->load_failed ||
        plugin_loaded(L->cfg, CFG_DEFAULT_PLUGIN))
        return;
    if (L->load_node == NULL || node_bad(L->load_node))
        return;
    cfg_path_t pp = {rp, "plugins", 7, 0};
    cfg_path_t lp = {&pp, "load", 4, 0};
    cfg_report(&L->c, L->load_node, 0, &lp,
               "the built-in sandbox profile \"" CFG_DEFAULT_PROFILE "\" (used because the "
               "file has no \"sandboxes\") needs plugin \"" CFG_DEFAULT_PLUGIN "\", which "
               "this list does not load; add it, or define \"sandboxes\"");
}

/* ---- freeing ---- */

static void free_list(char **list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void doc_free(struct host_config_doc *doc)
{
    if (doc == NULL)
        return;
    json_decref(doc->root);
    cfg_node_free(doc->pos);
    free(doc->file);
    free(doc);
}

void host_config_free(host_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->source);
    free(cfg->data_dir);
    free(cfg->listen_address);
    free_list(cfg->plugin_dirs, cfg->plugin_dir_count);
    free_list(cfg->plugin_load, cfg->plugin_load_count);
    free_list(cfg->profile_names, cfg->profile_count);
    free_list(cfg->profile_plugins, cfg->profile_count);
    free(cfg->default_sandbox);
    free(cfg->agent.command);
    free(cfg->agent.model);
    if (cfg->agent.api_key != NULL) /* may be a key from ${ENV} */
        memset(cfg->agent.api_key, 0, strlen(cfg->agent.api_key));
    free(cfg->agent.api_key);
    free(cfg->agent.base_url);
    free(cfg->api.tls_cert);
    free(cfg->api.tls_key);
    free(cfg->api.static_dir);
    json_decref(cfg->permissions);
    doc_free(cfg->doc);
    free(cfg);
}

/* ---- parsing ---- */

/* jansson's message, with control characters and broken UTF-8 replaced (it
 * quotes the text near the error). */
static void clean_text(char *dst, size_t n, const char *src)
{
    size_t o = 0;
    for (size_t i = 0; src[i] != '\0' && o + 1 < n;) {
        unsigned char ch = (unsigned char)src[i];
        if (ch < 0x80) {
            dst[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
            i++;
            continue;
        }
        size_t len = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
        size_t avail = strnlen(src + i, len);
        if (avail == len && cfg_utf8_valid(src + i, len) && o + len < n) {
            memcpy(dst + o, src + i, len);
            o += len;
            i += len;
        } else {
            dst[o++] = '?';
            i++;
        }
    }
    dst[o] = '\0';
}

static json_t *parse(cfg_ctx_t *c, const char *text, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY, &err);
    if (root != NULL)
        return root;
    char msg[JSON_ERROR_TEXT_LENGTH + 16];
    clean_text(msg, sizeof msg, err.text);
    int line = err.line > 0 ? err.line : 0, col = err.column > 0 ? err.column : 0;
    /* jansson points at the last character of the offending token ("near
     * 'oops'"); point at its first, when the token is found right there. */
    const char *near = strstr(err.text, "near '");
    const char *tok_end = near != NULL ? strrchr(err.text, '\'') : NULL;
    if (near != NULL && tok_end > near + 6 && err.position > 0) {
        size_t toklen = (size_t)(tok_end - (near + 6));
        size_t end = (size_t)err.position;
        if (end <= len && toklen <= end &&
            memcmp(text + end - toklen, near + 6, toklen) == 0)
            cfg_text_position(text, end - toklen, &line, &col);
    }
    switch (json_error_code(&err)) {
    case json_error_out_of_memory:
        c->oom = 1;
        cfg_report_at(c, line, col, NULL, "out of memory while parsing");
        break;
    case json_error_null_character:
        cfg_report_at(c, line, col, NULL,
                      "invalid JSON: \\u0000 (NUL) is not allowed in a string");
        break;
    case json_error_invalid_utf8:
        cfg_report_at(c, line, col, NULL, "invalid UTF-8 (%s): a config file is UTF-8 text",
                      msg);
        break;
    case json_error_stack_overflow:
        cfg_report_at(c, line, col, NULL, "invalid JSON: nested too deeply (%s)", msg);
        break;
    default:
        cfg_report_at(c, line, col, NULL, "invalid JSON: %s", msg);
        break;
    }
    return NULL;
}

/* Where a text is all blanks (an empty file). */
static int all_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

static void fill_host_keys(loader_t *L)
{
    const cfg_path_t *rp = NULL;
    host_config_t *cfg = L->cfg;

    check_keys(L, L->root, L->pos, rp, root_keys, COUNT(root_keys), 1);
    const char *dd = get_string(L, L->root, L->pos, rp, "data_dir", CFG_DEFAULT_DATA_DIR, 1, NULL);
    cfg->data_dir = xstrdup(&L->c, dd != NULL ? dd : CFG_DEFAULT_DATA_DIR);
    load_listen(L, rp);
    load_log(L, rp);
    load_plugins(L, rp);
    check_settings_ids(L, rp);
    load_sandboxes(L, rp);
    load_default_sandbox(L, rp);
    load_limits(L, rp);
    load_agent(L, rp);
    load_events(L, rp);
    load_api(L, rp);
    load_permissions(L, rp);
    check_default_profile_plugin(L, rp);

    /* The file must fit in its own limit, or the next load would refuse it. */
    if (L->cfg->doc->text_len > cfg->limits.max_config_bytes) {
        cfg_node_t *ln = NULL, *kn = NULL;
        json_t *lim = member(L->root, L->pos, "limits", &ln);
        if (lim != NULL)
            member(lim, ln, "max_config_bytes", &kn);
        cfg_path_t lp = {NULL, "limits", 6, 0};
        cfg_path_t mp = {&lp, "max_config_bytes", 16, 0};
        cfg_report(&L->c, kn, 0, &mp, "the config itself is %zu bytes, more than this limit (%zu)",
                   L->cfg->doc->text_len, cfg->limits.max_config_bytes);
    }
}

int host_config_load_text(const char *text, size_t len, const char *name, host_config_t **out,
                          host_diags_t *diags)
{
    if (out != NULL)
        *out = NULL;
    if (name == NULL)
        name = "<config>";
    cfg_ctx_t c = CFG_CTX(name, diags);
    if (out == NULL || (text == NULL && len > 0)) {
        cfg_report_at(&c, 0, 0, NULL, "internal error: no text or no place for the result");
        return AGENTD_EINVAL;
    }
    if (text == NULL)
        text = "";
    size_t full_len = len;
    if (len > CFG_HARD_MAX_CONFIG_BYTES) {
        cfg_report_at(&c, 0, 0, NULL,
                      "the config is %zu bytes, more than the %zu bytes any config may have",
                      len, CFG_HARD_MAX_CONFIG_BYTES);
        return cfg_result(&c);
    }
    /* A UTF-8 byte order mark, as some editors write: skip it. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        int line, col;
        cfg_text_position(text, (size_t)(nul - text), &line, &col);
        cfg_report_at(&c, line, col, NULL,
                      "a NUL byte: a config file is UTF-8 JSON text (is this the right file?)");
        return cfg_result(&c);
    }
    if (all_blank(text, len)) {
        cfg_report_at(&c, 0, 0, NULL,
                      "the config is empty; write {} to run with the defaults");
        return cfg_result(&c);
    }

    json_t *root = parse(&c, text, len);
    if (root == NULL)
        return cfg_result(&c);
    if (!json_is_object(root)) {
        int line, col;
        size_t at = 0;
        while (at < len && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' ||
                            text[at] == '\r'))
            at++;
        cfg_text_position(text, at, &line, &col);
        cfg_report_at(&c, line, col, NULL,
                      "the config must be a JSON object ({...}), not %s",
                      cfg_json_type_name(root));
        json_decref(root);
        return cfg_result(&c);
    }

    host_config_t *cfg = calloc(1, sizeof *cfg);
    struct host_config_doc *doc = calloc(1, sizeof *doc);
    if (cfg == NULL || doc == NULL) {
        free(cfg);
        free(doc);
        json_decref(root);
        c.oom = 1;
        return cfg_result(&c);
    }
    cfg->doc = doc;
    doc->root = root;
    doc->text_len = full_len;
    doc->file = xstrdup(&c, name);
    cfg->source = xstrdup(&c, name);
    if (c.oom) {
        host_config_free(cfg);
        return cfg_result(&c);
    }

    doc->pos = cfg_doc_index(text, len, &c);
    if (c.oom) {
        host_config_free(cfg);
        return cfg_result(&c);
    }
    cfg_env_substitute(root, doc->pos, NULL, 0, &c);

    loader_t L = {0};
    L.c = c;
    L.cfg = cfg;
    L.root = root;
    L.pos = doc->pos;
    fill_host_keys(&L);

    cfg_sort_diags(&L.c);
    int rc = cfg_result(&L.c);
    if (rc != 0) {
        host_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

/* Read all of a file, refusing more than `cap` bytes. */
static int read_file(cfg_ctx_t *c, const char *path, size_t cap, char **text, size_t *len)
{
    char eb[128];
    *text = NULL;
    *len = 0;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int e = errno;
        cfg_report_at(c, 0, 0, NULL, "cannot open the config file: %s",
                      errtext(e, eb, sizeof eb));
        return e == ENOENT || e == ENOTDIR ? AGENTD_ENOENT : AGENTD_ECONFIG;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        cfg_report_at(c, 0, 0, NULL, "cannot stat the config file: %s",
                      errtext(errno, eb, sizeof eb));
        close(fd);
        return AGENTD_ECONFIG;
    }
    if (S_ISDIR(st.st_mode)) {
        cfg_report_at(c, 0, 0, NULL,
                      "is a directory; give the path of the config file (e.g. %s/agentd.json)",
                      path);
        close(fd);
        return AGENTD_ECONFIG;
    }
    if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > cap) {
        cfg_report_at(c, 0, 0, NULL,
                      "the config file is %lld bytes, more than the limit of %zu bytes "
                      "(limits.max_config_bytes)",
                      (long long)st.st_size, cap);
        close(fd);
        return AGENTD_ECONFIG;
    }
    size_t bufcap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (bufcap > cap + 1)
        bufcap = cap + 1;
    char *buf = malloc(bufcap + 1);
    size_t n = 0;
    int rc = 0;
    if (buf == NULL) {
        c->oom = 1;
        close(fd);
        return AGENTD_ENOMEM;
    }
    for (;;) {
        if (n == bufcap) {
            if (n > cap)
                break;
            size_t ncap = bufcap * 2 > cap + 1 ? cap + 1 : bufcap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (nb == NULL) {
                c->oom = 1;
                rc = AGENTD_ENOMEM;
                break;
            }
            buf = nb;
            bufcap = ncap;
        }
        ssize_t r = read(fd, buf + n, bufcap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            cfg_report_at(c, 0, 0, NULL, "cannot read the config file: %s",
                          errtext(errno, eb, sizeof eb));
            rc = AGENTD_ECONFIG;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == 0 && n > cap) {
        cfg_report_at(c, 0, 0, NULL,
                      "the config file is more than the limit of %zu bytes "
                      "(limits.max_config_bytes)",
                      cap);
        rc = AGENTD_ECONFIG;
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

int host_config_load_limited(const char *path, size_t max_bytes, host_config_t **out,
                             host_diags_t *diags)
{
    if (out != NULL)
        *out = NULL;
    if (path == NULL)
        return host_config_load_text(cfg_default_text, strlen(cfg_default_text),
                                     CFG_DEFAULTS_NAME, out, diags);
    cfg_ctx_t c = CFG_CTX(path, diags);
    if (out == NULL) {
        cfg_report_at(&c, 0, 0, NULL, "internal error: no place for the result");
        return AGENTD_EINVAL;
    }
    if (max_bytes == 0)
        max_bytes = CFG_DEFAULT_MAX_CONFIG_BYTES;
    if (max_bytes > CFG_HARD_MAX_CONFIG_BYTES)
        max_bytes = CFG_HARD_MAX_CONFIG_BYTES;
    char *text;
    size_t len;
    int rc = read_file(&c, path, max_bytes, &text, &len);
    if (rc != 0)
        return c.oom ? AGENTD_ENOMEM : rc;
    rc = host_config_load_text(text, len, path, out, diags);
    free(text);
    return rc;
}

int host_config_load(const char *path, host_config_t **out, host_diags_t *diags)
{
    return host_config_load_limited(path, 0, out, diags);
}
