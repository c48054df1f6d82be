/*
 * The permission engine: decides a tool call (allow, ask or deny) from a
 * session's policy. docs/permissions.md is the user's description; in short:
 *
 *  1. System restrictions, which no rule lifts: repository-writing git
 *     commands, writes to .git/, .claude/ and .mcp.json.
 *  2. deny rules, then ask rules, then allow rules, whatever their
 *     specificity.
 *  3. The phase's defaults ("plan": read-only tools and read-only commands
 *     are allowed, file edits are denied, the rest asks), then the mode's
 *     ("allowlist": unlisted asks; "denylist": unlisted is allowed).
 *
 * A Bash command is split into its simple commands (shell_words.h), through
 * substitutions, subshells, `bash -c`, `eval` and wrappers such as `env`,
 * `nohup`, `timeout`, `xargs`, `sudo` and `find -exec`. Each part is decided
 * on its own; the command is denied if any part is, allowed only if every
 * part is, and asks otherwise. What cannot be read with certainty (computed
 * command names or arguments, input over the limits) never allows.
 *
 * Thread: any. No global state. Ownership: inputs borrowed; a policy owns
 * its rules.
 */
#ifndef AGENTD_HOST_PERMISSIONS_ENGINE_H
#define AGENTD_HOST_PERMISSIONS_ENGINE_H

#include <stddef.h>

#include <jansson.h>

#include "permissions/rules.h"

#define HOST_PERM_MAX_RULES 512u  /* per list */
#define HOST_PERM_MAX_APPROVAL_S 604800u /* approval_timeout_s: a week at most */
#define HOST_PERM_DEFAULT_APPROVAL_S 600u

typedef enum host_perm_decision {
    HOST_PERM_DENY = 0,
    HOST_PERM_ASK = 1,
    HOST_PERM_ALLOW = 2
} host_perm_decision_t;

typedef enum host_perm_mode { HOST_PERM_ALLOWLIST, HOST_PERM_DENYLIST } host_perm_mode_t;
typedef enum host_perm_phase { HOST_PERM_EXECUTE, HOST_PERM_PLAN } host_perm_phase_t;

typedef struct host_perm_list {
    host_rule_t *rules;
    size_t n;
} host_perm_list_t;

typedef struct host_perm_policy {
    host_perm_mode_t mode;
    host_perm_phase_t phase;
    host_perm_list_t allow, ask, deny;
} host_perm_policy_t;

typedef struct host_perm_result {
    host_perm_decision_t decision;
    char rule[HOST_RULE_MAX_LEN + 1]; /* the rule that decided, or "" */
    const char *by;        /* "rule", "system", "phase", "default", "limit" */
    char reason[256];      /* for people: why */
} host_perm_result_t;

/* Builds a policy from two layers: `defaults` (the config file's
 * "permissions" object, or NULL) and a session's settings ("permissions"
 * {mode, phase, allow, ask, deny, plan, execute, approval_timeout_s}, the
 * older allowed_tools / disallowed_tools added to allow / deny, and
 * permission_default "allow" meaning denylist mode). A session's mode and
 * phase override the defaults'; lists are joined (the defaults' deny rules
 * bind every session). The phase is "plan" when settings.permission_mode is
 * "plan"; then the "plan" lists of both layers apply, else the "execute"
 * lists. Returns 0, AGENTD_EINVAL with a message in why naming the field,
 * or AGENTD_ENOMEM. */
int host_perm_policy_build(json_t *defaults, json_t *settings, host_perm_policy_t *out,
                           char *why, size_t whylen);

/* host_perm_policy_build(NULL, settings, ...). */
int host_perm_policy_from_settings(json_t *settings, host_perm_policy_t *out, char *why,
                                   size_t whylen);

/* The part of a policy the agent itself must know, as Claude Code settings
 * ({"permissions": {"ask": [every deny and ask rule of the phase in
 * force]}}): the CLI allows some tools on its own (read-only commands, and
 * edits in the acceptEdits mode) without asking agentd; these rules make it
 * ask agentd wherever a rule denies or asks, so the engine decides and the
 * decision is recorded. NULL on a bad policy or no memory. */
json_t *host_perm_agent_settings(json_t *defaults, json_t *settings);

/* How long a person has to answer: the session's
 * permissions.approval_timeout_s, else the defaults', else fallback. */
unsigned host_perm_approval_timeout_s(json_t *defaults, json_t *settings, unsigned fallback);

void host_perm_policy_free(host_perm_policy_t *p);

/* Decides one tool call. workspace is the agent's working directory (the
 * session's workspace), used to resolve relative paths and to tell writes
 * outside it. Returns 0 (the result is set) or AGENTD_ENOMEM (the result is
 * a deny). */
int host_perm_evaluate(const host_perm_policy_t *p, const char *tool, json_t *input,
                       const char *workspace, host_perm_result_t *res);

const char *host_perm_decision_name(host_perm_decision_t d);

#endif /* AGENTD_HOST_PERMISSIONS_ENGINE_H */
