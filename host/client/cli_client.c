/* Options and connection shared by the client commands (cli_client.h). */
#include "client/cli_client.h"

#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 10000

int client_take_opts(int *argc, char **argv, client_opts_t *o, const char *prog)
{
    int w = 0;
    int dashdash = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = 1;
            argv[w++] = argv[i];
            continue;
        }
        if (!dashdash && (strcmp(a, "--server") == 0 || strcmp(a, "--token") == 0)) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "%s: %s needs a value\n", prog, a);
                return CLI_USAGE;
            }
            if (a[2] == 's')
                o->server = argv[++i];
            else
                o->token = argv[++i];
            continue;
        }
        if (!dashdash && strncmp(a, "--server=", 9) == 0) {
            o->server = a + 9;
            continue;
        }
        if (!dashdash && strncmp(a, "--token=", 8) == 0) {
            o->token = a + 8;
            continue;
        }
        if (!dashdash && strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        argv[w++] = argv[i];
    }
    *argc = w;
    argv[w] = NULL;
    return 0;
}

int client_connect(client_opts_t *o, const cli_global_t *g, const char *prog,
                   host_client_t **out)
{
    if (o->server == NULL)
        o->server = getenv("AGENTD_SERVER");
    if (o->server == NULL || o->server[0] == '\0') {
        host_config_t *cfg;
        if (cli_load_config(g, &cfg) != 0)
            return CLI_FAILED;
        const char *addr = cfg->listen_address;
        if (strcmp(addr, "0.0.0.0") == 0)
            addr = "127.0.0.1";
        snprintf(o->server_buf, sizeof o->server_buf,
                 strchr(addr, ':') != NULL ? "ws://[%s]:%d/" : "ws://%s:%d/", addr,
                 cfg->listen_port);
        host_config_free(cfg);
        o->server = o->server_buf;
    }
    if (o->token == NULL)
        o->token = getenv("AGENTD_TOKEN");
    if (o->token == NULL || o->token[0] == '\0') {
        fprintf(stderr,
                "%s: no API token: give --token TOKEN or set AGENTD_TOKEN (`agentd token "
                "create` makes one)\n",
                prog);
        return CLI_FAILED;
    }
    agentd_err_t err = {{0}};
    if (host_client_open(o->server, o->token, CONNECT_TIMEOUT_MS, out, &err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return CLI_FAILED;
    }
    return CLI_OK;
}

void client_print_json(json_t *v)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (t != NULL)
        printf("%s\n", t);
    free(t);
}
