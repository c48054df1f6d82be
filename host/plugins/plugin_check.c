/* Descriptor checks: everything the host verifies before it runs any plugin
 * code. Each refusal says what is wrong and how to fix it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/registry.h"

#define SDK_HINT "rebuild the plugin against this agentd's SDK (docs/plugins.md)"

int host_plugin_refuse(host_plugin_t *p, int code, const char *fix, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(p->reason);
    free(p->fix);
    p->reason = strdup(buf);
    p->fix = strdup(fix);
    p->status = HOST_PLUGIN_REFUSED;
    return code;
}

const char *host_plugin_kind_name(agentd_plugin_kind_t kind)
{
    switch (kind) {
    case AGENTD_KIND_SANDBOX: return "sandbox";
    case AGENTD_KIND_VCS: return "vcs";
    case AGENTD_KIND_MCP: return "mcp";
    case AGENTD_KIND_NOTIFY: return "notify";
    default: return "unknown";
    }
}

static int valid_id(const char *id)
{
    size_t n = 0;
    for (const char *c = id; *c != '\0'; c++, n++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return 0;
    }
    return n > 0 && n <= 64;
}

static char *copy_text(const char *s, size_t max)
{
    if (s == NULL)
        return NULL;
    size_t n = strnlen(s, max);
    char *c = malloc(n + 1);
    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* A required function pointer, checked by offset within the size the plugin
 * declared: a field the plugin's struct does not have counts as missing. */
typedef struct required_fn {
    size_t offset;
    const char *name;
} required_fn_t;

#define REQ(type, field) {offsetof(type, field), #field}

static const required_fn_t sandbox_required[] = {
    REQ(agentd_sandbox_vtable_t, create), REQ(agentd_sandbox_vtable_t, exec),
    REQ(agentd_sandbox_vtable_t, exec_signal), REQ(agentd_sandbox_vtable_t, exec_release),
    REQ(agentd_sandbox_vtable_t, signal), REQ(agentd_sandbox_vtable_t, destroy),
    REQ(agentd_sandbox_vtable_t, list), REQ(agentd_sandbox_vtable_t, reap),
};
static const required_fn_t vcs_required[] = {
    REQ(agentd_vcs_vtable_t, prepare), REQ(agentd_vcs_vtable_t, commit),
    REQ(agentd_vcs_vtable_t, push),
};
static const required_fn_t mcp_required[] = {
    REQ(agentd_mcp_vtable_t, list_servers), REQ(agentd_mcp_vtable_t, session_config),
};
static const required_fn_t notify_required[] = {
    REQ(agentd_notify_vtable_t, subscribe), REQ(agentd_notify_vtable_t, on_event),
};

typedef struct kind_rules {
    size_t min_size;       /* the vtable's size at ABI 1.0 */
    size_t host_size;      /* sizeof in this host */
    const required_fn_t *required;
    size_t n_required;
} kind_rules_t;

#define RULES(type, last, arr) \
    {AGENTD_SIZE_THROUGH(type, last), sizeof(type), arr, sizeof arr / sizeof arr[0]}

static int kind_rules(agentd_plugin_kind_t kind, kind_rules_t *out)
{
    static const kind_rules_t rules[] = {
        RULES(agentd_sandbox_vtable_t, reap, sandbox_required),
        RULES(agentd_vcs_vtable_t, release, vcs_required),
        RULES(agentd_mcp_vtable_t, session_release, mcp_required),
        RULES(agentd_notify_vtable_t, on_event, notify_required),
    };
    if (kind < AGENTD_KIND_SANDBOX || kind > AGENTD_KIND_NOTIFY)
        return 0;
    *out = rules[kind - 1];
    return 1;
}

static int check_vtable(host_plugin_t *p)
{
    kind_rules_t r;
    const char *kind = host_plugin_kind_name(p->desc.kind);
    if (!kind_rules(p->desc.kind, &r))
        return host_plugin_refuse(p, AGENTD_EINVAL,
                                  "set kind to one of AGENTD_KIND_SANDBOX, _VCS, _MCP, _NOTIFY",
                                  "unknown plugin kind %d", (int)p->desc.kind);
    uint32_t vsize;
    memcpy(&vsize, p->desc.vtable, sizeof vsize);
    if (vsize < r.min_size)
        return host_plugin_refuse(p, AGENTD_EVERSION, SDK_HINT "; set the vtable's size "
                                  "with sizeof",
                                  "%s vtable too small: size %u, ABI 1.0 needs at least %zu",
                                  kind, vsize, r.min_size);
    memcpy(&p->vt, p->desc.vtable, vsize < r.host_size ? vsize : r.host_size);
    for (size_t i = 0; i < r.n_required; i++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)&p->vt + r.required[i].offset, sizeof fn);
        if (fn == NULL)
            return host_plugin_refuse(p, AGENTD_EINVAL,
                                      "implement it: every required function of the kind's "
                                      "vtable must be set (sdk/include/agentd/)",
                                      "required callback missing: %s.%s", kind,
                                      r.required[i].name);
    }
    return 0;
}

