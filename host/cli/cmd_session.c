/* `agentd session ...`: drive sessions on a running daemon over the
 * WebSocket API (docs/protocol.md). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "client/cli_client.h"

#define PROG "agentd session"
#define CALL_TIMEOUT_MS 30000

static const char usage_text[] =
    "usage: agentd session COMMAND [ARGS] [--server URL] [--token TOKEN] [--json]\n"
    "\n"
    "Commands (against a running `agentd serve`):\n"
    "  create [--prompt TEXT] [--name NAME] [--sandbox PROFILE] [--workspace DIR]\n"
    "         [--model MODEL] [--settings JSON]   a new session (started when it has a\n"
    "                                            prompt); prints its id\n"
    "  ls                       list sessions\n"
    "  show SESSION             one session's state, cost, tokens, settings\n"
    "  send SESSION TEXT        send a message (resumes a paused/stopped session)\n"
    "  stop SESSION             stop its agent\n"
    "  pause SESSION            pause it\n"
    "  resume SESSION           resume it\n"
    "  clone SESSION [--with-history]   a new session with the same settings\n"
    "  rm SESSION [--purge]     delete it (--purge: its events too)\n"
    "  pending SESSION          what waits for a person: permission requests, questions\n"
    "  approve SESSION REQUEST [--always [--rule RULE]]\n"
    "                           allow a permission request (--always: and add a rule)\n"
    "  deny SESSION REQUEST [--message TEXT]   deny it; the agent is told TEXT\n"
    "  answer SESSION REQUEST --answer QUESTION=ANSWER ... | --decline [--message TEXT]\n"
    "                           answer the agent's question(s)\n"
    "  mode SESSION default|acceptEdits|plan   switch its permission mode\n"
    "\n"
    "--server URL: ws://HOST:PORT/ (default: $AGENTD_SERVER, else the config's listen\n"
    "address); --token: an API token (default: $AGENTD_TOKEN); --json: print the\n"
    "API's JSON result. Exit status: 0 ok, 1 failed, 2 usage.\n";

static int usage(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s%s\n\n%s", what, arg != NULL ? " " : "", arg != NULL ? arg : "",
            usage_text);
    return CLI_USAGE;
}

static void print_session_line(json_t *s)
{
    printf("%-20s  %-12s  %8.4f  %s\n", json_string_value(json_object_get(s, "id")),
           json_string_value(json_object_get(s, "state")),
           json_number_value(json_object_get(s, "cost_usd")),
           json_is_string(json_object_get(s, "name"))
               ? json_string_value(json_object_get(s, "name"))
               : "");
}

static void print_human(const char *sub, json_t *r)
{
    if (strcmp(sub, "ls") == 0) {
        printf("%-20s  %-12s  %8s  %s\n", "ID", "STATE", "COST", "NAME");
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(r, "sessions"), i, s) print_session_line(s);
    } else if (strcmp(sub, "create") == 0 || strcmp(sub, "clone") == 0) {
        printf("%s\n", json_string_value(json_object_get(r, "id")));
    } else if (strcmp(sub, "show") == 0) {
        const char *k;
        json_t *v;
        json_object_foreach(r, k, v) {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%-14s %s\n", k, t != NULL ? t : "?");
            free(t);
        }
    } else if (strcmp(sub, "rm") == 0) {
        printf("deleted %s\n", json_string_value(json_object_get(r, "session")));
    } else if (strcmp(sub, "send") == 0) {
        printf("sent\n");
    } else if (strcmp(sub, "pending") == 0) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(r, "pending"), i, p) {
            char *input = json_dumps(json_object_get(p, "input"), JSON_COMPACT);
            printf("%s  %-10s  %-12s  %s\n", json_string_value(json_object_get(p, "request_id")),
                   json_string_value(json_object_get(p, "kind")),
                   json_is_string(json_object_get(p, "tool"))
                       ? json_string_value(json_object_get(p, "tool"))
                       : "-",
                   input != NULL ? input : "");
            free(input);
        }
    } else if (strcmp(sub, "approve") == 0 || strcmp(sub, "deny") == 0 ||
               strcmp(sub, "answer") == 0) {
        const char *what = json_string_value(json_object_get(r, "decision"));
        printf("%s: %s\n", json_string_value(json_object_get(r, "request_id")),
               what != NULL ? what : json_string_value(json_object_get(r, "outcome")));
    } else {
        json_t *st = json_object_get(r, "state");
        printf("%s: %s\n", json_string_value(json_object_get(r, "id")),
               json_is_string(st) ? json_string_value(st) : "ok");
    }
}

/* "QUESTION=ANSWER": split at the last '=' (a question may hold one). */
static int add_answer(json_t *answers, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    if (eq == NULL || eq == arg || eq[1] == '\0')
        return usage("answer: --answer takes QUESTION=ANSWER:", arg);
    char *q = strndup(arg, (size_t)(eq - arg));
    if (q == NULL)
        return CLI_FAILED;
    json_t *prev = json_object_get(answers, q);
    if (prev == NULL) {
        json_object_set_new(answers, q, json_string(eq + 1));
    } else { /* the same question twice: a multiSelect answer */
        if (json_is_string(prev)) {
            json_t *arr = json_pack("[O]", prev);
            json_object_set_new(answers, q, arr);
            prev = arr;
        }
        json_array_append_new(prev, json_string(eq + 1));
    }
    free(q);
    return 0;
}

