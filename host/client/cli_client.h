/* What the client commands (cmd_session.c, cmd_attach.c) share: --server,
 * --token, --json, and connecting with them. */
#ifndef AGENTD_HOST_CLI_CLIENT_H
#define AGENTD_HOST_CLI_CLIENT_H

#include "cli/cli.h"
#include "client/client.h"

typedef struct client_opts {
    const char *server; /* --server URL, $AGENTD_SERVER, else the config's listen */
    const char *token;  /* --token T, else $AGENTD_TOKEN */
    int json;           /* --json */
    char server_buf[320];
} client_opts_t;

/* Removes --server URL, --token T and --json from argv (anywhere before
 * "--"). Returns 0 or CLI_USAGE (printed). */
int client_take_opts(int *argc, char **argv, client_opts_t *o, const char *prog);

/* Connects (and authenticates); prints what went wrong. CLI_OK or
 * CLI_FAILED. */
int client_connect(client_opts_t *o, const cli_global_t *g, const char *prog,
                   host_client_t **out);

/* Prints v as one line of compact JSON to stdout. */
void client_print_json(json_t *v);

#endif
