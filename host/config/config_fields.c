/*
 * Phase 2: a plugin's section ("plugins.settings.<id>") or a sandbox profile
 * ("sandboxes.<name>", without "plugin") checked against the fields the
 * plugin declares (agentd_config_field_t), with the declared defaults filled
 * in. The result is the JSON text the plugin receives.
 *
 * The field array comes from a plugin, so it is read by the ABI rules: the
 * stride is fields[0].size, each element is copied (min(stride, sizeof))
 * into a zeroed struct, and a broken declaration (no name, unknown type,
 * default_json that does not parse or does not fit its type) is a
 * diagnostic naming the plugin and the field, never a crash.
 */
#include "config/config_internal.h"

#include <stdlib.h>
#include <string.h>

/* More fields than this is surely a broken descriptor. */
#define CFG_MAX_FIELDS 4096
/* Nor is an element bigger than this a real agentd_config_field_t. */
#define CFG_MAX_FIELD_STRIDE 65536u

typedef struct field {
    agentd_config_field_t f;
    size_t name_len;
    int ok;           /* the declaration is usable */
    json_t *dflt;     /* parsed default_json, or NULL */
} field_t;

typedef struct check {
    cfg_ctx_t c;
    const char *plugin;   /* id, for messages */
    const cfg_path_t *section; /* path of the section */
    field_t *fields;
    size_t count;
} check_t;

static const char *type_want(agentd_config_type_t t)
{
    switch (t) {
    case AGENTD_CONFIG_STRING: return "a string";
    case AGENTD_CONFIG_INT: return "an integer";
    case AGENTD_CONFIG_NUMBER: return "a number";
    case AGENTD_CONFIG_BOOL: return "true or false";
    case AGENTD_CONFIG_STRING_LIST: return "a list of strings";
    case AGENTD_CONFIG_OBJECT: return "an object";
    case AGENTD_CONFIG_SECRET: return "a secret reference \"${secret:NAME}\"";
    }
    return "a value";
}

static int int_bounded(const agentd_config_field_t *f)
{
    return f->type == AGENTD_CONFIG_INT && f->min < f->max;
}

/* Shallow check of a value against a field (used for declared defaults). */
static int value_fits(const agentd_config_field_t *f, const json_t *v)
{
    switch (f->type) {
    case AGENTD_CONFIG_STRING: return json_is_string(v);
    case AGENTD_CONFIG_INT:
        if (!json_is_integer(v))
            return 0;
        return !int_bounded(f) ||
               (json_integer_value(v) >= f->min && json_integer_value(v) <= f->max);
    case AGENTD_CONFIG_NUMBER: return json_is_number(v);
    case AGENTD_CONFIG_BOOL: return json_is_boolean(v);
    case AGENTD_CONFIG_STRING_LIST: {
        if (!json_is_array(v))
            return 0;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)))
                return 0;
        return 1;
    }
    case AGENTD_CONFIG_OBJECT: return json_is_object(v);
    case AGENTD_CONFIG_SECRET:
        return json_is_string(v) && cfg_is_secret_ref(json_string_value(v), json_string_length(v));
    }
    return 0;
}

/* Read and check the declarations. Returns 0, or -1 when the array itself is
 * unusable (reported). */
