/* `agentd sandbox exec [--profile NAME] [--workspace DIR] -- CMD [ARG...]`:
 * runs one command in a fresh sandbox of a profile, whichever plugin
 * provides it, with this process's stdio attached, and exits with the
 * command's status (128 + signal if a signal ended it). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/pump.h"
#include "core/stream.h"
#include "plugins/profiles.h"
#include "plugins/registry.h"

#define COMPONENT "sandbox"

typedef struct exec_run {
    host_ctx_t *ctx;
    host_profile_t profile;
    const agentd_sandbox_vtable_t *vt;
    void *self;
    char **argv;
    char workspace[PATH_MAX];
    char sandbox_id[64];

    agentd_sandbox_t *sb;
    agentd_exec_t *ex;
    agentd_exec_io_t io;
    agentd_stream_t my_in, my_out, my_err;
    host_pump_t pump_in, pump_out, pump_err;
    int outputs_open;       /* of stdout/stderr pumps still running */
    int exited, destroying;
    int exit_code;
    uv_signal_t sigint, sigterm;
    int signals_seen;
} exec_run_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: agentd [--config FILE] sandbox exec [--profile NAME] [--workspace DIR]\n"
            "              -- CMD [ARG...]\n\n"
            "Creates a fresh sandbox of the profile (default: default_sandbox), runs CMD in\n"
            "it with stdin, stdout and stderr attached, destroys the sandbox and exits with\n"
            "CMD's exit status (128 + N if signal N ended it; 125 if the sandbox could not\n"
            "be made). The workspace (default: the current directory) is the only place\n"
            "CMD can write. SIGINT and SIGTERM are passed on to CMD; a second one kills it.\n");
}

static void close_stream(agentd_stream_t *s)
{
    if (s->ops != NULL)
        s->ops->close(s->impl, NULL, NULL);
    s->ops = NULL;
}

static void close_all(exec_run_t *r)
{
    host_pump_stop(&r->pump_in);
    close_stream(&r->io.in);
    close_stream(&r->io.out);
    close_stream(&r->io.err);
    close_stream(&r->my_in);
    close_stream(&r->my_out);
    close_stream(&r->my_err);
    if (!uv_is_closing((uv_handle_t *)&r->sigint)) {
        uv_close((uv_handle_t *)&r->sigint, NULL);
        uv_close((uv_handle_t *)&r->sigterm, NULL);
    }
}

static void on_destroyed(void *ud, int status)
{
    exec_run_t *r = ud;
    if (status != 0)
        host_log(&r->ctx->log, AGENTD_LOG_WARN, COMPONENT, "sandbox %s: destroy failed: %s",
                 r->sandbox_id, agentd_strerror(status));
    r->sb = NULL;
    close_all(r);
}

static void destroy(exec_run_t *r)
{
    if (r->destroying)
        return;
    r->destroying = 1;
    if (r->ex != NULL) {
        r->vt->exec_release(r->self, r->ex);
        r->ex = NULL;
    }
    agentd_err_t err = {{0}};
    if (r->sb == NULL || r->vt->destroy(r->self, r->sb, on_destroyed, r, &err) != 0) {
        if (r->sb != NULL)
            host_log(&r->ctx->log, AGENTD_LOG_WARN, COMPONENT, "sandbox %s: destroy: %s",
                     r->sandbox_id, err.msg);
        r->sb = NULL;
        close_all(r);
    }
}

static void maybe_done(exec_run_t *r)
{
    if (r->exited && r->outputs_open == 0)
        destroy(r);
}

static void on_output_done(void *ud, int status)
{
    exec_run_t *r = ud;
    (void)status; /* a closed terminal: the command's exit still counts */
    r->outputs_open--;
    maybe_done(r);
}

static void on_input_done(void *ud, int status)
{
    (void)ud;
    (void)status;
}

static void on_exit_cb(void *ud, int64_t exit_status, int term_signal)
{
    exec_run_t *r = ud;
    r->exited = 1;
    r->exit_code = term_signal != 0 ? 128 + term_signal : (int)(exit_status & 0xff);
    maybe_done(r);
}

static void attach_stdio(exec_run_t *r)
{
    uv_loop_t *loop = &r->ctx->loop;
    if (r->io.in.ops != NULL && host_stream_open_fd(loop, STDIN_FILENO, &r->my_in) == 0)
        host_pump_start(&r->pump_in, r->my_in, r->io.in, HOST_PUMP_SHUTDOWN_ON_EOF,
                        on_input_done, r);
    if (r->io.out.ops != NULL && host_stream_open_fd(loop, STDOUT_FILENO, &r->my_out) == 0 &&
        host_pump_start(&r->pump_out, r->io.out, r->my_out, 0, on_output_done, r) == 0)
        r->outputs_open++;
    if (r->io.err.ops != NULL && host_stream_open_fd(loop, STDERR_FILENO, &r->my_err) == 0 &&
        host_pump_start(&r->pump_err, r->io.err, r->my_err, 0, on_output_done, r) == 0)
        r->outputs_open++;
}

