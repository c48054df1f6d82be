#include "permissions/shell_words.h"
#include "core/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/abi.h>

#define MAX_HEREDOCS 16

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf_t;

typedef struct heredoc {
    char *delim;
    int strip_tabs, quoted;
} heredoc_t;

typedef struct parser {
    const char *s;
    size_t len, pos;
    host_sh_list_t *out;
    int oom;
    heredoc_t pending[MAX_HEREDOCS];
    size_t npending;
} parser_t;

static int fail(parser_t *p, const char *why)
{
    if (!p->out->unknown) {
        p->out->unknown = 1;
        snprintf(p->out->why, sizeof p->out->why, "%s", why);
    }
    return -1;
}

static int oom(parser_t *p)
{
    p->oom = 1;
    return fail(p, "out of memory");
}

static int sb_putn(parser_t *p, sbuf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL)
            return oom(p);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int sb_put(parser_t *p, sbuf_t *b, char c)
{
    return sb_putn(p, b, &c, 1);
}

static int peek(const parser_t *p, size_t off)
{
    return p->pos + off < p->len ? (unsigned char)p->s[p->pos + off] : -1;
}

static void cmd_clear(host_sh_cmd_t *c)
{
    for (size_t i = 0; i < c->nwords; i++)
        free(c->words[i].text);
    for (size_t i = 0; i < c->nredirs; i++)
        free(c->redirs[i].target.text);
    free(c->words);
    free(c->redirs);
    memset(c, 0, sizeof *c);
}

static int finish(parser_t *p, host_sh_cmd_t *c, int depth)
{
    if (c->nwords == 0 && c->nredirs == 0) {
        cmd_clear(c);
        c->depth = depth;
        return 0;
    }
    host_sh_list_t *o = p->out;
    if (o->n >= HOST_SH_MAX_CMDS) {
        cmd_clear(c);
        c->depth = depth;
        return fail(p, "more simple commands than agentd reads in one line");
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        host_sh_cmd_t *q = realloc(o->cmds, cap * sizeof *q);
        if (q == NULL) {
            cmd_clear(c);
            return oom(p);
        }
        o->cmds = q;
        o->cap = cap;
    }
    c->depth = depth;
    o->cmds[o->n++] = *c;
    memset(c, 0, sizeof *c);
    c->depth = depth;
    return 0;
}

static int add_word(parser_t *p, host_sh_cmd_t *c, sbuf_t *b, unsigned flags)
{
    if (c->nwords + c->nredirs >= HOST_SH_MAX_WORDS) {
        free(b->p);
        return fail(p, "more words in one command than agentd reads");
    }
    if (c->nwords == c->capw) {
        size_t cap = c->capw ? c->capw * 2 : 8;
        host_sh_word_t *q = realloc(c->words, cap * sizeof *q);
        if (q == NULL) {
            free(b->p);
            return oom(p);
        }
        c->words = q;
        c->capw = cap;
    }
    if (b->p == NULL && sb_putn(p, b, "", 0) != 0)
        return -1;
    c->words[c->nwords].text = b->p;
    c->words[c->nwords].flags = flags;
    c->nwords++;
    return 0;
}

static int add_redir(parser_t *p, host_sh_cmd_t *c, host_sh_redir_op_t op, sbuf_t *b,
                     unsigned flags)
{
    if (c->nwords + c->nredirs >= HOST_SH_MAX_WORDS) {
        free(b->p);
        return fail(p, "more words in one command than agentd reads");
    }
    if (c->nredirs == c->capr) {
        size_t cap = c->capr ? c->capr * 2 : 4;
        host_sh_redir_t *q = realloc(c->redirs, cap * sizeof *q);
        if (q == NULL) {
            free(b->p);
            return oom(p);
        }
        c->redirs = q;
        c->capr = cap;
    }
    c->redirs[c->nredirs].op = op;
    c->redirs[c->nredirs].target.text = b->p;
    c->redirs[c->nredirs].target.flags = flags;
    c->nredirs++;
    return 0;
}

static int parse_seq(parser_t *p, int depth, int in_paren);

static int is_meta(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '&' || c == '|' ||
           c == '<' || c == '>' || c == '(' || c == ')';
}

static int is_name_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Copies a balanced region opened by `open` (already consumed) up to its
 * closing character; refuses a substitution inside it. */
