/* `agentd token ...`: API tokens in <data_dir>/agentd.db (api/tokens.h).
 * Works beside a running daemon: a revoked token's open connections are
 * closed by the daemon within api.token_recheck_ms. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/tokens.h"
#include "cli/cli.h"
#include "store/db.h"

#define PROG "agentd token"

static const char usage_text[] =
    "usage: agentd [--config FILE] token COMMAND [ARGS]\n"
    "\n"
    "API tokens for the WebSocket API (docs/protocol.md). Only a token's SHA-256\n"
    "is stored; its text is printed once, by create.\n"
    "\n"
    "Commands:\n"
    "  create --role viewer|editor|admin [--name NAME] [--json]\n"
    "                  make a token and print it (viewer reads sessions and events,\n"
    "                  editor also creates and drives sessions, admin also manages\n"
    "                  tokens)\n"
    "  ls [--json]     list tokens: id, name, role, created, revoked, last used\n"
    "  revoke ID       revoke a token; the daemon closes its open connections\n"
    "\n"
    "Exit status: 0 ok, 1 failed, 2 usage.\n";

static int usage(const char *what, const char *arg)
{
    fprintf(stderr, PROG ": %s%s%s\n\n%s", what, arg != NULL ? " " : "",
            arg != NULL ? arg : "", usage_text);
    return CLI_USAGE;
}

static int open_db(const cli_global_t *g, host_config_t **cfg, host_db_t **db)
{
    if (cli_load_config(g, cfg) != 0)
        return CLI_FAILED;
    if (host_mkdir_p((*cfg)->data_dir, 0700) != 0) {
        fprintf(stderr, PROG ": data_dir %s cannot be created\n", (*cfg)->data_dir);
        host_config_free(*cfg);
        return CLI_FAILED;
    }
    size_t n = strlen((*cfg)->data_dir) + sizeof "/agentd.db";
    char *path = malloc(n);
    if (path == NULL) {
        host_config_free(*cfg);
        return CLI_FAILED;
    }
    snprintf(path, n, "%s/agentd.db", (*cfg)->data_dir);
    agentd_err_t err = {{0}};
    int rc = host_db_open(path, db, &err);
    free(path);
    if (rc == 0 && (rc = host_api_tokens_init(*db, &err)) != 0)
        host_db_close(*db);
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        host_config_free(*cfg);
        return CLI_FAILED;
    }
    return 0;
}

static int cmd_create(int argc, char **argv, const cli_global_t *g)
{
    const char *role_s = NULL, *name = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role_s = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return usage("create: unexpected argument", argv[i]);
    }
    host_api_role_t role;
    if (role_s == NULL)
        return usage("create: --role is required", NULL);
    if (host_api_role_parse(role_s, &role) != 0)
        return usage("create: --role must be viewer, editor or admin, not", role_s);
    host_config_t *cfg;
    host_db_t *db;
    if (open_db(g, &cfg, &db) != 0)
        return CLI_FAILED;
    char tok[HOST_API_TOKEN_MAX], id[HOST_API_TOKEN_ID_LEN + 1];
    agentd_err_t err = {{0}};
    int rc = host_api_token_create(db, role, name, tok, id, &err);
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
    } else if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "token", tok, "role", role_s,
                              "name", name != NULL ? name : "");
        char *t = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        if (t != NULL)
            printf("%s\n", t);
        else
            rc = -1;
        free(t);
        json_decref(o);
    } else {
        printf("%s\n", tok);
        fprintf(stderr, "token %s (%s) created; it is shown only now\n", id, role_s);
    }
    memset(tok, 0, sizeof tok);
    host_db_close(db);
    host_config_free(cfg);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

static int cmd_list(int argc, char **argv, const cli_global_t *g)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return usage("ls: unexpected argument", argv[i]);
    }
    host_config_t *cfg;
    host_db_t *db;
    if (open_db(g, &cfg, &db) != 0)
        return CLI_FAILED;
    agentd_err_t err = {{0}};
    json_t *l = host_api_token_list(db, &err);
    int rc = CLI_OK;
    if (l == NULL) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        rc = CLI_FAILED;
    } else if (json) {
        char *t = json_dumps(l, JSON_COMPACT);
        if (t != NULL)
            printf("%s\n", t);
        else
            rc = CLI_FAILED;
        free(t);
    } else {
        size_t i;
        json_t *o;
        printf("%-16s  %-6s  %-8s  %s\n", "ID", "ROLE", "STATE", "NAME");
        json_array_foreach(l, i, o) {
            printf("%-16s  %-6s  %-8s  %s\n", json_string_value(json_object_get(o, "id")),
                   json_string_value(json_object_get(o, "role")),
                   json_is_null(json_object_get(o, "revoked_ms")) ? "active" : "revoked",
                   json_string_value(json_object_get(o, "name")));
        }
    }
    json_decref(l);
    host_db_close(db);
    host_config_free(cfg);
    return rc;
}

static int cmd_revoke(int argc, char **argv, const cli_global_t *g)
{
    if (argc != 2)
        return usage("revoke: give exactly one token ID (`agentd token ls` lists them)", NULL);
    host_config_t *cfg;
    host_db_t *db;
    if (open_db(g, &cfg, &db) != 0)
        return CLI_FAILED;
    agentd_err_t err = {{0}};
    int rc = host_api_token_revoke(db, argv[1], &err);
    if (rc != 0)
        fprintf(stderr, PROG ": %s\n", err.msg);
    else
        fprintf(stderr, "token %s revoked\n", argv[1]);
    host_db_close(db);
    host_config_free(cfg);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

int cli_cmd_token(int argc, char **argv, const cli_global_t *g)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "create") == 0)
        return cmd_create(argc - 1, argv + 1, g);
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
        return cmd_list(argc - 1, argv + 1, g);
    if (strcmp(sub, "revoke") == 0)
        return cmd_revoke(argc - 1, argv + 1, g);
    return usage("unknown command", sub);
}
