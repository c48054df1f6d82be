/*
 * agentd plugin SDK: the plugin descriptor and configuration fields.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * AGENTD_PLUGIN_SYMBOL ("agentd_plugin"), a const agentd_plugin_t:
 *
 *     AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
 *         AGENTD_PLUGIN_HEADER,
 *         .kind = AGENTD_KIND_NOTIFY,
 *         .id = "notify-example", .version = "1.0.0", ...
 *     };
 *
 * Before it calls any plugin code the host checks, in order: the magic, the
 * ABI major (equal) and minor (no newer than the host's), `size`, the kind,
 * the id (non-empty, unique among loaded plugins), the required callbacks,
 * and the plugin's configuration section against config_fields. Only then
 * does it call init. Loaded RTLD_NOW | RTLD_LOCAL; link plugins with
 * -Wl,--no-undefined and -fvisibility=hidden.
 *
 * Lifetime: init -> (kind callbacks) -> stop -> fini -> dlclose.
 */
#ifndef AGENTD_PLUGIN_H
#define AGENTD_PLUGIN_H

#include "abi.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum agentd_plugin_kind {
    AGENTD_KIND_SANDBOX = 1, /* vtable: agentd_sandbox_vtable_t (sandbox.h) */
    AGENTD_KIND_VCS = 2,     /* vtable: agentd_vcs_vtable_t (vcs.h) */
    AGENTD_KIND_MCP = 3,     /* vtable: agentd_mcp_vtable_t (mcp.h) */
    AGENTD_KIND_NOTIFY = 4   /* vtable: agentd_notify_vtable_t (notify.h) */
} agentd_plugin_kind_t;

/* Types of a configuration field's JSON value. */
typedef enum agentd_config_type {
    AGENTD_CONFIG_STRING = 1,
    AGENTD_CONFIG_INT = 2,         /* a JSON integer within [min, max] */
    AGENTD_CONFIG_NUMBER = 3,      /* any JSON number */
    AGENTD_CONFIG_BOOL = 4,
    AGENTD_CONFIG_STRING_LIST = 5, /* a JSON array of strings */
    AGENTD_CONFIG_OBJECT = 6,      /* any JSON object; the plugin checks it */
    AGENTD_CONFIG_SECRET = 7       /* a string that should be "${secret:NAME}";
                                    * the host never logs or prints it */
} agentd_config_type_t;

/* One field of a plugin's settings. Arrays of fields are walked with the
 * stride in their first element's `size`, so a newer SDK may add members. */
typedef struct agentd_config_field {
    uint32_t size;                /* sizeof(agentd_config_field_t) */
    const char *name;             /* minor 0: the JSON key */
    agentd_config_type_t type;    /* minor 0 */
    int required;                 /* minor 0: non-zero: must be present */
    const char *default_json;     /* minor 0: JSON text of the default, or
                                   * NULL; the host fills it in before init */
    const char *description;      /* minor 0: one line, for `agentd plugins
                                   * --verbose` and docs */
    int64_t min;                  /* minor 0: AGENTD_CONFIG_INT bounds, */
    int64_t max;                  /* used when min < max */
} agentd_config_field_t;

/* Completion of an asynchronous plugin operation with no result. */
typedef void (*agentd_done_cb)(void *ud, int status);

/* A JSON result: on success status is 0 and json/len hold a JSON object; on
 * failure json is NULL and msg says why. Both borrowed for the call. Runs
 * once. */
typedef void (*agentd_json_cb)(void *ud, int status, const char *json, size_t len,
                               const char *msg);

typedef struct agentd_plugin {
    uint32_t magic;               /* AGENTD_PLUGIN_MAGIC */
    uint16_t abi_major;           /* AGENTD_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;           /* AGENTD_ABI_MINOR the plugin was built with */
    uint32_t size;                /* sizeof(agentd_plugin_t) at build time */

    /* minor 0 */
    agentd_plugin_kind_t kind;
    const char *id;               /* unique, [a-z0-9-]+, e.g. "sandbox-docker" */
    const char *version;          /* the plugin's own version, e.g. "1.2.0" */
    const char *description;      /* one line */
    /* What the plugin cannot do yet, or NULL: printed by `agentd plugins`. */
    const char *limitations;

    /* minor 0: settings of the plugin's own section in the config file
     * ("plugins": {"settings": {"<id>": {...}}}). */
    const agentd_config_field_t *config_fields;
    uint32_t config_field_count;
    /* minor 0: settings of each profile that uses this plugin (for sandbox
     * plugins: "sandboxes": {"<name>": {"plugin": "<id>", ...}}). */
    const agentd_config_field_t *profile_fields;
    uint32_t profile_field_count;

    /* minor 0, required: create the plugin's state. config_json is the
     * plugin's section, validated and with defaults filled in; borrowed.
     * Store api and host for later calls. On failure return a negative code
     * with text in err; fini is then not called. */
    int (*init)(const agentd_host_api_t *api, agentd_host_t *host,
                const char *config_json, size_t config_len, void **self,
                agentd_err_t *err);

    /* minor 0, optional: the host is shutting down. Finish or cancel
     * in-flight work, then call done exactly once (synchronously is fine).
     * The host waits for done up to its shutdown deadline. */
    void (*stop)(void *self, agentd_done_cb done, void *ud);

    /* minor 0, required: free the plugin's state. No callback into the
     * plugin runs after fini. */
    void (*fini)(void *self);

    /* minor 0, required: the kind's function table (sandbox.h, vcs.h, mcp.h,
     * notify.h); it starts with its own uint32_t size. */
    const void *vtable;
} agentd_plugin_t;

/* The first four members of every descriptor, for the SDK it is built with. */
#define AGENTD_PLUGIN_HEADER                                  \
    .magic = AGENTD_PLUGIN_MAGIC, .abi_major = AGENTD_ABI_MAJOR, \
    .abi_minor = AGENTD_ABI_MINOR, .size = sizeof(agentd_plugin_t)

/* Descriptor size that ABI 1.0 requires. */
#define AGENTD_PLUGIN_SIZE_V1_0 AGENTD_SIZE_THROUGH(agentd_plugin_t, vtable)

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_PLUGIN_H */
