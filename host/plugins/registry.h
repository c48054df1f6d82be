/*
 * The plugin registry: finds plugin files in the configured directories,
 * checks each descriptor against the ABI before running any plugin code,
 * validates the plugin's settings, and calls init for the plugins the
 * configuration asks for.
 *
 * Every refusal is recorded on the plugin's entry with a reason and a fix,
 * and logged as one line: FILE: REASON (fix: FIX). A refused plugin is
 * dlclose'd and never half-loaded.
 *
 * Thread: loop thread. Lifetime: entries live until host_registry_free,
 * which stops (already stopped) and unloads every loaded plugin.
 */
#ifndef AGENTD_HOST_REGISTRY_H
#define AGENTD_HOST_REGISTRY_H

#include <stddef.h>

#include <agentd/agentd.h>

struct host_ctx;

typedef enum host_plugin_status {
    HOST_PLUGIN_AVAILABLE = 0, /* a valid plugin the configuration does not load */
    HOST_PLUGIN_LOADED = 1,    /* init succeeded */
    HOST_PLUGIN_REFUSED = 2
} host_plugin_status_t;

/* The plugin's view of the host (agentd_host_t in the SDK). */
struct agentd_host {
    struct host_ctx *ctx;
    struct host_plugin *plugin;
    char *state_dir;
};

typedef struct host_plugin {
    char *file;                 /* full path */
    char *id, *version, *description, *limitations; /* copies */
    agentd_plugin_kind_t kind;  /* 0 when unreadable */
    unsigned abi_major, abi_minor;
    int has_descriptor;         /* the fields above are known */

    host_plugin_status_t status;
    char *reason;               /* why refused */
    char *fix;                  /* what to do about it */

    void *dl;                   /* dlopen handle while the plugin is in use */
    agentd_plugin_t desc;       /* zeroed copy of min(size, sizeof) bytes */
    union {                     /* zeroed copy of the kind's vtable */
        agentd_sandbox_vtable_t sandbox;
        agentd_vcs_vtable_t vcs;
        agentd_mcp_vtable_t mcp;
        agentd_notify_vtable_t notify;
    } vt;
    struct agentd_host host;    /* handed to the plugin */
    void *self;                 /* from init */
    int stopped;
} host_plugin_t;

typedef struct host_registry {
    struct host_ctx *ctx;
    host_plugin_t **items;
    size_t count, cap;
    char **dirs;                /* searched, in order */
    size_t dir_count;
    struct host_registry_stop *stop; /* a host_registry_stop under way */
} host_registry_t;

host_registry_t *host_registry_new(struct host_ctx *ctx);
/* Calls fini on loaded plugins and dlcloses them. */
void host_registry_free(host_registry_t *reg);

/* Scans the directories (the configuration's, or the default beside the
 * executable), inspects every *.so, and loads the plugins the configuration
 * asks for. Returns 0, or AGENTD_ECONFIG when a requested plugin was refused
 * or missing and plugins.fatal_on_refusal is set (the caller exits). */
int host_registry_load(host_registry_t *reg);

/* Only scans and checks descriptors (no init): valid plugins stay open with
 * status AVAILABLE, so their declared fields can be read (`config check`).
 * Returns 0 or AGENTD_ENOMEM. */
int host_registry_scan(host_registry_t *reg);

/* Whether the configuration's plugins.load names this id (or is "*"). */
int host_registry_is_requested(const host_registry_t *reg, const char *id);

host_plugin_t *host_registry_find(host_registry_t *reg, const char *id);

/* The directories searched, for messages. Borrowed. */
size_t host_registry_dirs(host_registry_t *reg, const char *const **dirs);

/* Calls every loaded plugin's stop (in reverse load order) and then done
 * when all have called back or the deadline passed. */
void host_registry_stop(host_registry_t *reg, unsigned timeout_ms,
                        void (*done)(void *ud), void *ud);

const char *host_plugin_kind_name(agentd_plugin_kind_t kind);

/* Checks a descriptor found at `sym` (sym_size bytes, 0 if unknown) and
 * copies it into p->desc and p->vt: 0, or a negative code with p->reason and
 * p->fix set (plugin_check.c). Runs no plugin code. */
int host_plugin_check_descriptor(const void *sym, size_t sym_size, host_plugin_t *p);

/* Records a refusal on p (copies reason and fix) and returns code. */
int host_plugin_refuse(host_plugin_t *p, int code, const char *fix, const char *fmt, ...)
    AGENTD_PRINTF(4, 5);

/* The host's function table for plugins (host_api.c). */
const agentd_host_api_t *host_api_table(void);

#endif /* AGENTD_HOST_REGISTRY_H */