static void on_created(void *ud, int status, agentd_sandbox_t *sb, const char *msg)
{
    exec_run_t *r = ud;
    if (status != 0) {
        fprintf(stderr, "agentd sandbox exec: profile \"%s\": the sandbox could not be made: "
                        "%s%s%s\n", r->profile.name, agentd_strerror(status),
                msg != NULL && msg[0] ? ": " : "", msg != NULL ? msg : "");
        r->exit_code = 125;
        close_all(r);
        return;
    }
    r->sb = sb;
    agentd_exec_spec_t spec = {.size = sizeof spec, .argv = (const char *const *)r->argv};
    agentd_err_t err = {{0}};
    r->io.size = sizeof r->io;
    int rc = r->vt->exec(r->self, sb, &spec, on_exit_cb, r, &r->ex, &r->io, &err);
    if (rc != 0) {
        fprintf(stderr, "agentd sandbox exec: cannot run %s: %s%s%s\n", r->argv[0],
                agentd_strerror(rc), err.msg[0] ? ": " : "", err.msg);
        r->exit_code = rc == AGENTD_ENOENT ? 127 : 126;
        r->ex = NULL;
        destroy(r);
        return;
    }
    attach_stdio(r);
}

static void on_signal(uv_signal_t *h, int signum)
{
    exec_run_t *r = h->data;
    agentd_sandbox_signal_t sig = ++r->signals_seen > 1 ? AGENTD_SIG_KILL
                                  : signum == SIGINT  ? AGENTD_SIG_INTERRUPT
                                                      : AGENTD_SIG_TERMINATE;
    if (r->ex != NULL && !r->exited)
        r->vt->exec_signal(r->self, r->ex, sig, NULL);
}

static int parse_args(int argc, char **argv, const char **profile, const char **workspace,
                      char ***cmd)
{
    int i = 1;
    if (argc < 2 || strcmp(argv[1], "exec") != 0)
        return CLI_USAGE;
    for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
            *profile = argv[++i];
        else if (strcmp(argv[i], "--workspace") == 0 && i + 1 < argc)
            *workspace = argv[++i];
        else
            return CLI_USAGE;
    }
    if (i + 1 >= argc)
        return CLI_USAGE; /* no command after -- */
    *cmd = &argv[i + 1];
    return 0;
}

static int start(exec_run_t *r, const char *workspace)
{
    if (realpath(workspace, r->workspace) == NULL) {
        fprintf(stderr, "agentd sandbox exec: --workspace %s: %s\n", workspace, strerror(errno));
        return CLI_FAILED;
    }
    snprintf(r->sandbox_id, sizeof r->sandbox_id, "exec-%ld-%08x", (long)getpid(),
             (unsigned)(uv_hrtime() & 0xffffffffu));
    const char *model = getenv("ANTHROPIC_BASE_URL");
    agentd_sandbox_spec_t spec = {
        .size = sizeof spec,
        .sandbox_id = r->sandbox_id,
        .profile_name = r->profile.name,
        .profile_json = r->profile.settings_json,
        .profile_len = strlen(r->profile.settings_json),
        .workspace = r->workspace,
        .model_api_url = model != NULL && model[0] ? model : "https://api.anthropic.com",
        .timeout_s = 0, /* the profile's timeout_minutes */
    };
    agentd_err_t err = {{0}};
    int rc = r->vt->create(r->self, &spec, on_created, r, &err);
    if (rc != 0) {
        fprintf(stderr, "agentd sandbox exec: profile \"%s\": %s%s%s\n", r->profile.name,
                agentd_strerror(rc), err.msg[0] ? ": " : "", err.msg);
        return CLI_FAILED;
    }
    return 0;
}

int cli_cmd_sandbox(int argc, char **argv, const cli_global_t *g)
{
    const char *profile = NULL, *workspace = ".";
    char **cmd = NULL;
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (parse_args(argc, argv, &profile, &workspace, &cmd) != 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    host_ctx_t ctx;
    if (cli_open_host(g, &ctx) != 0)
        return 125;
    exec_run_t *r = calloc(1, sizeof *r);
    host_diags_t diags = {0};
    int rc = r == NULL ? AGENTD_ENOMEM : host_registry_load(ctx.registry);
    if (rc == 0)
        rc = host_profile_resolve(ctx.registry, ctx.config, profile, &r->profile, &diags);
    host_diags_print(&diags, stderr);
    host_diags_free(&diags);
    if (rc == 0) {
        r->ctx = &ctx;
        r->argv = cmd;
        r->self = r->profile.plugin->self;
        r->vt = &r->profile.plugin->vt.sandbox;
        r->exit_code = 125;
        uv_signal_init(&ctx.loop, &r->sigint);
        uv_signal_init(&ctx.loop, &r->sigterm);
        r->sigint.data = r->sigterm.data = r;
        uv_signal_start(&r->sigint, on_signal, SIGINT);
        uv_signal_start(&r->sigterm, on_signal, SIGTERM);
        if (start(r, workspace) != 0)
            close_all(r);
        uv_run(&ctx.loop, UV_RUN_DEFAULT);
    }
    int code = rc == 0 ? r->exit_code : 125;
    if (r != NULL)
        host_profile_clear(&r->profile);
    free(r);
    cli_close_host(&ctx);
    return code;
}
