/*
 * One permission rule, in Claude Code's syntax (docs/permissions.md):
 *
 *   Write                  the tool, whatever its input
 *   Bash(npm test)         Bash running exactly this simple command
 *   Bash(npm run:*)        Bash running a simple command whose first words
 *                          are "npm run"
 *   Edit(src/ **)          a file tool whose path matches the glob (gitignore
 *                          style: ** crosses directories, * does not; //abs
 *                          is an absolute path; /x and x are relative to the
 *                          workspace; a pattern without / matches a name at
 *                          any depth in the workspace)
 *   WebFetch(domain:x.org) a fetch from x.org or one of its subdomains
 *   mcp__server            every tool of an MCP server (also mcp__server__*)
 *   mcp__server__tool      one MCP tool
 *
 * Parsing checks the grammar, so a settings error is reported when the
 * session is created, not when the rule would have mattered.
 *
 * Thread: any. No global state. Ownership: a parsed rule owns its strings.
 */
#ifndef AGENTD_HOST_PERMISSION_RULES_H
#define AGENTD_HOST_PERMISSION_RULES_H

#include <stddef.h>

#define HOST_RULE_MAX_LEN 1024u

typedef enum host_rule_kind {
    HOST_RULE_TOOL,        /* a tool name, no specifier (or "(*)") */
    HOST_RULE_MCP_SERVER,  /* mcp__server or mcp__server__* */
    HOST_RULE_BASH_EXACT,  /* Bash(words) */
    HOST_RULE_BASH_PREFIX, /* Bash(words:*) */
    HOST_RULE_PATH,        /* a file tool with a path glob */
    HOST_RULE_DOMAIN,      /* WebFetch(domain:host) */
    HOST_RULE_GLOB         /* another tool with a specifier: a glob on its
                            * main input field */
} host_rule_kind_t;

typedef struct host_rule {
    char *text;            /* as written */
    char *tool;            /* tool name, or the mcp__server prefix */
    host_rule_kind_t kind;
    char *spec;            /* the specifier, for PATH, DOMAIN and GLOB */
    char **words;          /* for Bash rules: the command's words */
    size_t nwords;
} host_rule_t;

/* Parses one rule. Returns 0, AGENTD_EINVAL with the reason in why, or
 * AGENTD_ENOMEM. */
int host_rule_parse(const char *text, size_t len, host_rule_t *out, char *why, size_t whylen);

void host_rule_free(host_rule_t *r);

/* Whether the rule names this tool (its family for path rules: an Edit path
 * rule covers Write, Edit, MultiEdit and NotebookEdit; a Read path rule
 * covers Read, Glob, Grep, LS and NotebookRead). */
int host_rule_names_tool(const host_rule_t *r, const char *tool);

/* Whether a Bash rule matches a simple command's words. */
int host_rule_match_words(const host_rule_t *r, const char *const *words, size_t n);

/* Gitignore-style glob: ** crosses '/', * and ? do not, [...] classes,
 * backslash escapes. Runs in O(pattern * text). Returns 1 on a match. */
int host_glob_match(const char *pattern, const char *text);

/* Whether a path rule matches `path`: `rel` is the path relative to the
 * workspace (NULL when outside it), `abs` the normalized absolute path. */
int host_rule_match_path(const host_rule_t *r, const char *rel, const char *abs);

/* Whether a WebFetch domain rule matches a URL. */
int host_rule_match_url(const host_rule_t *r, const char *url);

/* Whether a rule for another tool's specifier (fnmatch glob) matches the
 * tool's main input field. */
int host_rule_match_glob(const host_rule_t *r, const char *value);

/* The tool families. */
int host_tool_is_edit(const char *tool);
int host_tool_is_read(const char *tool);

#endif /* AGENTD_HOST_PERMISSION_RULES_H */
