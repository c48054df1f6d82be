/* `agentd version` and `agentd help`. */
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <sqlite3.h>
#include <uv.h>

#include "cli/cli.h"

int cli_cmd_version(int argc, char **argv, const cli_global_t *g)
{
    (void)g;
    if (cli_wants_help(argc, argv)) {
        printf("usage: agentd version\n\nPrints agentd's version, its plugin ABI and the "
               "versions of the libraries it runs with.\n");
        return CLI_OK;
    }
    printf("agentd %s (plugin ABI %d.%d)\n", AGENTD_VERSION, AGENTD_ABI_MAJOR, AGENTD_ABI_MINOR);
    printf("libuv %s, jansson %s, libwebsockets %s, sqlite %s\n", uv_version_string(),
           JANSSON_VERSION, lws_get_library_version(), sqlite3_libversion());
    return CLI_OK;
}

int cli_cmd_help(int argc, char **argv, const cli_global_t *g)
{
    (void)g;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: agentd help [COMMAND]\n\nLists the commands, or shows one command's help.\n");
        return CLI_OK;
    }
    if (argc >= 2) {
        for (const cli_command_t *c = cli_commands(); c->name != NULL; c++) {
            if (strcmp(c->name, argv[1]) == 0) {
                char *help_argv[] = {argv[1], "--help", NULL};
                return c->run(2, help_argv, g);
            }
        }
        fprintf(stderr, "agentd help: no command \"%s\"\n", argv[1]);
        return CLI_USAGE;
    }
    printf("usage: agentd [--config FILE] [--log-level LEVEL] COMMAND [ARGS]\n\n"
           "agentd runs Claude Code agent sessions in sandboxes for a team.\n\n"
           "Commands:\n");
    for (const cli_command_t *c = cli_commands(); c->name != NULL; c++)
        printf("  %-10s %s\n", c->name, c->summary);
    printf("\nWith no --config (and no $AGENTD_CONFIG) agentd runs on its embedded defaults\n"
           "(`agentd config defaults` prints them). `agentd COMMAND --help` for more.\n");
    return CLI_OK;
}