static int scan_balanced(parser_t *p, sbuf_t *b, char open, char close, int level,
                         const char *what)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '`' || (c == '$' && peek(p, 1) == '(' && open != '('))
            return fail(p, what);
        if (c == '$' && peek(p, 1) == '(' && open == '(' && peek(p, 2) != '(')
            return fail(p, what);
        if (c == '\\' && p->pos + 1 < p->len) {
            if (sb_putn(p, b, p->s + p->pos, 2) != 0)
                return -1;
            p->pos += 2;
            continue;
        }
        if (c == open)
            level++;
        else if (c == close && --level == 0) {
            p->pos++;
            return sb_put(p, b, close);
        }
        if (sb_put(p, b, c) != 0)
            return -1;
        p->pos++;
    }
    return fail(p, what);
}

static int backtick(parser_t *p, int depth, sbuf_t *b, unsigned *flags);

/* At '$' (not $' or $"). */
static int expand(parser_t *p, int depth, sbuf_t *b, unsigned *flags)
{
    int c1 = peek(p, 1);
    if (c1 == '(' && peek(p, 2) == '(') {
        p->pos += 3;
        *flags |= HOST_SH_W_DYNAMIC;
        if (sb_putn(p, b, "$((", 3) != 0)
            return -1;
        return scan_balanced(p, b, '(', ')', 2, "a substitution inside $(( ))");
    }
    if (c1 == '(') {
        p->pos += 2;
        *flags |= HOST_SH_W_DYNAMIC;
        if (sb_putn(p, b, "$(...)", 6) != 0)
            return -1;
        return parse_seq(p, depth + 1, 1);
    }
    if (c1 == '{') {
        p->pos += 2;
        *flags |= HOST_SH_W_DYNAMIC;
        if (sb_putn(p, b, "${", 2) != 0)
            return -1;
        return scan_balanced(p, b, '{', '}', 1, "a substitution inside ${ }");
    }
    if (c1 >= 0 && (is_name_start(c1) || (c1 >= '0' && c1 <= '9') || strchr("@*#?-$!", c1))) {
        size_t start = p->pos;
        p->pos += 2;
        if (is_name_start(c1))
            while (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos]))
                p->pos++;
        *flags |= HOST_SH_W_DYNAMIC;
        return sb_putn(p, b, p->s + start, p->pos - start);
    }
    p->pos++;
    return sb_put(p, b, '$');
}

/* At $' : Bash's ANSI-C quoting, decoded so $'\x72m' is seen as rm. */
static int ansi_c(parser_t *p, sbuf_t *b, unsigned *flags)
{
    p->pos += 2;
    *flags |= HOST_SH_W_QUOTED;
    while (p->pos < p->len) {
        char c = p->s[p->pos++];
        if (c == '\'')
            return 0;
        if (c != '\\' || p->pos >= p->len) {
            if (sb_put(p, b, c) != 0)
                return -1;
            continue;
        }
        char e = p->s[p->pos++];
        int v = -1;
        switch (e) {
        case 'a': v = 7; break;
        case 'b': v = 8; break;
        case 'e': case 'E': v = 27; break;
        case 'f': v = 12; break;
        case 'n': v = 10; break;
        case 'r': v = 13; break;
        case 't': v = 9; break;
        case 'v': v = 11; break;
        case '\\': case '\'': case '"': case '?': v = (unsigned char)e; break;
        case 'x': {
            int h1 = peek(p, 0) >= 0 ? host_hex_digit(peek(p, 0)) : -1;
            if (h1 < 0) {
                *flags |= HOST_SH_W_DYNAMIC;
                v = -2;
                break;
            }
            p->pos++;
            v = h1;
            int h2 = peek(p, 0) >= 0 ? host_hex_digit(peek(p, 0)) : -1;
            if (h2 >= 0) {
                p->pos++;
                v = v * 16 + h2;
            }
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                v = e - '0';
                for (int k = 0; k < 2 && peek(p, 0) >= '0' && peek(p, 0) <= '7'; k++)
                    v = v * 8 + (p->s[p->pos++] - '0');
                v &= 0xff;
            } else {
                /* \c, \u, \U and the rest: not decoded, so not known */
                *flags |= HOST_SH_W_DYNAMIC;
                v = -2;
            }
        }
        if (v == 0)
            *flags |= HOST_SH_W_DYNAMIC; /* Bash ends the string there */
        if (v >= 0 && sb_put(p, b, (char)v) != 0)
            return -1;
    }
    return fail(p, "an unterminated $'...' quote");
}

