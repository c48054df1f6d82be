#include "permissions/rules.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <agentd/abi.h>

#include "permissions/shell_words.h"

static const char *const edit_tools[] = {"Write", "Edit", "MultiEdit", "NotebookEdit"};
static const char *const read_tools[] = {"Read", "Glob", "Grep", "LS", "NotebookRead"};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

int host_tool_is_edit(const char *tool)
{
    return tool != NULL && in_list(tool, edit_tools, sizeof edit_tools / sizeof edit_tools[0]);
}

int host_tool_is_read(const char *tool)
{
    return tool != NULL && in_list(tool, read_tools, sizeof read_tools / sizeof read_tools[0]);
}

/* ---- glob ---------------------------------------------------------------- */

typedef enum { G_LIT, G_ANY, G_CLASS, G_STAR, G_STARSTAR, G_SSG_ENTRY, G_SSG_INSIDE } gtype_t;

typedef struct gnode {
    unsigned char type;
    unsigned char c;
    unsigned short cls_start, cls_end; /* offsets in the pattern, for G_CLASS */
    unsigned char negate;
} gnode_t;

#define GLOB_MAX_NODES (2 * HOST_RULE_MAX_LEN + 2)

static int class_match(const char *pat, size_t start, size_t end, unsigned char c)
{
    for (size_t i = start; i < end; i++) {
        unsigned char lo = (unsigned char)pat[i];
        if (lo == '\\' && i + 1 < end)
            lo = (unsigned char)pat[++i];
        if (i + 2 < end && pat[i + 1] == '-') {
            unsigned char hi = (unsigned char)pat[i + 2];
            i += 2;
            if (c >= lo && c <= hi)
                return 1;
        } else if (c == lo) {
            return 1;
        }
    }
    return 0;
}

int host_glob_match(const char *pattern, const char *text)
{
    gnode_t nodes[GLOB_MAX_NODES];
    size_t n = 0, plen = strlen(pattern);
    if (plen > HOST_RULE_MAX_LEN)
        return 0;
    for (size_t i = 0; i < plen;) {
        gnode_t g = {0};
        char c = pattern[i];
        if (c == '*' && pattern[i + 1] == '*') {
            while (pattern[i] == '*')
                i++;
            if (pattern[i] == '/') {
                i++;
                g.type = G_SSG_ENTRY;
                nodes[n++] = g;
                g.type = G_SSG_INSIDE;
            } else {
                g.type = G_STARSTAR;
            }
        } else if (c == '*') {
            g.type = G_STAR;
            i++;
        } else if (c == '?') {
            g.type = G_ANY;
            i++;
        } else if (c == '[') {
            size_t j = i + 1;
            if (pattern[j] == '!' || pattern[j] == '^')
                j++;
            if (pattern[j] == ']')
                j++;
            while (j < plen && pattern[j] != ']') {
                if (pattern[j] == '\\' && j + 1 < plen)
                    j++;
                j++;
            }
            if (j >= plen) {
                g.type = G_LIT;
                g.c = '[';
                i++;
            } else {
                g.type = G_CLASS;
                g.negate = pattern[i + 1] == '!' || pattern[i + 1] == '^';
                g.cls_start = (unsigned short)(i + 1 + g.negate);
                g.cls_end = (unsigned short)j;
                i = j + 1;
            }
        } else if (c == '\\' && i + 1 < plen) {
            g.type = G_LIT;
            g.c = (unsigned char)pattern[i + 1];
            i += 2;
        } else {
            g.type = G_LIT;
            g.c = (unsigned char)c;
            i++;
        }
        nodes[n++] = g;
    }
    /* NFA simulation: state k means "the first k nodes matched". */
    unsigned char cur[GLOB_MAX_NODES + 1], next[GLOB_MAX_NODES + 1];
    memset(cur, 0, n + 1);
    cur[0] = 1;
    for (const unsigned char *t = (const unsigned char *)text;; t++) {
        for (size_t k = 0; k < n; k++) /* epsilon moves go forward only */
            if (cur[k] && (nodes[k].type == G_STAR || nodes[k].type == G_STARSTAR))
                cur[k + 1] = 1;
            else if (cur[k] && nodes[k].type == G_SSG_ENTRY)
                cur[k + 1] = cur[k + 2] = 1;
        if (*t == '\0')
            return cur[n];
        memset(next, 0, n + 1);
        int any = 0;
        for (size_t k = 0; k < n; k++) {
            if (!cur[k])
                continue;
            const gnode_t *g = &nodes[k];
            switch ((gtype_t)g->type) {
            case G_LIT:
                if (*t == g->c)
                    next[k + 1] = 1;
                break;
            case G_ANY:
                if (*t != '/')
                    next[k + 1] = 1;
                break;
            case G_CLASS:
                if (*t != '/' &&
                    class_match(pattern, g->cls_start, g->cls_end, *t) != g->negate)
                    next[k + 1] = 1;
                break;
            case G_STAR:
                if (*t != '/')
                    next[k] = 1;
                break;
            case G_STARSTAR:
                next[k] = 1;
                break;
            case G_SSG_ENTRY:
                break;
            case G_SSG_INSIDE:
                next[k] = 1;
                if (*t == '/')
                    next[k + 1] = 1;
                break;
            }
        }
        for (size_t k = 0; k <= n; k++)
            any |= next[k];
        if (!any)
            return 0;
        memcpy(cur, next, n + 1);
    }
}

