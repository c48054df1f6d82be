/* `agentd attach SESSION [--since N]`: follows a session's events over the
 * WebSocket API, reconnecting and resuming from the last seq it printed
 * when the connection drops (server restart, slow-client disconnect). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "client/cli_client.h"

#define PROG "agentd attach"
#define CALL_TIMEOUT_MS 30000
#define BACKOFF_MAX_MS 5000

static const char usage_text[] =
    "usage: agentd attach SESSION [--since N] [--server URL] [--token TOKEN] [--json]\n"
    "\n"
    "Prints the session's events after seq N (default 0: all of them), then follows\n"
    "the live ones until interrupted. When the connection drops it reconnects on its\n"
    "own and resumes from the last seq it printed, so nothing is missed or printed\n"
    "twice. --json prints each event as one JSON line {session, seq, ts, type, data}.\n"
    "Exit status: 1 when the token is refused, the session is unknown or the cursor is\n"
    "older than the server keeps; 2 usage.\n";

static void print_event(json_t *ev, int json)
{
    if (json) {
        client_print_json(ev);
        return;
    }
    json_t *data = json_object_get(ev, "data");
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *text = json_object_get(data, "text");
    if (json_is_string(text)) {
        printf("[%lld] %s: %s\n", (long long)json_integer_value(json_object_get(ev, "seq")),
               type != NULL ? type : "?", json_string_value(text));
        return;
    }
    char *d = json_dumps(data, JSON_COMPACT);
    printf("[%lld] %s %s\n", (long long)json_integer_value(json_object_get(ev, "seq")),
           type != NULL ? type : "?", d != NULL ? d : "");
    free(d);
    /* Someone watching is likely the one to answer: say how. */
    const char *sid = json_string_value(json_object_get(ev, "session"));
    const char *rid = json_string_value(json_object_get(data, "request_id"));
    if (type != NULL && sid != NULL && rid != NULL && strcmp(type, "permission.requested") == 0)
        printf("      waiting for a person: agentd session approve %s %s [--always]"
               " | agentd session deny %s %s [--message TEXT]\n", sid, rid, sid, rid);
    else if (type != NULL && sid != NULL && rid != NULL && strcmp(type, "question.asked") == 0)
        printf("      waiting for a person: agentd session answer %s %s --answer "
               "\"QUESTION=ANSWER\" | --decline\n", sid, rid);
}

int cli_cmd_attach(int argc, char **argv, const cli_global_t *g)
{
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    client_opts_t o = {0};
    argc--;
    argv++;
    int rc = client_take_opts(&argc, argv, &o, PROG);
    if (rc != 0)
        return rc;
    const char *session = NULL;
    long long last = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
            char *end;
            last = strtoll(argv[++i], &end, 10);
            if (*end != '\0' || last < 0) {
                fprintf(stderr, PROG ": --since must be a seq (an integer >= 0)\n\n%s",
                        usage_text);
                return CLI_USAGE;
            }
        } else if (argv[i][0] != '-' && session == NULL) {
            session = argv[i];
        } else {
            fprintf(stderr, PROG ": unexpected argument \"%s\"\n\n%s", argv[i], usage_text);
            return CLI_USAGE;
        }
    }
    if (session == NULL) {
        fprintf(stderr, PROG ": which SESSION?\n\n%s", usage_text);
        return CLI_USAGE;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    unsigned backoff = 100;
    for (;;) {
        host_client_t *c = NULL;
        agentd_err_t err = {{0}};
        if (o.server == NULL || o.token == NULL) {
            if (client_connect(&o, g, PROG, &c) != CLI_OK)
                return CLI_FAILED; /* no token, bad config, or first connect failed */
        } else {
            rc = host_client_open(o.server, o.token, 10000, &c, &err);
            if (rc == AGENTD_EPERM || rc == AGENTD_EINVAL) {
                fprintf(stderr, PROG ": %s\n", err.msg);
                return CLI_FAILED;
            }
            if (rc != 0) {
                usleep(backoff * 1000);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
        }
        /* batch: a long session's replay comes in a few large messages. */
        json_t *params = json_pack("{s:s, s:I, s:b}", "session", session, "since",
                                   (json_int_t)last, "batch", 1);
        json_t *result = NULL, *error = NULL;
        rc = host_client_call(c, "events.subscribe", params, CALL_TIMEOUT_MS, &result, &error,
                              &err);
        json_decref(params);
        json_decref(result);
        if (rc == AGENTD_EPROTO) {
            fprintf(stderr, PROG ": %s (error %lld)\n", err.msg,
                    (long long)json_integer_value(json_object_get(error, "code")));
            json_decref(error);
            host_client_close(c);
            return CLI_FAILED;
        }
        if (rc == 0) {
            backoff = 100;
            json_t *note;
            while ((rc = host_client_next(c, 1000, &note, &err)) != AGENTD_ECLOSED) {
                if (rc != 0)
                    continue;
                const char *m = json_string_value(json_object_get(note, "method"));
                json_t *p = json_object_get(note, "params");
                if (m != NULL && strcmp(m, "event") == 0) {
                    long long seq = (long long)json_integer_value(json_object_get(p, "seq"));
                    if (seq == last + 1) {
                        print_event(p, o.json);
                        last = seq;
                    } else if (seq > last + 1) {
                        fprintf(stderr, PROG ": gap: got seq %lld after %lld\n", seq, last);
                    }
                } else if (m != NULL && strcmp(m, "events.error") == 0) {
                    fprintf(stderr, PROG ": %s\n",
                            json_string_value(json_object_get(p, "message")));
                    json_decref(note);
                    host_client_close(c);
                    return CLI_FAILED;
                }
                json_decref(note);
            }
        }
        fprintf(stderr, PROG ": %s; reconnecting to resume after seq %lld\n",
                err.msg[0] != '\0' ? err.msg : "connection lost", last);
        host_client_close(c);
        usleep(backoff * 1000);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}