static int split_nested(host_sh_list_t *out, const char *src, size_t len, int depth, int *oomp);

static int backtick(parser_t *p, int depth, sbuf_t *b, unsigned *flags)
{
    sbuf_t inner = {0};
    p->pos++;
    *flags |= HOST_SH_W_DYNAMIC;
    while (p->pos < p->len) {
        char c = p->s[p->pos++];
        if (c == '`') {
            int o = 0;
            int rc = split_nested(p->out, inner.p != NULL ? inner.p : "", inner.n, depth + 1, &o);
            free(inner.p);
            if (o)
                return oom(p);
            if (rc != 0)
                return -1;
            return sb_putn(p, b, "`...`", 5);
        }
        if (c == '\\' && p->pos < p->len &&
            (p->s[p->pos] == '`' || p->s[p->pos] == '\\' || p->s[p->pos] == '$'))
            c = p->s[p->pos++];
        if (sb_put(p, &inner, c) != 0) {
            free(inner.p);
            return -1;
        }
    }
    free(inner.p);
    return fail(p, "an unterminated backquote");
}

static int double_quoted(parser_t *p, int depth, sbuf_t *b, unsigned *flags)
{
    p->pos++;
    *flags |= HOST_SH_W_QUOTED;
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return 0;
        }
        if (c == '\\' && p->pos + 1 < p->len && strchr("$`\"\\\n", p->s[p->pos + 1])) {
            char e = p->s[p->pos + 1];
            p->pos += 2;
            if (e != '\n' && sb_put(p, b, e) != 0)
                return -1;
            continue;
        }
        int rc;
        if (c == '$')
            rc = expand(p, depth, b, flags);
        else if (c == '`')
            rc = backtick(p, depth, b, flags);
        else {
            rc = sb_put(p, b, c);
            p->pos++;
        }
        if (rc != 0)
            return -1;
    }
    return fail(p, "an unterminated double quote");
}

/* Reads one word at pos (the caller saw it does not start with a
 * metacharacter, or that it is a process substitution). */
static int read_word(parser_t *p, int depth, sbuf_t *b, unsigned *flags)
{
    int brace_open = 0;
    char prev = 0;
    while (p->pos < p->len) {
        int c = peek(p, 0);
        int rc = 0;
        if ((c == '<' || c == '>') && peek(p, 1) == '(') {
            p->pos += 2;
            *flags |= HOST_SH_W_DYNAMIC;
            if (sb_putn(p, b, c == '<' ? "<(...)" : ">(...)", 6) != 0)
                return -1;
            rc = parse_seq(p, depth + 1, 1);
        } else if (is_meta(c)) {
            break;
        } else if (c == '\\') {
            if (p->pos + 1 >= p->len) {
                p->pos++;
                rc = sb_put(p, b, '\\');
            } else {
                char e = p->s[p->pos + 1];
                p->pos += 2;
                if (e != '\n') {
                    *flags |= HOST_SH_W_QUOTED;
                    rc = sb_put(p, b, e);
                }
            }
        } else if (c == '\'') {
            const char *end = memchr(p->s + p->pos + 1, '\'', p->len - p->pos - 1);
            if (end == NULL)
                return fail(p, "an unterminated single quote");
            *flags |= HOST_SH_W_QUOTED;
            rc = sb_putn(p, b, p->s + p->pos + 1, (size_t)(end - (p->s + p->pos + 1)));
            p->pos = (size_t)(end - p->s) + 1;
        } else if (c == '"') {
            rc = double_quoted(p, depth, b, flags);
        } else if (c == '$' && peek(p, 1) == '\'') {
            rc = ansi_c(p, b, flags);
        } else if (c == '$' && peek(p, 1) == '"') {
            p->pos++;
            rc = double_quoted(p, depth, b, flags);
        } else if (c == '$') {
            rc = expand(p, depth, b, flags);
        } else if (c == '`') {
            rc = backtick(p, depth, b, flags);
        } else {
            if (c == '*' || c == '?' || c == '[')
                *flags |= HOST_SH_W_GLOB;
            if (c == '{')
                brace_open = 1;
            else if (brace_open && (c == ',' || (c == '.' && prev == '.')))
                *flags |= HOST_SH_W_DYNAMIC; /* brace expansion */
            prev = (char)c;
            p->pos++;
            rc = sb_put(p, b, (char)c);
            continue;
        }
        prev = 0;
        if (rc != 0)
            return -1;
    }
    return 0;
}