static int read_fields(check_t *k, const agentd_config_field_t *fields, uint32_t count)
{
    char qp[96];
    cfg_quote(qp, sizeof qp, k->plugin, strlen(k->plugin), 64);
    k->fields = NULL;
    k->count = 0;
    if (count == 0)
        return 0;
    if (fields == NULL) {
        cfg_report(&k->c, NULL, 0, k->section,
                   "plugin %s declares %u settings but no field array (a bug in the plugin)",
                   qp, (unsigned)count);
        return -1;
    }
    if (count > CFG_MAX_FIELDS) {
        cfg_report(&k->c, NULL, 0, k->section,
                   "plugin %s declares %u settings, more than %d (a bug in the plugin)", qp,
                   (unsigned)count, CFG_MAX_FIELDS);
        return -1;
    }
    uint32_t stride;
    memcpy(&stride, fields, sizeof stride);
    size_t need = AGENTD_SIZE_THROUGH(agentd_config_field_t, type);
    if (stride < need || stride > CFG_MAX_FIELD_STRIDE) {
        cfg_report(&k->c, NULL, 0, k->section,
                   "plugin %s declares its settings with element size %u, which cannot be an "
                   "agentd_config_field_t (ABI 1.0: %zu bytes; a bug in the plugin)",
                   qp, (unsigned)stride, sizeof(agentd_config_field_t));
        return -1;
    }
    k->fields = calloc(count, sizeof *k->fields);
    if (k->fields == NULL) {
        k->c.oom = 1;
        return -1;
    }
    k->count = count;
    size_t copy = stride < sizeof(agentd_config_field_t) ? stride : sizeof(agentd_config_field_t);
    for (size_t i = 0; i < count; i++) {
        field_t *fd = &k->fields[i];
        memcpy(&fd->f, (const unsigned char *)fields + i * (size_t)stride, copy);
        const agentd_config_field_t *f = &fd->f;
        if (f->name == NULL || f->name[0] == '\0') {
            cfg_report(&k->c, NULL, 0, k->section,
                       "plugin %s declares setting #%zu without a name (a bug in the plugin)",
                       qp, i);
            continue;
        }
        fd->name_len = strlen(f->name);
        cfg_path_t fp = {k->section, f->name, fd->name_len, 0};
        if (f->type < AGENTD_CONFIG_STRING || f->type > AGENTD_CONFIG_SECRET) {
            cfg_report(&k->c, NULL, 0, &fp,
                       "plugin %s declares this setting with unknown type %d (a bug in the "
                       "plugin)",
                       qp, (int)f->type);
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = k->fields[j].ok && k->fields[j].name_len == fd->name_len &&
                  memcmp(k->fields[j].f.name, f->name, fd->name_len) == 0;
        if (dup) {
            cfg_report(&k->c, NULL, 0, &fp,
                       "plugin %s declares this setting twice (a bug in the plugin)", qp);
            continue;
        }
        if (f->default_json != NULL) {
            json_error_t err;
            fd->dflt = json_loads(f->default_json, JSON_DECODE_ANY, &err);
            if (fd->dflt == NULL) {
                if (json_error_code(&err) == json_error_out_of_memory) {
                    k->c.oom = 1;
                    continue;
                }
                cfg_report(&k->c, NULL, 0, &fp,
                           "plugin %s declares a default for this setting that is not valid "
                           "JSON (a bug in the plugin)",
                           qp);
                continue;
            }
            if (!value_fits(f, fd->dflt)) {
                cfg_report(&k->c, NULL, 0, &fp,
                           "plugin %s declares a default for this setting that is not %s%s "
                           "(a bug in the plugin)",
                           qp, type_want(f->type), int_bounded(f) ? " within its bounds" : "");
                json_decref(fd->dflt);
                fd->dflt = NULL;
                continue;
            }
        }
        fd->ok = 1;
    }
    return 0;
}

static void free_fields(check_t *k)
{
    for (size_t i = 0; i < k->count; i++)
        json_decref(k->fields[i].dflt);
    free(k->fields);
    k->fields = NULL;
    k->count = 0;
}

static field_t *find_field(check_t *k, const char *key, size_t len)
{
    for (size_t i = 0; i < k->count; i++) {
        field_t *fd = &k->fields[i];
        if (fd->f.name != NULL && fd->name_len == len && memcmp(fd->f.name, key, len) == 0)
            return fd;
    }
    return NULL;
}

/* Check one configured value, reporting every problem. Returns 1 if fine. */
static int check_value(check_t *k, const field_t *fd, json_t *v, cfg_node_t *n,
                       const cfg_path_t *p)
{
    const agentd_config_field_t *f = &fd->f;
    if (n != NULL && (n->flags & CFG_NODE_BAD))
        return 0; /* reported when it was substituted */
    if (f->type == AGENTD_CONFIG_SECRET) {
        if (!json_is_string(v)) {
            cfg_report(&k->c, n, 0, p, "must be %s, not %s", type_want(f->type),
                       cfg_json_type_name(v));
            return 0;
        }
        if (cfg_is_secret_ref(json_string_value(v), json_string_length(v)))
            return 1;
        if (n != NULL && (n->flags & CFG_NODE_SUBSTITUTED))
            cfg_report(&k->c, n, 0, p,
                       "is a secret, so it must be a reference \"${secret:NAME}\" to the "
                       "secrets store, not a value from an environment variable (the value is "
                       "not shown)");
        else
            cfg_report(&k->c, n, 0, p,
                       "is a secret, so it must be a reference \"${secret:NAME}\" to the "
                       "secrets store: a secret written into the config file would be exposed "
                       "(the value is not shown)");
        return 0;
    }
    if (f->type == AGENTD_CONFIG_STRING_LIST) {
        if (!json_is_array(v)) {
            cfg_report(&k->c, n, 0, p, "must be %s, not %s", type_want(f->type),
                       cfg_json_type_name(v));
            return 0;
        }
        int ok = 1;
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *el = json_array_get(v, i);
            cfg_node_t *en = cfg_node_element(n, i);
            cfg_path_t ep = {p, NULL, 0, i};
            if (en != NULL && (en->flags & CFG_NODE_BAD)) {
                ok = 0;
            } else if (!json_is_string(el)) {
                cfg_report(&k->c, en, 0, &ep, "must be a string, not %s", cfg_json_type_name(el));
                ok = 0;
            }
        }
        return ok;
    }
    if (f->type == AGENTD_CONFIG_INT) {
        if (!json_is_integer(v)) {
            cfg_report(&k->c, n, 0, p, "must be an integer, not %s", cfg_json_type_name(v));
            return 0;
        }
        long long x = json_integer_value(v);
        if (int_bounded(f) && (x < f->min || x > f->max)) {
            cfg_report(&k->c, n, 0, p, "%lld is out of range: allowed %lld..%lld", x,
                       (long long)f->min, (long long)f->max);
            return 0;
        }
        return 1;
    }
    if (!value_fits(f, v)) {
        cfg_report(&k->c, n, 0, p, "must be %s, not %s", type_want(f->type),
                   cfg_json_type_name(v));
        return 0;
    }
    return 1;
}