static int check_header(const agentd_plugin_t *d, size_t sym_size, host_plugin_t *p)
{
    const size_t head = AGENTD_SIZE_THROUGH(agentd_plugin_t, size);
    if (sym_size != 0 && sym_size < head)
        return host_plugin_refuse(p, AGENTD_EVERSION, SDK_HINT,
                                  "descriptor too small: the symbol is %zu bytes", sym_size);
    if (d->magic != AGENTD_PLUGIN_MAGIC)
        return host_plugin_refuse(p, AGENTD_EINVAL,
                                  "start the descriptor with AGENTD_PLUGIN_HEADER; " SDK_HINT,
                                  "not an agentd plugin: wrong magic 0x%08x (expected 0x%08x)",
                                  (unsigned)d->magic, (unsigned)AGENTD_PLUGIN_MAGIC);
    p->abi_major = d->abi_major;
    p->abi_minor = d->abi_minor;
    if (d->abi_major != AGENTD_ABI_MAJOR)
        return host_plugin_refuse(p, AGENTD_EVERSION,
                                  d->abi_major > AGENTD_ABI_MAJOR
                                      ? "use an agentd whose plugin ABI major matches, or "
                                        "rebuild the plugin against this agentd's SDK"
                                      : SDK_HINT,
                                  "built for plugin ABI %u.%u; this agentd speaks ABI %d.%d",
                                  d->abi_major, d->abi_minor, AGENTD_ABI_MAJOR,
                                  AGENTD_ABI_MINOR);
    if (d->abi_minor > AGENTD_ABI_MINOR)
        return host_plugin_refuse(p, AGENTD_EVERSION,
                                  "upgrade agentd to one with plugin ABI >= the plugin's, or "
                                  "rebuild the plugin against this agentd's SDK",
                                  "built for plugin ABI %u.%u, newer than this agentd's %d.%d",
                                  d->abi_major, d->abi_minor, AGENTD_ABI_MAJOR,
                                  AGENTD_ABI_MINOR);
    if (d->size < AGENTD_PLUGIN_SIZE_V1_0 || (sym_size != 0 && d->size > sym_size))
        return host_plugin_refuse(p, AGENTD_EVERSION,
                                  SDK_HINT "; size must be sizeof(agentd_plugin_t)",
                                  "descriptor too small: it declares %u bytes%s, ABI 1.0 "
                                  "needs at least %zu",
                                  (unsigned)d->size,
                                  sym_size != 0 && d->size > sym_size ? " but is shorter" : "",
                                  (size_t)AGENTD_PLUGIN_SIZE_V1_0);
    return 0;
}

int host_plugin_check_descriptor(const void *sym, size_t sym_size, host_plugin_t *p)
{
    const agentd_plugin_t *d = sym;
    int rc = check_header(d, sym_size, p);
    if (rc != 0)
        return rc;
    memset(&p->desc, 0, sizeof p->desc);
    memcpy(&p->desc, d, d->size < sizeof p->desc ? d->size : sizeof p->desc);
    p->kind = p->desc.kind;
    p->id = copy_text(p->desc.id, 128);
    p->version = copy_text(p->desc.version, 64);
    p->description = copy_text(p->desc.description, 512);
    p->limitations = copy_text(p->desc.limitations, 1024);
    p->has_descriptor = 1;
    if (p->desc.id == NULL || !valid_id(p->id))
        return host_plugin_refuse(p, AGENTD_EINVAL,
                                  "set id to 1-64 characters of [a-z0-9-], e.g. \"sandbox-x\"",
                                  "invalid plugin id \"%s\"", p->id != NULL ? p->id : "(null)");
    if (p->desc.version == NULL)
        return host_plugin_refuse(p, AGENTD_EINVAL, "set version, e.g. \"1.0.0\"",
                                  "descriptor has no version");
    const char *missing = p->desc.init == NULL ? "init"
                          : p->desc.fini == NULL ? "fini"
                          : p->desc.vtable == NULL ? "vtable" : NULL;
    if (missing != NULL)
        return host_plugin_refuse(p, AGENTD_EINVAL,
                                  "set it in the descriptor: init, fini and vtable are required",
                                  "required callback missing: %s", missing);
    if (p->desc.config_field_count > 0 && p->desc.config_fields == NULL)
        return host_plugin_refuse(p, AGENTD_EINVAL, "set config_fields or a count of 0",
                                  "config_field_count is %u but config_fields is NULL",
                                  p->desc.config_field_count);
    if (p->desc.profile_field_count > 0 && p->desc.profile_fields == NULL)
        return host_plugin_refuse(p, AGENTD_EINVAL, "set profile_fields or a count of 0",
                                  "profile_field_count is %u but profile_fields is NULL",
                                  p->desc.profile_field_count);
    return check_vtable(p);
}