static void skip_blanks(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t')
            p->pos++;
        else if (c == '\\' && p->pos + 1 < p->len && p->s[p->pos + 1] == '\n')
            p->pos += 2;
        else
            break;
    }
}

static int all_digits(const char *s, int allow_dash)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!(*s >= '0' && *s <= '9') && !(allow_dash && *s == '-' && s[1] == '\0'))
            return 0;
    return 1;
}

static int redirection(parser_t *p, int depth, host_sh_cmd_t *cur)
{
    host_sh_redir_op_t op;
    int dup_or_write = 0, dup_read = 0, strip = 0;
    int c = peek(p, 0);
    if (c == '&') {
        p->pos += peek(p, 2) == '>' ? 3 : 2;
        op = HOST_SH_R_WRITE;
    } else if (c == '<') {
        if (peek(p, 1) == '<' && peek(p, 2) == '<') {
            p->pos += 3;
            op = HOST_SH_R_HERESTRING;
        } else if (peek(p, 1) == '<') {
            strip = peek(p, 2) == '-';
            p->pos += strip ? 3 : 2;
            op = HOST_SH_R_HEREDOC;
        } else if (peek(p, 1) == '&') {
            p->pos += 2;
            op = HOST_SH_R_DUP;
            dup_read = 1;
        } else if (peek(p, 1) == '>') {
            p->pos += 2;
            op = HOST_SH_R_WRITE;
        } else {
            p->pos++;
            op = HOST_SH_R_READ;
        }
    } else {
        if (peek(p, 1) == '>' || peek(p, 1) == '|') {
            p->pos += 2;
            op = HOST_SH_R_WRITE;
        } else if (peek(p, 1) == '&') {
            p->pos += 2;
            op = HOST_SH_R_DUP;
            dup_or_write = 1;
        } else {
            p->pos++;
            op = HOST_SH_R_WRITE;
        }
    }
    skip_blanks(p);
    c = peek(p, 0);
    if (c < 0 || (is_meta(c) && !((c == '<' || c == '>') && peek(p, 1) == '(')))
        return fail(p, "a redirection without a target");
    sbuf_t b = {0};
    unsigned flags = 0;
    if (read_word(p, depth, &b, &flags) != 0) {
        free(b.p);
        return -1;
    }
    if (b.p == NULL && sb_putn(p, &b, "", 0) != 0)
        return -1;
    if (op == HOST_SH_R_DUP && !all_digits(b.p, 1))
        op = dup_or_write ? HOST_SH_R_WRITE : (dup_read ? HOST_SH_R_READ : op);
    if (op == HOST_SH_R_HEREDOC) {
        if (p->npending == MAX_HEREDOCS) {
            free(b.p);
            return fail(p, "too many here-documents");
        }
        char *d = strdup(b.p);
        if (d == NULL) {
            free(b.p);
            return oom(p);
        }
        p->pending[p->npending].delim = d;
        p->pending[p->npending].strip_tabs = strip;
        p->pending[p->npending].quoted = (flags & HOST_SH_W_QUOTED) != 0;
        p->npending++;
    }
    return add_redir(p, cur, op, &b, flags);
}

static int read_heredocs(parser_t *p)
{
    for (size_t i = 0; i < p->npending; i++) {
        heredoc_t *h = &p->pending[i];
        int found = 0;
        while (p->pos < p->len && !found) {
            const char *line = p->s + p->pos;
            const char *nl = memchr(line, '\n', p->len - p->pos);
            size_t n = nl != NULL ? (size_t)(nl - line) : p->len - p->pos;
            p->pos += n + (nl != NULL);
            const char *l = line;
            size_t ln = n;
            while (h->strip_tabs && ln > 0 && *l == '\t') {
                l++;
                ln--;
            }
            if (ln == strlen(h->delim) && memcmp(l, h->delim, ln) == 0)
                found = 1;
            else if (!h->quoted && (memmem(l, ln, "$(", 2) != NULL || memchr(l, '`', ln) != NULL))
                return fail(p, "a substitution inside a here-document");
        }
        if (!found)
            return fail(p, "a here-document without its end");
    }
    for (size_t i = 0; i < p->npending; i++)
        free(p->pending[i].delim);
    p->npending = 0;
    return 0;
}

