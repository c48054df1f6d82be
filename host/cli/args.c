#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "plugins/registry.h"

/* Removes argv[i .. i+n-1]. */
static void drop(int *argc, char **argv, int i, int n)
{
    memmove(&argv[i], &argv[i + n], (size_t)(*argc - i - n + 1) * sizeof *argv);
    *argc -= n;
}

static int take_value(int *argc, char **argv, int i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (argv[i][n] == '=') {
        *out = argv[i] + n + 1;
        drop(argc, argv, i, 1);
        return 0;
    }
    if (i + 1 >= *argc) {
        fprintf(stderr, "agentd: %s needs a value\n", name);
        return CLI_USAGE;
    }
    *out = argv[i + 1];
    drop(argc, argv, i, 2);
    return 0;
}

static int is_opt(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int cli_take_global(int *argc, char **argv, cli_global_t *g)
{
    memset(g, 0, sizeof *g);
    for (int i = 1; i < *argc;) {
        const char *a = argv[i];
        int rc = 0;
        if (strcmp(a, "--") == 0)
            break; /* the rest belongs to a command run in a sandbox */
        if (is_opt(a, "--config"))
            rc = take_value(argc, argv, i, "--config", &g->config_path);
        else if (strcmp(a, "-c") == 0)
            rc = take_value(argc, argv, i, "-c", &g->config_path);
        else if (is_opt(a, "--log-level"))
            rc = take_value(argc, argv, i, "--log-level", &g->log_level);
        else {
            i++;
            continue;
        }
        if (rc != 0)
            return rc;
    }
    if (g->config_path == NULL) {
        const char *env = getenv("AGENTD_CONFIG");
        if (env != NULL && env[0] != '\0')
            g->config_path = env;
    }
    agentd_log_level_t lvl;
    if (g->log_level != NULL && host_log_level_parse(g->log_level, &lvl) != 0) {
        fprintf(stderr, "agentd: --log-level: \"%s\" is not one of error, warn, info, debug\n",
                g->log_level);
        return CLI_USAGE;
    }
    return 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

int cli_load_config(const cli_global_t *g, host_config_t **out)
{
    host_diags_t diags = {0};
    int rc = host_config_load(g->config_path, out, &diags);
    if (rc != 0) {
        host_diags_print(&diags, stderr);
        if (diags.count == 0)
            fprintf(stderr, "agentd: cannot load %s: %s\n",
                    g->config_path != NULL ? g->config_path : "the default configuration",
                    agentd_strerror(rc));
        host_diags_free(&diags);
        return CLI_FAILED;
    }
    host_diags_free(&diags);
    if (g->log_level != NULL)
        host_log_level_parse(g->log_level, &(*out)->log_level);
    return 0;
}

int cli_open_host(const cli_global_t *g, host_ctx_t *ctx)
{
    host_config_t *cfg;
    if (cli_load_config(g, &cfg) != 0)
        return CLI_FAILED;
    if (host_ctx_init(ctx, cfg, stderr) != 0) {
        fprintf(stderr, "agentd: cannot set up the event loop\n");
        return CLI_FAILED;
    }
    return 0;
}

static void on_stopped(void *ud)
{
    *(int *)ud = 1;
}

void cli_close_host(host_ctx_t *ctx)
{
    int stopped = 0;
    ctx->stopping = 1;
    host_registry_stop(ctx->registry, ctx->config->limits.plugin_stop_timeout_ms, on_stopped,
                       &stopped);
    while (!stopped && uv_run(&ctx->loop, UV_RUN_ONCE) != 0)
        ;
    host_ctx_close(ctx);
}
