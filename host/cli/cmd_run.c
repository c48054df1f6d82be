/* `agentd run [--sandbox NAME] [--workspace DIR] [--json] PROMPT`: one
 * session in this process, printed as it happens; the exit status says
 * whether the agent's result was a success. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "plugins/registry.h"
#include "sessions/runtime.h"

typedef struct run_state {
    host_ctx_t *ctx;
    host_runtime_t rt;
    char id[HOST_SESSION_ID_MAX];
    int json, done, exit_code, interrupts;
    uv_signal_t sigint, sigterm;
    uv_idle_t finisher;
    host_event_listener_t *listener;
} run_state_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: agentd [--config FILE] run [--sandbox NAME] [--workspace DIR] [--model M]\n"
            "              [--allow PATTERN]... [--deny PATTERN]... [--timeout MINUTES]\n"
            "              [--json] PROMPT\n\n"
            "Runs one session in this process and prints the conversation as it happens\n"
            "(one JSON event per line with --json). Exits 0 when the agent's result is a\n"
            "success, 1 otherwise (with the reason), 2 for a usage error, 130 after\n"
            "Ctrl-C (which stops the session cleanly). Tools not allowed with --allow are\n"
            "denied. Events are kept in the data directory like any session's.\n");
}

/* ---- printing ---------------------------------------------------------- */

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "";
}

static void print_human(const host_event_t *ev, json_t *d)
{
    const char *t = ev->type;
    if (strcmp(t, "agent.init") == 0)
        printf("[session started: model %s, in %s]\n", str(d, "model"), str(d, "cwd"));
    else if (strcmp(t, "agent.text") == 0)
        printf("%s\n", str(d, "text"));
    else if (strcmp(t, "agent.thinking") == 0)
        printf("(thinking) %s\n", str(d, "thinking"));
    else if (strcmp(t, "agent.tool_use") == 0) {
        char *input = json_dumps(json_object_get(d, "input"), JSON_COMPACT);
        printf("-> %s %.300s\n", str(d, "name"), input != NULL ? input : "");
        free(input);
    } else if (strcmp(t, "agent.tool_result") == 0) {
        json_t *c = json_object_get(d, "content");
        char *text = json_is_string(c) ? NULL : json_dumps(c, JSON_COMPACT);
        printf("<- %s%.300s\n", json_is_true(json_object_get(d, "is_error")) ? "error: " : "",
               json_is_string(c) ? json_string_value(c) : (text != NULL ? text : ""));
        free(text);
    } else if (strcmp(t, "permission.decided") == 0)
        printf("[permission: %s %s%s%s]\n", str(d, "decision"), str(d, "tool"),
               json_is_string(json_object_get(d, "rule")) ? " by " : "", str(d, "rule"));
    else if (strcmp(t, "agent.result") == 0)
        printf("[result: %s, %lld turn(s), %.4f USD, %lld ms]\n",
               json_is_true(json_object_get(d, "is_error")) ? "error" : str(d, "subtype"),
               (long long)json_integer_value(json_object_get(d, "num_turns")),
               json_number_value(json_object_get(d, "total_cost_usd")),
               (long long)json_integer_value(json_object_get(d, "duration_ms")));
    else if (strcmp(t, "error") == 0)
        fprintf(stderr, "error: %s\n", str(d, "message"));
    else if (strcmp(t, "agent.question") == 0)
        printf("[question] %s\n", str(d, "text"));
}

static void print_json(const host_event_t *ev, json_t *d)
{
    json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:O}", "session", ev->session_id, "seq",
                          (json_int_t)ev->seq, "ts", (json_int_t)ev->ts_ms, "type", ev->type,
                          "data", d);
    char *line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line != NULL)
        printf("%s\n", line);
    free(line);
    json_decref(o);
}

/* ---- the end ---------------------------------------------------------------- */

static void on_finished(uv_idle_t *h)
{
    run_state_t *st = h->data;
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, NULL);
    uv_close((uv_handle_t *)&st->sigint, NULL);
    uv_close((uv_handle_t *)&st->sigterm, NULL);
    uv_stop(&st->ctx->loop); /* the runtime's own handles close afterwards */
}

static void finish(run_state_t *st, int code)
{
    if (st->done)
        return;
    st->done = 1;
    st->exit_code = code;
    /* Close outside the listener: the event log is mid-fan-out here. */
    uv_idle_start(&st->finisher, on_finished);
}

static void check_end(run_state_t *st)
{
    host_session_state_t s;
    if (host_sessions_state(st->rt.sessions, st->id, &s) != 0 ||
        host_sessions_busy(st->rt.sessions, st->id))
        return;
    if (st->interrupts > 0 && (s == HOST_SESSION_STOPPED || s == HOST_SESSION_FAILED ||
                               s == HOST_SESSION_COMPLETED))
        finish(st, 130);
    else if (s == HOST_SESSION_COMPLETED)
        finish(st, 0);
    else if (s == HOST_SESSION_FAILED || s == HOST_SESSION_STOPPED)
        finish(st, 1);
}

