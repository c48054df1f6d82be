/* agentd: the command-line entry point. Each subcommand lives in cli/. */
#include <string.h>

#include "cli/cli.h"

static const cli_command_t commands[] = {
    {"serve", cli_cmd_serve, "run the daemon"},
    {"plugins", cli_cmd_plugins, "list plugins found, loaded or refused (and why)"},
    {"config", cli_cmd_config, "check a configuration file, or print the defaults"},
    {"run", cli_cmd_run, "run one session in this process and print it (headless)"},
    {"sandbox", cli_cmd_sandbox, "run a command in a fresh sandbox of a profile"},
    {"secret", cli_cmd_secret, "set, list, remove secrets; rotate the master key"},
    {"token", cli_cmd_token, "create, list, revoke API tokens"},
    {"session", cli_cmd_session, "create, list, drive sessions on a running daemon"},
    {"attach", cli_cmd_attach, "follow a session's events (resumes after reconnects)"},
    {"version", cli_cmd_version, "print the version"},
    {"help", cli_cmd_help, "show help for agentd or a command"},
    {NULL, NULL, NULL},
};

const cli_command_t *cli_commands(void)
{
    return commands;
}

int main(int argc, char **argv)
{
    cli_global_t g;
    int rc = cli_take_global(&argc, argv, &g);
    if (rc != 0)
        return rc;
    if (argc < 2) {
        cli_cmd_help(1, argv, &g);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0)
        return cli_cmd_help(1, argv, &g);
    if (strcmp(name, "--version") == 0)
        return cli_cmd_version(1, argv, &g);
    for (const cli_command_t *c = commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c->run(argc - 1, argv + 1, &g);
    fprintf(stderr, "agentd: unknown command \"%s\"; `agentd help` lists them\n", name);
    return CLI_USAGE;
}