/* ---- parsing -------------------------------------------------------------- */

static int invalid(char *why, size_t whylen, const char *msg)
{
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, "%s", msg);
    return AGENTD_EINVAL;
}

void host_rule_free(host_rule_t *r)
{
    if (r == NULL)
        return;
    free(r->text);
    free(r->tool);
    free(r->spec);
    for (size_t i = 0; i < r->nwords; i++)
        free(r->words[i]);
    free(r->words);
    memset(r, 0, sizeof *r);
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

static int parse_bash(host_rule_t *out, const char *spec, size_t n, char *why, size_t whylen)
{
    int prefix = n >= 2 && spec[n - 2] == ':' && spec[n - 1] == '*';
    if (prefix)
        n -= 2;
    for (size_t i = 0; i + 1 < n; i++)
        if (spec[i] == ':' && spec[i + 1] == '*')
            return invalid(why, whylen, "\":*\" may only end a Bash rule");
    host_sh_list_t l = {0};
    int rc = host_sh_split(spec, n, 0, &l);
    if (rc != 0) {
        host_sh_list_free(&l);
        return rc;
    }
    int ok = !l.unknown && l.n == 1 && l.cmds[0].nredirs == 0 && l.cmds[0].nwords > 0;
    for (size_t i = 0; ok && i < l.cmds[0].nwords; i++)
        if (l.cmds[0].words[i].flags & HOST_SH_W_DYNAMIC)
            ok = 0;
    if (!ok) {
        host_sh_list_free(&l);
        return invalid(why, whylen, "a Bash rule names one simple command, without ; & | "
                                    "redirections, substitutions or variables");
    }
    out->words = calloc(l.cmds[0].nwords, sizeof *out->words);
    if (out->words == NULL) {
        host_sh_list_free(&l);
        return AGENTD_ENOMEM;
    }
    out->nwords = l.cmds[0].nwords;
    for (size_t i = 0; i < out->nwords; i++) {
        out->words[i] = l.cmds[0].words[i].text;
        l.cmds[0].words[i].text = NULL;
    }
    host_sh_list_free(&l);
    out->kind = prefix ? HOST_RULE_BASH_PREFIX : HOST_RULE_BASH_EXACT;
    return 0;
}

static int parse_rule(const char *text, size_t len, host_rule_t *out, char *why, size_t whylen)
{
    while (len > 0 && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0)
        return invalid(why, whylen, "an empty rule");
    if (len > HOST_RULE_MAX_LEN)
        return invalid(why, whylen, "a rule longer than 1024 bytes");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20)
            return invalid(why, whylen, "a control character in a rule");
    out->text = strndup(text, len);
    if (out->text == NULL)
        return AGENTD_ENOMEM;
    const char *open = memchr(text, '(', len);
    size_t name_len = open != NULL ? (size_t)(open - text) : len;
    size_t check_len = name_len;
    if (name_len > 8 && strncmp(text, "mcp__", 5) == 0 && strncmp(text + name_len - 3, "__*", 3) == 0)
        check_len--; /* mcp__server__* */
    if (!valid_name(text, check_len))
        return invalid(why, whylen, "a rule starts with a tool name (letters, digits, _ - .)");
    out->tool = strndup(text, name_len);
    if (out->tool == NULL)
        return AGENTD_ENOMEM;
    int mcp = strncmp(out->tool, "mcp__", 5) == 0;
    if (mcp) {
        const char *server = out->tool + 5;
        const char *sep = strstr(server, "__");
        if (*server == '\0' || sep == server)
            return invalid(why, whylen, "mcp__ is followed by a server name");
        if (sep == NULL) {
            out->kind = HOST_RULE_MCP_SERVER;
        } else if (strcmp(sep, "__*") == 0) {
            out->tool[sep - out->tool] = '\0';
            out->kind = HOST_RULE_MCP_SERVER;
            if (open != NULL)
                return invalid(why, whylen, "an MCP rule takes no specifier");
            return 0;
        } else if (sep[2] == '\0') {
            return invalid(why, whylen, "mcp__server__ is followed by a tool name");
        }
    }
    if (open == NULL) {
        if (!mcp)
            out->kind = HOST_RULE_TOOL;
        return 0;
    }
    if (mcp)
        return invalid(why, whylen, "an MCP rule takes no specifier");
    if (text[len - 1] != ')')
        return invalid(why, whylen, "a rule's specifier ends with \")\"");
    const char *spec = open + 1;
    size_t n = len - name_len - 2;
    if (n == 0 || (n == 1 && spec[0] == '*')) {
        out->kind = HOST_RULE_TOOL;
        return 0;
    }
    if (strcmp(out->tool, "Bash") == 0)
        return parse_bash(out, spec, n, why, whylen);
    out->spec = strndup(spec, n);
    if (out->spec == NULL)
        return AGENTD_ENOMEM;
    if (host_tool_is_edit(out->tool) || host_tool_is_read(out->tool)) {
        out->kind = HOST_RULE_PATH;
    } else if (strcmp(out->tool, "WebFetch") == 0 && strncmp(out->spec, "domain:", 7) == 0) {
        const char *d = out->spec + 7;
        if (*d == '\0' || strpbrk(d, "/:@ ") != NULL)
            return invalid(why, whylen, "domain: is followed by a host name");
        memmove(out->spec, d, strlen(d) + 1);
        out->kind = HOST_RULE_DOMAIN;
    } else {
        out->kind = HOST_RULE_GLOB;
    }
    return 0;
}

