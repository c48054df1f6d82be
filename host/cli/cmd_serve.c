/* `agentd serve`: the daemon. Loads the plugins, then runs the loop until
 * SIGINT or SIGTERM asks for a graceful shutdown; a second signal exits at
 * once. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "plugins/profiles.h"
#include "plugins/registry.h"
#include "sessions/runtime.h"

#define COMPONENT "serve"

typedef struct serve_state {
    host_ctx_t *ctx;
    host_runtime_t rt;
    host_api_t *api;
    uv_signal_t sigint, sigterm;
    uv_timer_t deadline;
    int signals_seen;
} serve_state_t;

static void on_plugins_stopped(void *ud)
{
    serve_state_t *st = ud;
    uv_close((uv_handle_t *)&st->sigint, NULL);
    uv_close((uv_handle_t *)&st->sigterm, NULL);
    uv_close((uv_handle_t *)&st->deadline, NULL);
    uv_stop(&st->ctx->loop); /* the runtime's handles are closed after the loop */
}

static void on_deadline(uv_timer_t *t)
{
    serve_state_t *st = t->data;
    host_log(&st->ctx->log, AGENTD_LOG_ERROR, COMPONENT,
             "graceful shutdown took longer than limits.shutdown_timeout_ms (%u ms); exiting",
             st->ctx->config->limits.shutdown_timeout_ms);
    _exit(1);
}

static void on_sessions_stopped(void *ud)
{
    serve_state_t *st = ud;
    host_registry_stop(st->ctx->registry, st->ctx->config->limits.plugin_stop_timeout_ms,
                       on_plugins_stopped, st);
}

static void on_signal(uv_signal_t *h, int signum)
{
    serve_state_t *st = h->data;
    if (++st->signals_seen > 1) {
        host_log(&st->ctx->log, AGENTD_LOG_WARN, COMPONENT, "second %s: exiting now",
                 strsignal(signum));
        _exit(1);
    }
    host_log(&st->ctx->log, AGENTD_LOG_INFO, COMPONENT,
             "%s: shutting down (send it again to exit at once)", strsignal(signum));
    st->ctx->stopping = 1;
    uv_timer_start(&st->deadline, on_deadline, st->ctx->config->limits.shutdown_timeout_ms, 0);
    /* Agents first (each stopped with its escalation), then plugins. */
    host_runtime_shutdown(&st->rt, on_sessions_stopped, st);
}

static int prepare(host_ctx_t *ctx, host_runtime_t *rt)
{
    if (host_registry_load(ctx->registry) != 0) {
        host_log(&ctx->log, AGENTD_LOG_ERROR, COMPONENT,
                 "a plugin the configuration asks for was refused (plugins.fatal_on_refusal); "
                 "not starting");
        return CLI_FAILED;
    }
    host_diags_t diags = {0};
    int rc = host_profiles_check(ctx->registry, ctx->config, 1, &diags);
    for (size_t i = 0; i < diags.count; i++)
        host_log(&ctx->log, AGENTD_LOG_ERROR, COMPONENT, "%s: %s: %s", diags.items[i].file,
                 diags.items[i].path, diags.items[i].message);
    host_diags_free(&diags);
    if (rc != 0) {
        host_log(&ctx->log, AGENTD_LOG_ERROR, COMPONENT,
                 "sandbox profiles are not usable; not starting");
        return CLI_FAILED;
    }
    agentd_err_t err = {{0}};
    if (host_runtime_open(ctx, rt, &err) != 0) {
        host_log(&ctx->log, AGENTD_LOG_ERROR, COMPONENT, "%s; not starting", err.msg);
        return CLI_FAILED;
    }
    return 0;
}

static void log_ready(host_ctx_t *ctx)
{
    size_t loaded = 0;
    for (size_t i = 0; i < ctx->registry->count; i++)
        loaded += ctx->registry->items[i]->status == HOST_PLUGIN_LOADED;
    host_log(&ctx->log, AGENTD_LOG_INFO, COMPONENT,
             "agentd %s ready: config %s, data %s, %zu plugin%s loaded, default sandbox \"%s\"",
             AGENTD_VERSION, ctx->config->source, ctx->config->data_dir, loaded,
             loaded == 1 ? "" : "s",
             ctx->config->default_sandbox != NULL ? ctx->config->default_sandbox : "(none)");
}

int cli_cmd_serve(int argc, char **argv, const cli_global_t *g)
{
    if (cli_wants_help(argc, argv) || argc > 1) {
        FILE *out = argc > 1 && !cli_wants_help(argc, argv) ? stderr : stdout;
        fprintf(out, "usage: agentd [--config FILE] serve\n\n"
                     "Runs the daemon in the foreground until SIGINT or SIGTERM (graceful:\n"
                     "plugins are told to stop, handles closed, exit 0); a second signal exits\n"
                     "at once. Logs go to stderr: text on a terminal, JSON lines otherwise.\n");
        return out == stdout ? CLI_OK : CLI_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    host_ctx_t ctx;
    if (cli_open_host(g, &ctx) != 0)
        return CLI_FAILED;
    serve_state_t st = {.ctx = &ctx};
    if (prepare(&ctx, &st.rt) != 0) {
        cli_close_host(&ctx);
        return CLI_FAILED;
    }
    agentd_err_t api_err = {{0}};
    if (host_api_start(&ctx, &st.rt, &st.api, &api_err) != 0) {
        host_log(&ctx.log, AGENTD_LOG_ERROR, COMPONENT, "%s; not starting", api_err.msg);
        host_runtime_close(&st.rt);
        cli_close_host(&ctx);
        return CLI_FAILED;
    }
    uv_signal_init(&ctx.loop, &st.sigint);
    uv_signal_init(&ctx.loop, &st.sigterm);
    uv_timer_init(&ctx.loop, &st.deadline);
    st.sigint.data = st.sigterm.data = st.deadline.data = &st;
    uv_unref((uv_handle_t *)&st.deadline);
    uv_signal_start(&st.sigint, on_signal, SIGINT);
    uv_signal_start(&st.sigterm, on_signal, SIGTERM);
    log_ready(&ctx);
    uv_run(&ctx.loop, UV_RUN_DEFAULT);
    host_api_stop(st.api);
    host_runtime_close(&st.rt);
    host_log(&ctx.log, AGENTD_LOG_INFO, COMPONENT, "stopped");
    host_ctx_close(&ctx);
    host_api_free(st.api); /* its handles finished closing in host_ctx_close */
    return CLI_OK;
}
