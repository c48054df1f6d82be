#include "plugins/profiles.h"

#include <stdlib.h>
#include <string.h>

static int find_profile(const host_config_t *cfg, const char *name, size_t *index)
{
    for (size_t i = 0; i < cfg->profile_count; i++) {
        if (strcmp(cfg->profile_names[i], name) == 0) {
            *index = i;
            return 1;
        }
    }
    return 0;
}

int host_profile_resolve(host_registry_t *reg, const host_config_t *cfg, const char *name,
                         host_profile_t *out, host_diags_t *diags)
{
    memset(out, 0, sizeof *out);
    if (name == NULL)
        name = cfg->default_sandbox;
    size_t i;
    if (name == NULL || !find_profile(cfg, name, &i)) {
        host_diags_add(diags, cfg->source, 0, 0, "sandboxes",
                       "no sandbox profile named \"%s\" (the config has %zu profile%s)",
                       name != NULL ? name : "(none)", cfg->profile_count,
                       cfg->profile_count == 1 ? "" : "s");
        return AGENTD_ENOENT;
    }
    char path[512];
    snprintf(path, sizeof path, "sandboxes.%s.plugin", name);
    const char *id = cfg->profile_plugins[i];
    host_plugin_t *p = host_registry_find(reg, id);
    if (p == NULL || p->status != HOST_PLUGIN_LOADED)
        return host_diags_add(diags, cfg->source, 0, 0, path,
                              "plugin \"%s\" is not loaded (add it to plugins.load; "
                              "`agentd plugins` shows what was found)", id);
    if (p->kind != AGENTD_KIND_SANDBOX)
        return host_diags_add(diags, cfg->source, 0, 0, path,
                              "plugin \"%s\" is a %s plugin, not a sandbox plugin", id,
                              host_plugin_kind_name(p->kind));
    int rc = host_config_profile_settings(cfg, name, p->desc.profile_fields,
                                          p->desc.profile_field_count, &out->settings_json,
                                          diags);
    if (rc != 0)
        return rc;
    out->name = cfg->profile_names[i];
    out->plugin = p;
    return 0;
}

void host_profile_clear(host_profile_t *p)
{
    free(p->settings_json);
    memset(p, 0, sizeof *p);
}

int host_profiles_check(host_registry_t *reg, const host_config_t *cfg, int require_loaded,
                        host_diags_t *diags)
{
    int rc = 0;
    for (size_t i = 0; i < cfg->profile_count; i++) {
        host_plugin_t *p = host_registry_find(reg, cfg->profile_plugins[i]);
        if (!require_loaded && (p == NULL || p->status != HOST_PLUGIN_LOADED))
            continue;
        host_profile_t prof;
        int r = host_profile_resolve(reg, cfg, cfg->profile_names[i], &prof, diags);
        host_profile_clear(&prof);
        if (r != 0)
            rc = AGENTD_ECONFIG;
    }
    return rc;
}