static void on_event(void *ud, const host_event_t *ev)
{
    run_state_t *st = ud;
    if (strcmp(ev->session_id, st->id) != 0)
        return;
    json_error_t jerr;
    json_t *d = json_loadb(ev->data_json, ev->data_len, 0, &jerr);
    if (st->json)
        print_json(ev, d);
    else
        print_human(ev, d);
    if (strcmp(ev->type, "session.state") == 0 && !st->json &&
        (strcmp(str(d, "state"), "failed") == 0 || strcmp(str(d, "state"), "stopped") == 0))
        fprintf(stderr, "session %s: %s%s%s\n", str(d, "state"), st->id,
                json_is_string(json_object_get(d, "reason")) ? ": " : "", str(d, "reason"));
    fflush(stdout);
    json_decref(d);
    check_end(st);
}

static void on_signal(uv_signal_t *h, int signum)
{
    run_state_t *st = h->data;
    (void)signum;
    if (++st->interrupts > 1) {
        fprintf(stderr, "agentd run: interrupted again; exiting now\n");
        _exit(130);
    }
    fprintf(stderr, "agentd run: stopping the session (Ctrl-C again to exit at once)\n");
    host_sessions_stop(st->rt.sessions, st->id, NULL, NULL, NULL);
    check_end(st);
}

/* ---- arguments -------------------------------------------------------------- */

static int parse(int argc, char **argv, json_t *settings, run_state_t *st)
{
    json_t *allow = json_array(), *deny = json_array();
    json_object_set_new(settings, "allowed_tools", allow);
    json_object_set_new(settings, "disallowed_tools", deny);
    json_object_set_new(settings, "one_shot", json_true());
    const char *prompt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(a, "--json") == 0)
            st->json = 1;
        else if (strcmp(a, "--sandbox") == 0 && has_value)
            json_object_set_new(settings, "sandbox", json_string(argv[++i]));
        else if (strcmp(a, "--workspace") == 0 && has_value)
            json_object_set_new(settings, "workspace", json_string(argv[++i]));
        else if (strcmp(a, "--model") == 0 && has_value)
            json_object_set_new(settings, "model", json_string(argv[++i]));
        else if (strcmp(a, "--allow") == 0 && has_value)
            json_array_append_new(allow, json_string(argv[++i]));
        else if (strcmp(a, "--deny") == 0 && has_value)
            json_array_append_new(deny, json_string(argv[++i]));
        else if (strcmp(a, "--timeout") == 0 && has_value) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 240) {
                fprintf(stderr, "agentd run: --timeout: minutes from 1 to 240\n");
                return CLI_USAGE;
            }
            json_object_set_new(settings, "timeout_minutes", json_integer(v));
        } else if (a[0] == '-' && strcmp(a, "-") != 0) {
            fprintf(stderr, "agentd run: unknown option or missing value: %s\n", a);
            return CLI_USAGE;
        } else if (prompt == NULL)
            prompt = a;
        else {
            fprintf(stderr, "agentd run: one PROMPT only (quote it)\n");
            return CLI_USAGE;
        }
    }
    if (prompt == NULL || prompt[0] == '\0') {
        fprintf(stderr, "agentd run: a PROMPT is required\n");
        return CLI_USAGE;
    }
    json_object_set_new(settings, "prompt", json_string(prompt));
    return 0;
}

static int start(run_state_t *st, json_t *settings)
{
    agentd_err_t err = {{0}};
    if (host_registry_load(st->ctx->registry) != 0) {
        fprintf(stderr, "agentd run: a plugin the configuration asks for was refused\n");
        return CLI_FAILED;
    }
    if (host_runtime_open(st->ctx, &st->rt, &err) != 0) {
        fprintf(stderr, "agentd run: %s\n", err.msg);
        return CLI_FAILED;
    }
    host_event_log_listen(st->rt.log, on_event, st, &st->listener);
    if (host_sessions_create(st->rt.sessions, settings, st->id, &err) != 0) {
        fprintf(stderr, "agentd run: %s\n", err.msg);
        return CLI_FAILED;
    }
    if (!st->json)
        fprintf(stderr, "agentd run: session %s\n", st->id);
    return 0;
}

int cli_cmd_run(int argc, char **argv, const cli_global_t *g)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    run_state_t st = {0};
    json_t *settings = json_object();
    int rc = settings != NULL ? parse(argc, argv, settings, &st) : CLI_FAILED;
    if (rc != 0) {
        json_decref(settings);
        if (rc == CLI_USAGE)
            usage(stderr);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    host_ctx_t ctx;
    if (cli_open_host(g, &ctx) != 0) {
        json_decref(settings);
        return CLI_FAILED;
    }
    st.ctx = &ctx;
    uv_signal_init(&ctx.loop, &st.sigint);
    uv_signal_init(&ctx.loop, &st.sigterm);
    uv_idle_init(&ctx.loop, &st.finisher);
    st.sigint.data = st.sigterm.data = st.finisher.data = &st;
    uv_signal_start(&st.sigint, on_signal, SIGINT);
    uv_signal_start(&st.sigterm, on_signal, SIGTERM);
    rc = start(&st, settings);
    json_decref(settings);
    if (rc != 0) {
        st.exit_code = rc;
        on_finished(&st.finisher);
    }
    uv_run(&ctx.loop, UV_RUN_DEFAULT);
    if (st.listener != NULL)
        host_event_log_unlisten(st.rt.log, st.listener);
    host_runtime_close(&st.rt);
    cli_close_host(&ctx);
    return st.exit_code;
}