static void report_unknown(check_t *k, const cfg_member_t *m, const cfg_path_t *p)
{
    char q[96], qp[96];
    cfg_quote(q, sizeof q, m->key, m->key_len, 40);
    cfg_quote(qp, sizeof qp, k->plugin, strlen(k->plugin), 64);
    if (k->count == 0) {
        cfg_report(&k->c, m->node, 0, p, "unknown setting %s: plugin %s takes no settings", q,
                   qp);
        return;
    }
    const char **names = calloc(k->count, sizeof *names);
    if (names == NULL) {
        k->c.oom = 1;
        return;
    }
    for (size_t i = 0; i < k->count; i++)
        names[i] = k->fields[i].ok ? k->fields[i].f.name : NULL;
    const char *near = cfg_suggest(m->key, m->key_len, names, k->count);
    if (near != NULL) {
        cfg_report(&k->c, m->node, 0, p, "unknown setting %s of plugin %s; did you mean \"%s\"?",
                   q, qp, near);
    } else {
        cfg_buf_t b = {0};
        cfg_buf_add(&b, "", 0);
        size_t shown = 0;
        for (size_t i = 0; i < k->count && b.len < 200; i++) {
            if (names[i] == NULL)
                continue;
            cfg_buf_addf(&b, "%s%s", shown++ ? ", " : "", names[i]);
        }
        if (b.failed)
            k->c.oom = 1;
        cfg_report(&k->c, m->node, 0, p, "unknown setting %s of plugin %s (its settings: %s)", q,
                   qp, b.data != NULL ? b.data : "");
        cfg_buf_free(&b);
    }
    free(names);
}

/* Check `obj` (NULL: absent, i.e. {}) at `node` against the fields and
 * build the plugin's JSON. `skip_key` is a member to ignore ("plugin" in a
 * profile). */
static int check_section(const host_config_t *cfg, json_t *obj, cfg_node_t *node,
                         const cfg_path_t *path, const char *plugin,
                         const agentd_config_field_t *fields, uint32_t count,
                         const char *skip_key, char **json, host_diags_t *diags)
{
    check_t k = {CFG_CTX(cfg->source != NULL ? cfg->source : "<config>", diags), plugin, path,
                 NULL, 0};
    json_t *out = json_object();
    if (out == NULL)
        return AGENTD_ENOMEM;
    if (read_fields(&k, fields, count) != 0) {
        free_fields(&k);
        json_decref(out);
        return cfg_result(&k.c);
    }

    if (obj != NULL && !json_is_object(obj)) {
        cfg_report(&k.c, node, 0, path, "must be an object, not %s", cfg_json_type_name(obj));
        obj = NULL;
    }
    cfg_iter_t it;
    cfg_member_t m;
    cfg_iter_init(&it, obj, node, 1);
    while (cfg_iter_next(&it, &m)) {
        if (skip_key != NULL && strlen(skip_key) == m.key_len &&
            memcmp(skip_key, m.key, m.key_len) == 0)
            continue;
        cfg_path_t p = {path, m.key, m.key_len, 0};
        field_t *fd = find_field(&k, m.key, m.key_len);
        if (fd == NULL) {
            report_unknown(&k, &m, &p);
            continue;
        }
        if (!fd->ok)
            continue; /* the declaration was reported */
        if (check_value(&k, fd, m.value, m.node, &p) &&
            json_object_setn_nocheck(out, m.key, m.key_len, m.value) != 0)
            k.c.oom = 1;
    }

    for (size_t i = 0; i < k.count; i++) {
        field_t *fd = &k.fields[i];
        if (!fd->ok || (obj != NULL && json_object_getn(obj, fd->f.name, fd->name_len) != NULL))
            continue;
        cfg_path_t p = {path, fd->f.name, fd->name_len, 0};
        if (fd->f.required) {
            char qp[96];
            cfg_quote(qp, sizeof qp, plugin, strlen(plugin), 64);
            if (fd->f.description != NULL && fd->f.description[0] != '\0')
                cfg_report(&k.c, node, 0, &p, "missing: plugin %s requires this setting (%s: %s)",
                           qp, type_want(fd->f.type), fd->f.description);
            else
                cfg_report(&k.c, node, 0, &p, "missing: plugin %s requires this setting (%s)", qp,
                           type_want(fd->f.type));
        } else if (fd->dflt != NULL) {
            if (json_object_setn_nocheck(out, fd->f.name, fd->name_len, fd->dflt) != 0)
                k.c.oom = 1;
        }
    }

    cfg_sort_diags(&k.c);
    int rc = cfg_result(&k.c);
    if (rc == 0) {
        *json = json_dumps(out, JSON_COMPACT);
        if (*json == NULL)
            rc = AGENTD_ENOMEM;
    }
    free_fields(&k);
    json_decref(out);
    return rc;
}

