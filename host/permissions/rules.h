/*
 * Tool permission rules in Claude Code's pattern syntax, for a session's
 * allow and deny lists:
 *
 *   Write                  the tool, whatever its input
 *   Bash(npm test)         Bash with exactly this command
 *   Bash(npm run:*)        Bash with a command starting "npm run"
 *   Edit(src/ *.c)         a file tool whose path matches the glob
 *   mcp__server            every tool of an MCP server
 *   mcp__server__tool      one MCP tool
 *
 * Deny wins over allow. A prefix or exact Bash rule never approves a command
 * that contains shell control syntax (; & | ` $( > < newline): such a
 * command matches no allow rule here (the permissions issue brings a real
 * shell-word parser). What no rule allows gets the session's default, which
 * is "deny" unless the session says otherwise: fail closed.
 *
 * Thread: any. Ownership: inputs borrowed.
 */
#ifndef AGENTD_HOST_PERMISSION_RULES_H
#define AGENTD_HOST_PERMISSION_RULES_H

#include <jansson.h>

typedef enum host_permission_decision {
    HOST_PERMISSION_DENY = 0,
    HOST_PERMISSION_ALLOW = 1
} host_permission_decision_t;

/* Whether one pattern matches a tool call. */
int host_permission_rule_matches(const char *rule, const char *tool, json_t *input);

/* Decides from the lists (JSON arrays of patterns, may be NULL) and the
 * default; *rule receives the matching pattern (borrowed from the lists) or
 * NULL when the default decided. */
host_permission_decision_t host_permission_decide(json_t *allow, json_t *deny,
                                                  host_permission_decision_t fallback,
                                                  const char *tool, json_t *input,
                                                  const char **rule);

#endif /* AGENTD_HOST_PERMISSION_RULES_H */