int host_rule_parse(const char *text, size_t len, host_rule_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (text == NULL)
        return invalid(why, whylen, "not a string");
    int rc = parse_rule(text, len, out, why, whylen);
    if (rc == AGENTD_ENOMEM)
        invalid(why, whylen, "out of memory");
    if (rc != 0)
        host_rule_free(out);
    return rc;
}

/* ---- matching ------------------------------------------------------------- */

int host_rule_names_tool(const host_rule_t *r, const char *tool)
{
    if (tool == NULL)
        return 0;
    if (r->kind == HOST_RULE_MCP_SERVER) {
        size_t n = strlen(r->tool);
        return strncmp(tool, r->tool, n) == 0 && strncmp(tool + n, "__", 2) == 0;
    }
    if (strcmp(r->tool, tool) == 0)
        return 1;
    if (r->kind == HOST_RULE_PATH)
        return (host_tool_is_edit(r->tool) && host_tool_is_edit(tool)) ||
               (host_tool_is_read(r->tool) && host_tool_is_read(tool));
    return 0;
}

int host_rule_match_words(const host_rule_t *r, const char *const *words, size_t n)
{
    if (r->kind == HOST_RULE_TOOL)
        return 1;
    if (r->kind != HOST_RULE_BASH_EXACT && r->kind != HOST_RULE_BASH_PREFIX)
        return 0;
    if (n < r->nwords || (r->kind == HOST_RULE_BASH_EXACT && n != r->nwords))
        return 0;
    for (size_t i = 0; i < r->nwords; i++)
        if (strcmp(words[i], r->words[i]) != 0)
            return 0;
    return 1;
}

/* Whether pattern matches path or one of its leading directories. */
static int match_or_parent(const char *pattern, const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, path, n + 1);
    for (;;) {
        if (host_glob_match(pattern, buf))
            return 1;
        char *slash = strrchr(buf, '/');
        if (slash == NULL || slash == buf)
            return 0;
        *slash = '\0';
    }
}

int host_rule_match_path(const host_rule_t *r, const char *rel, const char *abs)
{
    if (r->kind == HOST_RULE_TOOL)
        return 1;
    if (r->kind != HOST_RULE_PATH)
        return 0;
    char pat[HOST_RULE_MAX_LEN + 1];
    snprintf(pat, sizeof pat, "%s", r->spec);
    size_t n = strlen(pat);
    while (n > 1 && pat[n - 1] == '/')
        pat[--n] = '\0';
    if (strncmp(pat, "//", 2) == 0)
        return abs != NULL && match_or_parent(pat + 1, abs);
    if (strncmp(pat, "~/", 2) == 0 || strcmp(pat, "~") == 0)
        return 0; /* the agent's home is not known to the engine */
    if (rel == NULL)
        return 0;
    const char *p = pat;
    if (*p == '/')
        p++;
    else if (strncmp(p, "./", 2) == 0)
        p += 2;
    else if (strchr(p, '/') == NULL) {
        /* a name: matches at any depth, and what is below it */
        char buf[4096];
        if (strlen(rel) >= sizeof buf)
            return 0;
        snprintf(buf, sizeof buf, "%s", rel);
        for (char *save = NULL, *c = strtok_r(buf, "/", &save); c != NULL;
             c = strtok_r(NULL, "/", &save))
            if (host_glob_match(p, c))
                return 1;
        return 0;
    }
    return match_or_parent(p, rel);
}

int host_rule_match_url(const host_rule_t *r, const char *url)
{
    if (r->kind == HOST_RULE_TOOL)
        return 1;
    if (r->kind != HOST_RULE_DOMAIN || url == NULL)
        return 0;
    const char *h = strstr(url, "://");
    h = h != NULL ? h + 3 : url;
    size_t n = strcspn(h, "/?#");
    const char *at = memchr(h, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    const char *colon = memchr(h, ':', n);
    if (colon != NULL)
        n = (size_t)(colon - h);
    size_t d = strlen(r->spec);
    if (n == d)
        return strncasecmp(h, r->spec, n) == 0;
    return n > d && h[n - d - 1] == '.' && strncasecmp(h + n - d, r->spec, d) == 0;
}

int host_rule_match_glob(const host_rule_t *r, const char *value)
{
    if (r->kind == HOST_RULE_TOOL)
        return 1;
    if (r->kind != HOST_RULE_GLOB || value == NULL)
        return 0;
    return fnmatch(r->spec, value, 0) == 0;
}