static int parse_seq(parser_t *p, int depth, int in_paren)
{
    if (depth > HOST_SH_MAX_DEPTH)
        return fail(p, "nested deeper than agentd reads");
    host_sh_cmd_t cur = {0};
    cur.depth = depth;
    int rc = 0;
    for (;;) {
        skip_blanks(p);
        int c = peek(p, 0);
        if (c < 0) {
            if (in_paren)
                rc = fail(p, "an unterminated ( or $(");
            break;
        }
        if (c == ')') {
            if (!in_paren) {
                rc = fail(p, "an unbalanced )");
                break;
            }
            p->pos++;
            break;
        }
        if (c == '#') {
            /* here a # always starts a word: a comment to the end of line */
            while (p->pos < p->len && p->s[p->pos] != '\n')
                p->pos++;
            continue;
        }
        if (c == '\n') {
            p->pos++;
            if ((rc = finish(p, &cur, depth)) != 0 || (rc = read_heredocs(p)) != 0)
                break;
            continue;
        }
        if (c == ';') {
            if (peek(p, 1) == ';' || peek(p, 1) == '&') {
                rc = fail(p, "a case statement");
                break;
            }
            p->pos++;
            if ((rc = finish(p, &cur, depth)) != 0)
                break;
            continue;
        }
        if (c == '&' && peek(p, 1) == '>') {
            if ((rc = redirection(p, depth, &cur)) != 0)
                break;
            continue;
        }
        if (c == '&' || c == '|') {
            p->pos += (peek(p, 1) == c || (c == '|' && peek(p, 1) == '&')) ? 2 : 1;
            if ((rc = finish(p, &cur, depth)) != 0)
                break;
            continue;
        }
        if (c == '(') {
            if (peek(p, 1) == '(') {
                rc = fail(p, "an arithmetic command (( ))");
                break;
            }
            if (cur.nwords != 0 || cur.nredirs != 0) {
                rc = fail(p, "a function definition or a ( inside a command");
                break;
            }
            p->pos++;
            if ((rc = parse_seq(p, depth + 1, 1)) != 0)
                break;
            continue;
        }
        if ((c == '<' || c == '>') && peek(p, 1) != '(') {
            if ((rc = redirection(p, depth, &cur)) != 0)
                break;
            continue;
        }
        /* a file descriptor number right before < or > */
        if (c >= '0' && c <= '9') {
            size_t k = 0;
            while (peek(p, k) >= '0' && peek(p, k) <= '9')
                k++;
            int n = peek(p, k);
            if ((n == '<' || n == '>') && peek(p, k + 1) != '(') {
                p->pos += k;
                if ((rc = redirection(p, depth, &cur)) != 0)
                    break;
                continue;
            }
        }
        sbuf_t b = {0};
        unsigned flags = 0;
        if ((rc = read_word(p, depth, &b, &flags)) != 0) {
            free(b.p);
            break;
        }
        if (b.p == NULL && flags == 0) {
            /* nothing read: an unexpected character; should not happen */
            rc = fail(p, "an unexpected character");
            break;
        }
        if ((rc = add_word(p, &cur, &b, flags)) != 0)
            break;
    }
    /* keep what was read, so deny rules still see it */
    int rc2 = finish(p, &cur, depth);
    cmd_clear(&cur);
    return rc != 0 ? rc : rc2;
}

static int split_nested(host_sh_list_t *out, const char *src, size_t len, int depth, int *oomp)
{
    parser_t p = {0};
    p.s = src;
    p.len = len;
    p.out = out;
    if (len > HOST_SH_MAX_LEN)
        return fail(&p, "longer than agentd reads in one command");
    if (memchr(src, '\0', len) != NULL)
        return fail(&p, "a NUL byte");
    int rc = parse_seq(&p, depth, 0);
    if (rc == 0 && p.npending > 0)
        rc = fail(&p, "a here-document without its end");
    for (size_t i = 0; i < p.npending; i++)
        free(p.pending[i].delim);
    if (p.oom)
        *oomp = 1;
    return rc;
}

int host_sh_split(const char *src, size_t len, int depth, host_sh_list_t *out)
{
    int o = 0;
    if (src == NULL) {
        out->unknown = 1;
        snprintf(out->why, sizeof out->why, "no command");
        return 0;
    }
    split_nested(out, src, len, depth, &o);
    return o ? AGENTD_ENOMEM : 0;
}

void host_sh_list_free(host_sh_list_t *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        cmd_clear(&list->cmds[i]);
    free(list->cmds);
    memset(list, 0, sizeof *list);
}