/* approve, deny, answer, mode, pending: answering what waits for a person. */
static int build_answer(int argc, char **argv, const char **method, json_t *p)
{
    const char *sub = argv[0];
    if (argc < 2 || argv[1][0] == '-')
        return usage("needs a SESSION id:", sub);
    json_object_set_new(p, "session", json_string(argv[1]));
    if (strcmp(sub, "pending") == 0) {
        *method = "session.get";
        return argc == 2 ? 0 : usage("pending: unexpected argument", argv[2]);
    }
    if (strcmp(sub, "mode") == 0) {
        *method = "session.set_permission_mode";
        if (argc != 3)
            return usage("mode: needs one of default, acceptEdits, plan", NULL);
        json_object_set_new(p, "mode", json_string(argv[2]));
        return 0;
    }
    if (argc < 3 || argv[2][0] == '-')
        return usage("needs the REQUEST id (agentd session pending SESSION lists them):", sub);
    json_object_set_new(p, "request_id", json_string(argv[2]));
    *method = strcmp(sub, "answer") == 0 ? "question.answer" : "permission.respond";
    if (strcmp(sub, "deny") == 0)
        json_object_set_new(p, "decision", json_string("deny"));
    else if (strcmp(sub, "approve") == 0)
        json_object_set_new(p, "decision", json_string("allow"));
    json_t *answers = json_object();
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(sub, "approve") == 0 && strcmp(a, "--always") == 0) {
            json_object_set_new(p, "decision", json_string("allow_always"));
        } else if (strcmp(sub, "approve") == 0 && strcmp(a, "--rule") == 0 && has_value) {
            json_object_set_new(p, "rule", json_string(argv[++i]));
        } else if (strcmp(sub, "approve") != 0 && strcmp(a, "--message") == 0 && has_value) {
            json_object_set_new(p, "message", json_string(argv[++i]));
        } else if (strcmp(sub, "answer") == 0 && strcmp(a, "--decline") == 0) {
            json_object_set_new(p, "decline", json_true());
        } else if (strcmp(sub, "answer") == 0 && strcmp(a, "--answer") == 0 && has_value) {
            int rc = add_answer(answers, argv[++i]);
            if (rc != 0) {
                json_decref(answers);
                return rc;
            }
        } else {
            json_decref(answers);
            return usage("unexpected argument", a);
        }
    }
    if (json_object_size(answers) > 0)
        json_object_set(p, "answers", answers);
    json_decref(answers);
    if (strcmp(sub, "answer") == 0 && json_object_get(p, "answers") == NULL &&
        json_object_get(p, "decline") == NULL)
        return usage("answer: give --answer QUESTION=ANSWER, or --decline", NULL);
    return 0;
}