int host_config_plugin_settings(const host_config_t *cfg, const char *plugin_id,
                                const agentd_config_field_t *fields, uint32_t count,
                                char **json, host_diags_t *diags)
{
    if (json != NULL)
        *json = NULL;
    if (cfg == NULL || plugin_id == NULL || json == NULL)
        return AGENTD_EINVAL;
    json_t *root = cfg->doc != NULL ? cfg->doc->root : NULL;
    cfg_node_t *pos = cfg->doc != NULL ? cfg->doc->pos : NULL;
    size_t idlen = strlen(plugin_id);

    json_t *plugins = json_object_get(root, "plugins");
    cfg_node_t *pn = cfg_node_member(pos, "plugins", 7);
    json_t *settings = json_object_get(plugins, "settings");
    cfg_node_t *sn = cfg_node_member(pn, "settings", 8);
    json_t *section = json_object_getn(settings, plugin_id, idlen);
    cfg_node_t *node = cfg_node_member(sn, plugin_id, idlen);
    if (section == NULL)
        node = NULL;

    cfg_path_t p1 = {NULL, "plugins", 7, 0};
    cfg_path_t p2 = {&p1, "settings", 8, 0};
    cfg_path_t p3 = {&p2, plugin_id, idlen, 0};
    return check_section(cfg, section, node, &p3, plugin_id, fields, count, NULL, json, diags);
}

int host_config_profile_settings(const host_config_t *cfg, const char *profile,
                                 const agentd_config_field_t *fields, uint32_t count,
                                 char **json, host_diags_t *diags)
{
    if (json != NULL)
        *json = NULL;
    if (cfg == NULL || profile == NULL || json == NULL)
        return AGENTD_EINVAL;
    const char *plugin = NULL;
    for (size_t i = 0; i < cfg->profile_count; i++) {
        if (strcmp(cfg->profile_names[i], profile) == 0) {
            plugin = cfg->profile_plugins[i];
            break;
        }
    }
    size_t len = strlen(profile);
    cfg_path_t p1 = {NULL, "sandboxes", 9, 0};
    cfg_path_t p2 = {&p1, profile, len, 0};
    if (plugin == NULL) {
        cfg_ctx_t c = CFG_CTX(cfg->source != NULL ? cfg->source : "<config>", diags);
        char q[96];
        cfg_report(&c, NULL, 0, &p1, "no sandbox profile %s",
                   cfg_quote(q, sizeof q, profile, len, 64));
        return c.oom ? AGENTD_ENOMEM : AGENTD_ENOENT;
    }
    json_t *root = cfg->doc != NULL ? cfg->doc->root : NULL;
    cfg_node_t *pos = cfg->doc != NULL ? cfg->doc->pos : NULL;
    json_t *section = json_object_getn(json_object_get(root, "sandboxes"), profile, len);
    cfg_node_t *node =
        section != NULL
            ? cfg_node_member(cfg_node_member(pos, "sandboxes", 9), profile, len)
            : NULL;
    /* section NULL: the built-in profile, which has nothing but "plugin". */
    return check_section(cfg, section, node, &p2, plugin, fields, count, "plugin", json, diags);
}
