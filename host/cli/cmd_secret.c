/* `agentd secret ...`: placeholder until the secret store lands (issue 4). */
#include "cli/cli.h"

int cli_cmd_secret(int argc, char **argv, const cli_global_t *g)
{
    (void)argc;
    (void)argv;
    (void)g;
    fprintf(stderr, "agentd secret: the secret store is not built yet\n");
    return CLI_FAILED;
}