/* Builds the method and params of a subcommand; CLI_USAGE on bad args. */
static int build(int argc, char **argv, const char **method, json_t **params)
{
    const char *sub = argv[0];
    json_t *p = json_object();
    if (p == NULL)
        return CLI_FAILED;
    *params = p;
    static const char *const answering[] = {"pending", "mode", "approve", "deny", "answer"};
    for (size_t k = 0; k < sizeof answering / sizeof answering[0]; k++)
        if (strcmp(sub, answering[k]) == 0)
            return build_answer(argc, argv, method, p);
    if (strcmp(sub, "create") == 0) {
        *method = "session.create";
        for (int i = 1; i < argc; i++) {
            static const char *const keys[][2] = {{"--prompt", "prompt"},
                                                  {"--name", "name"},
                                                  {"--sandbox", "sandbox"},
                                                  {"--workspace", "workspace"},
                                                  {"--model", "model"}};
            int done = 0;
            for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !done; k++)
                if (strcmp(argv[i], keys[k][0]) == 0) {
                    if (i + 1 >= argc)
                        return usage("create: needs a value:", argv[i]);
                    json_object_set_new(p, keys[k][1], json_string(argv[++i]));
                    done = 1;
                }
            if (done)
                continue;
            if (strcmp(argv[i], "--settings") == 0 && i + 1 < argc) {
                json_error_t je;
                json_t *s = json_loads(argv[++i], 0, &je);
                if (!json_is_object(s)) {
                    json_decref(s);
                    return usage("create: --settings must be a JSON object:", je.text);
                }
                json_object_update(p, s);
                json_decref(s);
                continue;
            }
            return usage("create: unexpected argument", argv[i]);
        }
        return 0;
    }
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0) {
        *method = "session.list";
        return argc == 1 ? 0 : usage("ls: unexpected argument", argv[1]);
    }
    static const char *const one[][2] = {{"show", "session.get"},   {"stop", "session.stop"},
                                         {"pause", "session.pause"}, {"resume", "session.resume"},
                                         {"clone", "session.clone"}, {"rm", "session.delete"},
                                         {"send", "session.send"}};
    for (size_t k = 0; k < sizeof one / sizeof one[0]; k++) {
        if (strcmp(sub, one[k][0]) != 0)
            continue;
        *method = one[k][1];
        if (argc < 2 || argv[1][0] == '-')
            return usage("needs a SESSION id:", sub);
        json_object_set_new(p, "session", json_string(argv[1]));
        int rest = 2;
        if (strcmp(sub, "send") == 0) {
            if (argc < 3)
                return usage("send: needs the message TEXT", NULL);
            json_object_set_new(p, "text", json_string(argv[2]));
            rest = 3;
        }
        for (int i = rest; i < argc; i++) {
            if (strcmp(sub, "clone") == 0 && strcmp(argv[i], "--with-history") == 0)
                json_object_set_new(p, "with_history", json_true());
            else if (strcmp(sub, "rm") == 0 && strcmp(argv[i], "--purge") == 0)
                json_object_set_new(p, "purge_events", json_true());
            else
                return usage("unexpected argument", argv[i]);
        }
        return 0;
    }
    return usage("unknown command", sub);
}

int cli_cmd_session(int argc, char **argv, const cli_global_t *g)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    client_opts_t o = {0};
    argc--;
    argv++;
    int rc = client_take_opts(&argc, argv, &o, PROG);
    if (rc != 0)
        return rc;
    if (argc < 1)
        return usage("which command?", NULL);
    const char *method = NULL;
    json_t *params = NULL;
    rc = build(argc, argv, &method, &params);
    if (rc != 0) {
        json_decref(params);
        return rc;
    }
    host_client_t *c;
    if (client_connect(&o, g, PROG, &c) != CLI_OK) {
        json_decref(params);
        return CLI_FAILED;
    }
    json_t *result = NULL, *error = NULL;
    agentd_err_t err = {{0}};
    rc = host_client_call(c, method, params, CALL_TIMEOUT_MS, &result, &error, &err);
    json_decref(params);
    if (rc == 0) {
        if (o.json)
            client_print_json(result);
        else
            print_human(argv[0], result);
    } else if (error != NULL) {
        if (o.json)
            client_print_json(error);
        fprintf(stderr, PROG " %s: %s (error %lld)\n", argv[0], err.msg,
                (long long)json_integer_value(json_object_get(error, "code")));
    } else {
        fprintf(stderr, PROG " %s: %s\n", argv[0], err.msg);
    }
    json_decref(result);
    json_decref(error);
    host_client_close(c);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}
