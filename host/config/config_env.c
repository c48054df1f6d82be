/*
 * ${ENV_VAR} substitution in the string values of the document (never in
 * keys), done once, right after parsing:
 *
 *   ${NAME}         the environment variable NAME (letters, digits, _; not
 *                   starting with a digit); unset is an error
 *   $${             a literal ${ (so "$${HOME}" stays "${HOME}")
 *   ${secret:NAME}  not an environment reference: left as it is, for the
 *                   secrets store to resolve at the moment of use
 *
 * One pass: what a variable expands to is not scanned again. A value that
 * came from the environment is marked on its position node, and no
 * diagnostic ever quotes it (it may be a secret).
 */
#include "config/config_internal.h"

#include <stdlib.h>
#include <string.h>

#define SECRET_PREFIX "${secret:"
#define SECRET_KIND "secret:"

int cfg_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (b >= 0xC2 && b <= 0xDF) {
            n = 2;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 3;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 4;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (len - i < n)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n;
    }
    return 1;
}

static int secret_name_char(unsigned char ch)
{
    return ch > 0x20 && ch != 0x7f && ch != '{' && ch != '}' && ch != '$';
}

int cfg_is_secret_ref(const char *s, size_t len)
{
    size_t p = sizeof SECRET_PREFIX - 1;
    if (s == NULL || len < p + 2 || memcmp(s, SECRET_PREFIX, p) != 0 || s[len - 1] != '}')
        return 0;
    for (size_t i = p; i < len - 1; i++)
        if (!secret_name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

static int env_name_valid(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

static void subst_string(json_t *str, cfg_node_t *node, const cfg_path_t *path, cfg_ctx_t *c)
{
    const char *s = json_string_value(str);
    size_t n = json_string_length(str);
    if (s == NULL || memchr(s, '$', n) == NULL)
        return;

    cfg_buf_t out = {0};
    cfg_buf_add(&out, "", 0);
    int changed = 0, inserted = 0, bad = 0;
    size_t i = 0;
    while (i < n) {
        const char *dollar = memchr(s + i, '$', n - i);
        if (dollar == NULL) {
            cfg_buf_add(&out, s + i, n - i);
            break;
        }
        size_t d = (size_t)(dollar - s);
        cfg_buf_add(&out, s + i, d - i);
        i = d;
        if (n - i >= 3 && s[i + 1] == '$' && s[i + 2] == '{') {
            cfg_buf_add(&out, "${", 2);
            i += 3;
            changed = 1;
            continue;
        }
        if (n - i < 2 || s[i + 1] != '{') {
            cfg_buf_add(&out, "$", 1);
            i++;
            continue;
        }
        const char *close = memchr(s + i + 2, '}', n - i - 2);
        if (close == NULL) {
            cfg_report(c, node, 0, path,
                       "unterminated ${ in a string: write ${NAME} for an environment "
                       "variable, or $${ for a literal ${");
            bad = 1;
            break;
        }
        size_t name_at = i + 2, name_len = (size_t)(close - (s + name_at));
        const char *name = s + name_at;
        size_t end = (size_t)(close - s) + 1;
        if (name_len >= sizeof SECRET_KIND - 1 &&
            memcmp(name, SECRET_KIND, sizeof SECRET_KIND - 1) == 0) {
            /* ${secret:NAME}: resolved later, by the secrets store. */
            cfg_buf_add(&out, s + i, end - i);
            i = end;
            continue;
        }
        char q[96];
        if (!env_name_valid(name, name_len)) {
            cfg_report(c, node, 0, path,
                       "invalid environment variable reference %s: a name is letters, "
                       "digits and _, not starting with a digit (write $${ for a literal ${)",
                       cfg_quote(q, sizeof q, s + i, end - i, 48));
            bad = 1;
            i = end;
            continue;
        }
        char *cname = malloc(name_len + 1);
        if (cname == NULL) {
            c->oom = 1;
            bad = 1;
            break;
        }
        memcpy(cname, name, name_len);
        cname[name_len] = '\0';
        const char *val = getenv(cname);
        if (val == NULL) {
            cfg_report(c, node, 0, path,
                       "environment variable %s is not set (referenced as ${%s})", cname, cname);
            bad = 1;
        } else if (!cfg_utf8_valid(val, strlen(val))) {
            cfg_report(c, node, 0, path, "environment variable %s is not valid UTF-8", cname);
            bad = 1;
        } else {
            cfg_buf_add(&out, val, strlen(val));
            changed = inserted = 1;
        }
        free(cname);
        i = end;
    }
    if (out.failed) {
        c->oom = 1;
        bad = 1;
    }
    if (bad) {
        if (node != NULL)
            node->flags |= CFG_NODE_BAD;
    } else if (changed) {
        if (json_string_setn_nocheck(str, out.data, out.len) != 0)
            c->oom = 1;
        else if (inserted && node != NULL)
            node->flags |= CFG_NODE_SUBSTITUTED;
    }
    /* The buffer may hold a secret: wipe it before it goes back. */
    if (out.data != NULL)
        memset(out.data, 0, out.cap);
    cfg_buf_free(&out);
}

void cfg_env_substitute(json_t *v, cfg_node_t *node, const cfg_path_t *path, int depth,
                        cfg_ctx_t *c)
{
    if (v == NULL || depth > CFG_MAX_DEPTH + 1)
        return;
    if (json_is_string(v)) {
        subst_string(v, node, path, c);
    } else if (json_is_object(v)) {
        cfg_iter_t it;
        cfg_member_t m;
        cfg_iter_init(&it, v, node, 1);
        while (cfg_iter_next(&it, &m)) {
            cfg_path_t p = {path, m.key, m.key_len, 0};
            cfg_env_substitute(m.value, m.node, &p, depth + 1, c);
        }
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            cfg_path_t p = {path, NULL, 0, i};
            cfg_env_substitute(json_array_get(v, i), cfg_node_element(node, i), &p,
                               depth + 1, c);
        }
    }
}
