/* `agentd config check [FILE]` and `agentd config defaults`. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "plugins/registry.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: agentd config check [FILE]   check a config file (default: --config)\n"
            "       agentd config defaults       print the embedded default configuration\n\n"
            "check reads the file, substitutes ${ENV_VAR}s, checks every key, then reads\n"
            "the plugins it names and checks their settings and the sandbox profiles\n"
            "against the fields each plugin declares. Problems are printed as\n"
            "FILE:LINE:COLUMN: KEY.PATH: MESSAGE; the exit status is 1 if there are any.\n");
}

/* Checks each requested plugin's settings and every profile against the
 * plugins' declared fields, without initialising any plugin. */
static int check_plugins(host_ctx_t *ctx, host_diags_t *diags)
{
    const host_config_t *cfg = ctx->config;
    host_registry_t *reg = ctx->registry;
    if (host_registry_scan(reg) != 0)
        return AGENTD_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < reg->count; i++) {
        host_plugin_t *p = reg->items[i];
        if (p->status == HOST_PLUGIN_REFUSED || !host_registry_is_requested(reg, p->id))
            continue;
        char *json = NULL;
        if (host_config_plugin_settings(cfg, p->id, p->desc.config_fields,
                                        p->desc.config_field_count, &json, diags) != 0)
            rc = AGENTD_ECONFIG;
        free(json);
    }
    for (size_t i = 0; i < cfg->profile_count; i++) {
        host_plugin_t *p = host_registry_find(reg, cfg->profile_plugins[i]);
        char path[512];
        snprintf(path, sizeof path, "sandboxes.%s.plugin", cfg->profile_names[i]);
        if (p == NULL) {
            rc = host_diags_add(diags, cfg->source, 0, 0, path,
                                "no plugin \"%s\" in the plugin directories",
                                cfg->profile_plugins[i]);
            continue;
        }
        if (p->kind != AGENTD_KIND_SANDBOX) {
            rc = host_diags_add(diags, cfg->source, 0, 0, path,
                                "plugin \"%s\" is a %s plugin, not a sandbox plugin", p->id,
                                host_plugin_kind_name(p->kind));
            continue;
        }
        char *json = NULL;
        if (host_config_profile_settings(cfg, cfg->profile_names[i], p->desc.profile_fields,
                                         p->desc.profile_field_count, &json, diags) != 0)
            rc = AGENTD_ECONFIG;
        free(json);
    }
    return rc;
}

static int check(const char *path, const cli_global_t *g)
{
    cli_global_t local = *g;
    if (path != NULL)
        local.config_path = path;
    host_ctx_t ctx;
    if (cli_open_host(&local, &ctx) != 0)
        return CLI_FAILED;
    host_diags_t diags = {0};
    int rc = check_plugins(&ctx, &diags);
    host_diags_print(&diags, stderr);
    if (rc == 0)
        printf("%s: OK\n", ctx.config->source);
    host_diags_free(&diags);
    host_ctx_close(&ctx);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

int cli_cmd_config(int argc, char **argv, const cli_global_t *g)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "check") == 0 && argc <= 3)
        return check(argc == 3 ? argv[2] : NULL, g);
    if (strcmp(argv[1], "defaults") == 0 && argc == 2) {
        fputs(host_config_default_text(), stdout);
        return CLI_OK;
    }
    fprintf(stderr, "agentd config: unknown or malformed subcommand \"%s\"\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
