/*
 * The Claude Code command line and environment for one run of a session's
 * agent. Secrets (the API key, session environment values) only ever go in
 * the environment, never in argv, which every local user can read.
 *
 * Thread: any. Ownership: the result owns its strings; free it with
 * host_claude_command_free (which wipes the environment).
 */
#ifndef AGENTD_HOST_CLAUDE_COMMAND_H
#define AGENTD_HOST_CLAUDE_COMMAND_H

#include <stddef.h>

#include <jansson.h>

#include <agentd/abi.h>

typedef struct host_claude_command {
    char **argv;   /* NULL-terminated */
    char **env;    /* NULL-terminated "K=V" */
    size_t argc, envc, argv_cap, env_cap;
} host_claude_command_t;

typedef struct host_claude_inputs {
    const char *program;          /* the claude executable */
    const char *model;            /* NULL: the CLI's default */
    const char *resume_id;        /* the conversation to continue, or NULL */
    const char *config_dir;       /* CLAUDE_CONFIG_DIR */
    const char *home;             /* HOME for the agent */
    const char *api_key;          /* ANTHROPIC_API_KEY value, or NULL */
    const char *base_url;         /* ANTHROPIC_BASE_URL, or NULL */
    const char *mcp_config_path;  /* --mcp-config FILE, or NULL */
    const char *path_env;         /* PATH for the agent */
    json_t *settings;             /* the session's settings (borrowed) */
    json_t *perm_defaults;        /* the config's "permissions" (borrowed) */
    struct host_secrets *secrets; /* resolves ${secret:NAME} in env values */
    const char *session_id;       /* for the audit */
} host_claude_inputs_t;

/* Limit on the appended system prompt (persona + context files), which is
 * an argument: Linux caps one argument at 128 KiB. */
#define HOST_CLAUDE_MAX_PROMPT_ARG (120u * 1024u)

/* Builds argv and env. Settings used: allowed_tools, disallowed_tools
 * (arrays of patterns), append_system_prompt, persona (strings),
 * context_files (paths inside the workspace, appended to the system prompt),
 * env (object of strings, already resolved). Errors: AGENTD_EINVAL with the
 * settings field named, AGENTD_ENOMEM. */
int host_claude_command_build(const host_claude_inputs_t *in, const char *workspace,
                              host_claude_command_t *out, agentd_err_t *err);
void host_claude_command_free(host_claude_command_t *c);

#endif /* AGENTD_HOST_CLAUDE_COMMAND_H */
