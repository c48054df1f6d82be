/*
 * Sandbox profiles: the configuration's "sandboxes" entries, each bound to a
 * loaded sandbox plugin and checked against that plugin's profile fields.
 *
 * Thread: loop thread.
 */
#ifndef AGENTD_HOST_PROFILES_H
#define AGENTD_HOST_PROFILES_H

#include "config/config.h"
#include "plugins/registry.h"

/* A profile ready for agentd_sandbox_spec_t. */
typedef struct host_profile {
    const char *name;       /* borrowed from the config */
    host_plugin_t *plugin;  /* a loaded sandbox plugin */
    char *settings_json;    /* validated, defaults filled; malloc'd */
} host_profile_t;

/* Resolves one profile (NULL: the default_sandbox). Problems become
 * diagnostics: no such profile, its plugin not loaded or not a sandbox
 * plugin, settings invalid. Returns 0, AGENTD_ENOENT or AGENTD_ECONFIG. */
int host_profile_resolve(host_registry_t *reg, const host_config_t *cfg, const char *name,
                         host_profile_t *out, host_diags_t *diags);
void host_profile_clear(host_profile_t *p);

/* Resolves every profile whose plugin is loaded, collecting all problems;
 * `require_loaded` also reports profiles whose plugin is not loaded. */
int host_profiles_check(host_registry_t *reg, const host_config_t *cfg, int require_loaded,
                        host_diags_t *diags);

#endif /* AGENTD_HOST_PROFILES_H */
