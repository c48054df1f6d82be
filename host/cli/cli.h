/*
 * The agentd command line: one file per subcommand (cmd_*.c), dispatched by
 * main.c. Exit codes: 0 ok, 1 failed, 2 usage.
 */
#ifndef AGENTD_HOST_CLI_H
#define AGENTD_HOST_CLI_H

#include <stdio.h>

#include "config/config.h"
#include "core/context.h"

#define CLI_OK 0
#define CLI_FAILED 1
#define CLI_USAGE 2

/* Options every subcommand accepts. */
typedef struct cli_global {
    const char *config_path;  /* --config FILE, or $AGENTD_CONFIG; NULL: defaults */
    const char *log_level;    /* --log-level LEVEL, overrides the config */
} cli_global_t;

typedef int (*cli_command_fn)(int argc, char **argv, const cli_global_t *g);

typedef struct cli_command {
    const char *name;
    cli_command_fn run;
    const char *summary;
} cli_command_t;

/* Removes --config/-c FILE and --log-level L from argv (anywhere), filling g.
 * Returns 0, or CLI_USAGE after printing what is wrong. */
int cli_take_global(int *argc, char **argv, cli_global_t *g);

/* True if argv has -h or --help before a "--". */
int cli_wants_help(int argc, char **argv);

/* Loads the configuration g names (or the defaults), printing diagnostics
 * to stderr. Returns 0 or CLI_FAILED. */
int cli_load_config(const cli_global_t *g, host_config_t **out);

/* Loads the configuration and sets up a host context with its log on
 * stderr. Returns 0 or CLI_FAILED. */
int cli_open_host(const cli_global_t *g, host_ctx_t *ctx);

/* Stops the plugins (each plugin's stop, within its deadline), then closes
 * the context. */
void cli_close_host(host_ctx_t *ctx);

int cli_cmd_serve(int argc, char **argv, const cli_global_t *g);
int cli_cmd_plugins(int argc, char **argv, const cli_global_t *g);
int cli_cmd_config(int argc, char **argv, const cli_global_t *g);
int cli_cmd_version(int argc, char **argv, const cli_global_t *g);
int cli_cmd_help(int argc, char **argv, const cli_global_t *g);
int cli_cmd_sandbox(int argc, char **argv, const cli_global_t *g);
int cli_cmd_run(int argc, char **argv, const cli_global_t *g);
int cli_cmd_secret(int argc, char **argv, const cli_global_t *g);
int cli_cmd_token(int argc, char **argv, const cli_global_t *g);
int cli_cmd_session(int argc, char **argv, const cli_global_t *g);
int cli_cmd_attach(int argc, char **argv, const cli_global_t *g);

/* The table of subcommands, ending with a NULL name. */
const cli_command_t *cli_commands(void);

#endif /* AGENTD_HOST_CLI_H */
