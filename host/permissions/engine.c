#include "permissions/engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agentd/abi.h>

#include "permissions/engine_internal.h"
#include "permissions/shell_words.h"

#define PATH_MAX_LEN 4096u
#define DYN_WORD "\x01" /* stands for a computed word: no rule word equals it */

const char *host_perm_decision_name(host_perm_decision_t d)
{
    return d == HOST_PERM_ALLOW ? "allow" : d == HOST_PERM_ASK ? "ask" : "deny";
}

/* ---- policy ------------------------------------------------------------------ */

static void list_free(host_perm_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        host_rule_free(&l->rules[i]);
    free(l->rules);
    l->rules = NULL;
    l->n = 0;
}

void host_perm_policy_free(host_perm_policy_t *p)
{
    if (p == NULL)
        return;
    list_free(&p->allow);
    list_free(&p->ask);
    list_free(&p->deny);
}

static int add_rules(host_perm_list_t *l, json_t *arr, const char *field, char *why,
                     size_t whylen)
{
    if (arr == NULL || json_is_null(arr))
        return 0;
    if (!json_is_array(arr)) {
        snprintf(why, whylen, "%s: expected an array of rules", field);
        return AGENTD_EINVAL;
    }
    size_t add = json_array_size(arr);
    if (l->n + add > HOST_PERM_MAX_RULES) {
        snprintf(why, whylen, "%s: more than %u rules", field, HOST_PERM_MAX_RULES);
        return AGENTD_EINVAL;
    }
    if (add == 0)
        return 0;
    host_rule_t *r = realloc(l->rules, (l->n + add) * sizeof *r);
    if (r == NULL) {
        snprintf(why, whylen, "out of memory");
        return AGENTD_ENOMEM;
    }
    l->rules = r;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        char msg[160] = "not a string";
        int rc = json_is_string(v) ? host_rule_parse(json_string_value(v), json_string_length(v),
                                                     &l->rules[l->n], msg, sizeof msg)
                                   : AGENTD_EINVAL;
        if (rc != 0) {
            snprintf(why, whylen, "%s[%zu]: %s", field, i, msg);
            return rc;
        }
        l->n++;
    }
    return 0;
}

static int check_list_keys(json_t *obj, const char *where, const char *const *keys,
                           const char *names, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int known = 0;
        for (size_t i = 0; keys[i] != NULL; i++)
            known |= strcmp(keys[i], k) == 0;
        if (!known) {
            snprintf(why, whylen, "%s.%s: not a permissions setting (%s)", where, k, names);
            return AGENTD_EINVAL;
        }
    }
    return 0;
}

static int enum_value(json_t *v, const char *field, const char *a, const char *b, int *out,
                      char *why, size_t whylen)
{
    const char *s = json_string_value(v);
    if (s != NULL && strcmp(s, a) == 0)
        *out = 0;
    else if (s != NULL && strcmp(s, b) == 0)
        *out = 1;
    else {
        snprintf(why, whylen, "%s: \"%s\" or \"%s\"", field, a, b);
        return AGENTD_EINVAL;
    }
    return 0;
}

/* One layer's "permissions" object: mode and phase (when set), then its
 * allow/ask/deny lists, then those of the phase in force (plan or execute). */
static int layer_scalars(host_perm_policy_t *out, json_t *perm, const char *where, char *why,
                         size_t whylen)
{
    static const char *const keys[] = {"mode", "phase", "allow", "ask", "deny", "plan",
                                       "execute", "approval_timeout_s", NULL};
    if (perm == NULL || json_is_null(perm))
        return 0;
    if (!json_is_object(perm)) {
        snprintf(why, whylen, "%s: expected an object", where);
        return AGENTD_EINVAL;
    }
    int rc = check_list_keys(perm, where, keys,
                             "mode, phase, allow, ask, deny, plan, execute, approval_timeout_s",
                             why, whylen);
    char field[64];
    json_t *v = json_object_get(perm, "mode");
    int x;
    if (rc == 0 && v != NULL) {
        snprintf(field, sizeof field, "%s.mode", where);
        if ((rc = enum_value(v, field, "allowlist", "denylist", &x, why, whylen)) == 0)
            out->mode = x ? HOST_PERM_DENYLIST : HOST_PERM_ALLOWLIST;
    }
    v = json_object_get(perm, "phase");
    if (rc == 0 && v != NULL) {
        snprintf(field, sizeof field, "%s.phase", where);
        if ((rc = enum_value(v, field, "execute", "plan", &x, why, whylen)) == 0)
            out->phase = x ? HOST_PERM_PLAN : HOST_PERM_EXECUTE;
    }
    v = json_object_get(perm, "approval_timeout_s");
    if (rc == 0 && v != NULL &&
        (!json_is_integer(v) || json_integer_value(v) < 1 ||
         json_integer_value(v) > HOST_PERM_MAX_APPROVAL_S)) {
        snprintf(why, whylen, "%s.approval_timeout_s: an integer from 1 to %u", where,
                 HOST_PERM_MAX_APPROVAL_S);
        rc = AGENTD_EINVAL;
    }
    return rc;
}

static int add_three(host_perm_policy_t *out, json_t *obj, const char *base, char *why,
                     size_t whylen)
{
    char f[64];
    snprintf(f, sizeof f, "%s.allow", base);
    int rc = add_rules(&out->allow, json_object_get(obj, "allow"), f, why, whylen);
    snprintf(f, sizeof f, "%s.ask", base);
    if (rc == 0)
        rc = add_rules(&out->ask, json_object_get(obj, "ask"), f, why, whylen);
    snprintf(f, sizeof f, "%s.deny", base);
    if (rc == 0)
        rc = add_rules(&out->deny, json_object_get(obj, "deny"), f, why, whylen);
    return rc;
}

static int layer_lists(host_perm_policy_t *out, json_t *perm, const char *where, char *why,
                       size_t whylen)
{
    static const char *const list_keys[] = {"allow", "ask", "deny", NULL};
    static const char *const phases[] = {"execute", "plan"};
    if (perm == NULL || !json_is_object(perm))
        return 0;
    int rc = add_three(out, perm, where, why, whylen);
    for (int ph = 0; rc == 0 && ph < 2; ph++) {
        json_t *o = json_object_get(perm, phases[ph]);
        char f[48];
        snprintf(f, sizeof f, "%s.%s", where, phases[ph]);
        if (o == NULL || json_is_null(o))
            continue;
        if (!json_is_object(o)) {
            snprintf(why, whylen, "%s: expected an object {allow, ask, deny}", f);
            return AGENTD_EINVAL;
        }
        rc = check_list_keys(o, f, list_keys, "allow, ask, deny", why, whylen);
        if (rc != 0)
            break;
        if ((ph == 1) == (out->phase == HOST_PERM_PLAN)) {
            rc = add_three(out, o, f, why, whylen);
        } else {
            /* The other phase's rules only checked, so a bad one is found
             * when the session is created, not when its phase changes. */
            host_perm_policy_t scratch = {0};
            rc = add_three(&scratch, o, f, why, whylen);
            host_perm_policy_free(&scratch);
        }
    }
    return rc;
}

int host_perm_policy_build(json_t *defaults, json_t *st, host_perm_policy_t *out, char *why,
                           size_t whylen)
{
    memset(out, 0, sizeof *out);
    json_t *perm = json_object_get(st, "permissions");
    const char *def = json_string_value(json_object_get(st, "permission_default"));
    int rc = layer_scalars(out, defaults, "config permissions", why, whylen);
    if (rc == 0 && def != NULL && strcmp(def, "allow") == 0)
        out->mode = HOST_PERM_DENYLIST;
    if (rc == 0)
        rc = layer_scalars(out, perm, "permissions", why, whylen);
    /* The agent's permission mode "plan" is the plan phase, whatever the
     * rules' phase says. */
    const char *pm = json_string_value(json_object_get(st, "permission_mode"));
    if (rc == 0 && pm != NULL && strcmp(pm, "plan") == 0)
        out->phase = HOST_PERM_PLAN;
    if (rc == 0)
        rc = layer_lists(out, defaults, "config permissions", why, whylen);
    if (rc == 0)
        rc = layer_lists(out, perm, "permissions", why, whylen);
    if (rc == 0)
        rc = add_rules(&out->allow, json_object_get(st, "allowed_tools"), "allowed_tools", why,
                       whylen);
    if (rc == 0)
        rc = add_rules(&out->deny, json_object_get(st, "disallowed_tools"), "disallowed_tools",
                       why, whylen);
    if (rc != 0)
        host_perm_policy_free(out);
    return rc;
}

int host_perm_policy_from_settings(json_t *st, host_perm_policy_t *out, char *why, size_t whylen)
{
    return host_perm_policy_build(NULL, st, out, why, whylen);
}

static int append_strings(json_t *dst, json_t *src)
{
    size_t i;
    json_t *v;
    json_array_foreach(src, i, v)
        if (json_is_string(v) && json_array_append(dst, v) != 0)
            return AGENTD_ENOMEM;
    return 0;
}

static int layer_strings(json_t *dst, json_t *perm, const char *list, host_perm_phase_t phase)
{
    if (!json_is_object(perm))
        return 0;
    int rc = append_strings(dst, json_object_get(perm, list));
    json_t *ph = json_object_get(perm, phase == HOST_PERM_PLAN ? "plan" : "execute");
    return rc == 0 ? append_strings(dst, json_object_get(ph, list)) : rc;
}

json_t *host_perm_agent_settings(json_t *defaults, json_t *st)
{
    host_perm_policy_t pol;
    char why[256];
    if (host_perm_policy_build(defaults, st, &pol, why, sizeof why) != 0)
        return NULL;
    host_perm_phase_t phase = pol.phase;
    host_perm_policy_free(&pol);
    /* Deny rules go to the CLI as ask rules too: it then asks agentd,
     * which denies, and the decision is recorded like every other. */
    json_t *ask = json_array();
    json_t *perm = json_object_get(st, "permissions");
    int rc = ask != NULL ? 0 : AGENTD_ENOMEM;
    if (rc == 0)
        rc = layer_strings(ask, defaults, "deny", phase);
    if (rc == 0)
        rc = layer_strings(ask, perm, "deny", phase);
    if (rc == 0)
        rc = append_strings(ask, json_object_get(st, "disallowed_tools"));
    if (rc == 0)
        rc = layer_strings(ask, defaults, "ask", phase);
    if (rc == 0)
        rc = layer_strings(ask, perm, "ask", phase);
    if (rc != 0) {
        json_decref(ask);
        return NULL;
    }
    return json_pack("{s:{s:o}}", "permissions", "ask", ask);
}

unsigned host_perm_approval_timeout_s(json_t *defaults, json_t *st, unsigned fallback)
{
    json_t *v = json_object_get(json_object_get(st, "permissions"), "approval_timeout_s");
    if (!json_is_integer(v))
        v = json_object_get(defaults, "approval_timeout_s");
    return json_is_integer(v) ? (unsigned)json_integer_value(v) : fallback;
}

/* ---- paths ------------------------------------------------------------------- */

/* Lexically normalizes path (relative to ws unless absolute or ~) into out.
 * Returns 0, or -1 when it does not fit. */
static int norm_path(const char *ws, const char *path, char *out, size_t outlen)
{
    char tmp[PATH_MAX_LEN * 2 + 2];
    if (path[0] == '/' || path[0] == '~' || ws == NULL)
        snprintf(tmp, sizeof tmp, "%s", path);
    else
        snprintf(tmp, sizeof tmp, "%s/%s", ws, path);
    if (strlen(tmp) >= PATH_MAX_LEN)
        return -1;
    size_t o = 0;
    int absolute = tmp[0] == '/';
    if (absolute)
        out[o++] = '/';
    char *save = NULL;
    for (char *c = strtok_r(tmp, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            if (o > (size_t)absolute) {
                while (o > (size_t)absolute && out[o - 1] != '/')
                    o--;
                if (o > (size_t)absolute)
                    o--;
                continue;
            }
            if (absolute)
                continue; /* /.. is / */
        }
        size_t n = strlen(c);
        if (o + n + 2 >= outlen)
            return -1;
        if (o > (size_t)absolute)
            out[o++] = '/';
        memcpy(out + o, c, n);
        o += n;
    }
    out[o] = '\0';
    if (o == 0) {
        out[0] = '.';
        out[1] = '\0';
    }
    return 0;
}

/* The path relative to the workspace, or NULL outside it. */
static const char *rel_in(const char *ws, const char *abs)
{
    if (ws == NULL)
        return NULL;
    size_t n = strlen(ws);
    if (strcmp(abs, ws) == 0)
        return ".";
    if (n == 1 && ws[0] == '/')
        return abs[0] == '/' && abs[1] != '\0' ? abs + 1 : NULL;
    if (strncmp(abs, ws, n) == 0 && abs[n] == '/')
        return abs + n + 1;
    return NULL;
}

/* .git/ anywhere, .claude/ anywhere, a .mcp.json file. */
static int protected_path(const char *norm)
{
    const char *p = norm;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if ((n == 4 && memcmp(p, ".git", 4) == 0) || (n == 7 && memcmp(p, ".claude", 7) == 0))
            return 1;
        if (e == NULL && n == 9 && memcmp(p, ".mcp.json", 9) == 0)
            return 1;
        p += n;
    }
    return 0;
}

/* ---- evaluation state --------------------------------------------------------- */

typedef struct ev {
    const host_perm_policy_t *p;
    const char *ws;
    host_perm_result_t *res;
    int noted;
    int oom;
    int cd;             /* the command changes directory: relative paths are
                         * not known to be where they seem */
    unsigned parts;
} ev_t;

static void note(ev_t *e, host_perm_decision_t d, const char *rule, const char *by,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void note(ev_t *e, host_perm_decision_t d, const char *rule, const char *by,
                 const char *fmt, ...)
{
    host_perm_result_t *r = e->res;
    if (e->noted && d == HOST_PERM_ALLOW && r->decision == HOST_PERM_ALLOW) {
        /* every allowing rule, for the record */
        if (rule != NULL && strstr(r->rule, rule) == NULL &&
            strlen(r->rule) + strlen(rule) + 3 < sizeof r->rule) {
            if (r->rule[0] != '\0')
                strcat(r->rule, ", ");
            strcat(r->rule, rule);
        }
        return;
    }
    if (e->noted && d >= r->decision)
        return;
    e->noted = 1;
    r->decision = d;
    r->by = by;
    snprintf(r->rule, sizeof r->rule, "%s", rule != NULL ? rule : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
}

/* ---- Bash ------------------------------------------------------------------- */

static int in(const char *s, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static const char *base_name(const char *s)
{
    const char *b = strrchr(s, '/');
    return b != NULL && b[1] != '\0' ? b + 1 : s;
}

static int is_assignment(const host_sh_word_t *w, char *name, size_t namelen)
{
    const char *t = w->text;
    if (!((t[0] >= 'A' && t[0] <= 'Z') || (t[0] >= 'a' && t[0] <= 'z') || t[0] == '_'))
        return 0;
    size_t i = 1;
    while ((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') || t[i] == '_' ||
           (t[i] >= '0' && t[i] <= '9'))
        i++;
    if (t[i] == '+' && t[i + 1] == '=')
        i++;
    if (t[i] != '=')
        return 0;
    snprintf(name, namelen, "%.*s", (int)(t[i - 1] == '+' ? i - 1 : i), t);
    return 1;
}

static int dangerous_var(const char *name)
{
    static const char *const names[] = {
        "PATH", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "IFS", "PS4", "PROMPT_COMMAND",
        "NODE_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PERL5OPT", "PERL5LIB", "RUBYOPT",
        "CDPATH", "HOME", NULL};
    return in(name, names) || strncmp(name, "LD_", 3) == 0 || strncmp(name, "DYLD_", 5) == 0 ||
           strncmp(name, "GIT_", 4) == 0 || strncmp(name, "BASH_FUNC_", 10) == 0;
}

typedef struct part {
    const host_sh_word_t *w;
    size_t n;
    int depth;
    host_perm_decision_t floor; /* ASK when a wrapper makes it unapprovable by prefix */
    char floor_why[160];
    int writes;                 /* writes a file through a redirection */
} part_t;

static void eval_bash(ev_t *e, const char *cmd, size_t len, int depth, const part_t *outer);
static void eval_part(ev_t *e, part_t *pt);

static const char *word_text(const host_sh_word_t *w)
{
    return (w->flags & HOST_SH_W_DYNAMIC) ? DYN_WORD : w->text;
}

/* Matches a list's Bash rules against the words; views: the words as
 * written, and with the command's directory dropped (/bin/rm -> rm), the
 * latter only for deny and ask. */
static const host_rule_t *match_list(const host_perm_list_t *l, const char **v, size_t n,
                                     int with_base)
{
    const char *first = v[0];
    for (size_t i = 0; i < l->n; i++) {
        const host_rule_t *r = &l->rules[i];
        if (!host_rule_names_tool(r, "Bash"))
            continue;
        if (host_rule_match_words(r, v, n))
            return r;
        if (with_base) {
            v[0] = base_name(first);
            int m = host_rule_match_words(r, v, n);
            v[0] = first;
            if (m)
                return r;
        }
    }
    return NULL;
}

static void sub_part(ev_t *e, const part_t *pt, size_t from, host_perm_decision_t floor,
                     const char *why)
{
    part_t in_pt = *pt;
    in_pt.w = pt->w + from;
    in_pt.n = pt->n - from;
    if (floor < in_pt.floor) {
        in_pt.floor = floor;
        snprintf(in_pt.floor_why, sizeof in_pt.floor_why, "%s", why);
    }
    eval_part(e, &in_pt);
}

/* Evaluates the words from `from` joined by spaces as a shell string. */
static void eval_joined(ev_t *e, const part_t *pt, size_t from, const char *what)
{
    size_t len = 0;
    for (size_t k = from; k < pt->n; k++) {
        if (pt->w[k].flags & HOST_SH_W_DYNAMIC) {
            note(e, HOST_PERM_ASK, NULL, "limit", "%s runs a computed command", what);
            return;
        }
        len += strlen(pt->w[k].text) + 1;
    }
    if (len > HOST_SH_MAX_LEN) {
        note(e, HOST_PERM_ASK, NULL, "limit", "%s runs a command longer than agentd reads", what);
        return;
    }
    char *s = malloc(len + 1);
    if (s == NULL) {
        e->oom = 1;
        return;
    }
    s[0] = '\0';
    for (size_t k = from; k < pt->n; k++) {
        if (k > from)
            strcat(s, " ");
        strcat(s, pt->w[k].text);
    }
    eval_bash(e, s, strlen(s), pt->depth + 1, pt);
    free(s);
}

static int is_opt(const host_sh_word_t *w)
{
    return !(w->flags & HOST_SH_W_DYNAMIC) && w->text[0] == '-' && w->text[1] != '\0';
}

/* Wrappers: commands that run the command that follows them. Returns 1 when
 * the part was handled as one. */
static int wrapper(ev_t *e, part_t *pt, const char *base)
{
    const host_sh_word_t *w = pt->w;
    size_t n = pt->n, j = 1;
    static const char *const shells[] = {"bash", "sh", "dash", "zsh", "ksh", "ash", "mksh",
                                          "fish", NULL};
    static const char *const opaque[] = {"setsid", "ionice", "taskset", "flock", "chroot",
                                          "unshare", "nsenter", "strace", "ltrace", "valgrind",
                                          "runuser", "chrt", "caffeinate", "firejail", NULL};
    if (strcmp(base, "env") == 0) {
        char name[128];
        while (j < n) {
            const char *t = w[j].text;
            if (w[j].flags & HOST_SH_W_DYNAMIC) {
                note(e, HOST_PERM_ASK, NULL, "limit", "env with a computed argument");
                return 1;
            }
            if (strcmp(t, "--") == 0) {
                j++;
                break;
            }
            if (strcmp(t, "-S") == 0 || strncmp(t, "-S", 2) == 0 ||
                strncmp(t, "--split-string", 14) == 0) {
                note(e, HOST_PERM_ASK, NULL, "limit", "env -S splits a string into a command");
                return 1;
            }
            if (strcmp(t, "-u") == 0 || strcmp(t, "-C") == 0 || strcmp(t, "--unset") == 0 ||
                strcmp(t, "--chdir") == 0) {
                j += 2;
                continue;
            }
            if (t[0] == '-') {
                j++;
                continue;
            }
            if (is_assignment(&w[j], name, sizeof name)) {
                if (dangerous_var(name) && pt->floor == HOST_PERM_ALLOW) {
                    pt->floor = HOST_PERM_ASK;
                    snprintf(pt->floor_why, sizeof pt->floor_why, "it sets %s", name);
                }
                j++;
                continue;
            }
            break;
        }
        if (j >= n)
            return 0; /* env alone prints the environment */
        sub_part(e, pt, j, HOST_PERM_ALLOW, "");
        return 1;
    }
    if (strcmp(base, "command") == 0 || strcmp(base, "builtin") == 0) {
        while (j < n && is_opt(&w[j])) {
            if (strpbrk(w[j].text, "vV") != NULL)
                return 0; /* a lookup, not a run */
            j++;
        }
        if (j >= n)
            return 0;
        sub_part(e, pt, j, HOST_PERM_ALLOW, "");
        return 1;
    }
    if (strcmp(base, "exec") == 0 || strcmp(base, "nohup") == 0 || strcmp(base, "time") == 0 ||
        strcmp(base, "nice") == 0 || strcmp(base, "timeout") == 0 ||
        strcmp(base, "stdbuf") == 0 || strcmp(base, "busybox") == 0) {
        while (j < n && is_opt(&w[j])) {
            const char *t = w[j].text;
            int takes = (strcmp(base, "exec") == 0 && strcmp(t, "-a") == 0) ||
                        (strcmp(base, "nice") == 0 && strcmp(t, "-n") == 0) ||
                        (strcmp(base, "timeout") == 0 &&
                         (strcmp(t, "-s") == 0 || strcmp(t, "-k") == 0)) ||
                        (strcmp(base, "stdbuf") == 0 && t[2] == '\0');
            j += takes ? 2 : 1;
        }
        if (strcmp(base, "timeout") == 0)
            j++; /* the duration */
        if (j >= n) {
            if (strcmp(base, "time") == 0 || strcmp(base, "exec") == 0)
                return 1; /* runs nothing */
            return 0;
        }
        sub_part(e, pt, j, HOST_PERM_ALLOW, "");
        return 1;
    }
    if (strcmp(base, "sudo") == 0 || strcmp(base, "doas") == 0 || strcmp(base, "xargs") == 0) {
        static const char *const sudo_arg[] = {"-u", "-g", "-C", "-D", "-h", "-p", "-r",
                                               "-t", "-U", "-T", NULL};
        static const char *const xargs_arg[] = {"-a", "-d", "-E", "-I", "-L", "-n", "-P",
                                                "-s", "-e", "-i", "-l", NULL};
        int is_xargs = strcmp(base, "xargs") == 0;
        while (j < n && is_opt(&w[j])) {
            if (strcmp(w[j].text, "--") == 0) {
                j++;
                break;
            }
            j += in(w[j].text, is_xargs ? xargs_arg : sudo_arg) ? 2 : 1;
        }
        if (j >= n) {
            if (is_xargs) {
                /* xargs alone runs echo */
                return 0;
            }
            note(e, HOST_PERM_ASK, NULL, "limit", "%s without a command opens a shell", base);
            return 1;
        }
        sub_part(e, pt, j, HOST_PERM_ASK,
                 is_xargs ? "xargs adds arguments read from its input"
                          : "it runs as another user");
        return 1;
    }
    if (strcmp(base, "eval") == 0) {
        if (n > 1)
            eval_joined(e, pt, 1, "eval");
        return 1;
    }
    if (strcmp(base, "watch") == 0) {
        int exec_form = 0;
        while (j < n && is_opt(&w[j])) {
            const char *t = w[j].text;
            if (strcmp(t, "-x") == 0 || strcmp(t, "--exec") == 0)
                exec_form = 1;
            j += (strcmp(t, "-n") == 0 || strcmp(t, "-d") == 0 || strcmp(t, "-q") == 0) ? 2 : 1;
        }
        if (j >= n)
            return 0;
        if (exec_form)
            sub_part(e, pt, j, HOST_PERM_ALLOW, "");
        else
            eval_joined(e, pt, j, "watch");
        return 1;
    }
    if (in(base, shells)) {
        int has_c = 0;
        while (j < n && (is_opt(&w[j]) || (w[j].text[0] == '+' && w[j].text[1] != '\0'))) {
            const char *t = w[j].text;
            if (strcmp(t, "--") == 0 || strcmp(t, "-") == 0) {
                j++;
                break;
            }
            if (t[1] == '-') {
                j += (strcmp(t, "--rcfile") == 0 || strcmp(t, "--init-file") == 0) ? 2 : 1;
                continue;
            }
            if (strchr(t + 1, 'c') != NULL && t[0] == '-')
                has_c = 1;
            j += strpbrk(t + 1, "oO") != NULL ? 2 : 1;
        }
        if (j > n)
            j = n; /* an option's argument was missing */
        if (!has_c) {
            int script = 0;
            for (size_t k = j; k < n; k++)
                script |= !is_opt(&w[k]);
            for (size_t k = 1; k < j; k++)
                if (strcmp(w[k].text, "-s") == 0 || strcmp(w[k].text, "-i") == 0)
                    script = 0;
            if (script)
                return 0; /* a script: the rules decide */
            note(e, HOST_PERM_ASK, NULL, "limit",
                 "%s reads the commands it runs from its input", base);
            return 1;
        }
        if (j >= n) {
            note(e, HOST_PERM_ASK, NULL, "limit", "%s -c without a command", base);
            return 1;
        }
        if (w[j].flags & HOST_SH_W_DYNAMIC) {
            note(e, HOST_PERM_ASK, NULL, "limit", "%s -c runs a computed command", base);
            return 1;
        }
        eval_bash(e, w[j].text, strlen(w[j].text), pt->depth + 1, pt);
        return 1;
    }
    if (strcmp(base, "su") == 0) {
        for (; j + 1 < n; j++)
            if (strcmp(w[j].text, "-c") == 0 || strcmp(w[j].text, "--command") == 0) {
                part_t q = *pt;
                q.floor = HOST_PERM_ASK;
                snprintf(q.floor_why, sizeof q.floor_why, "it runs as another user");
                if (w[j + 1].flags & HOST_SH_W_DYNAMIC)
                    note(e, HOST_PERM_ASK, NULL, "limit", "su -c runs a computed command");
                else
                    eval_bash(e, w[j + 1].text, strlen(w[j + 1].text), pt->depth + 1, &q);
                return 1;
            }
        note(e, HOST_PERM_ASK, NULL, "limit", "su opens a shell as another user");
        return 1;
    }
    if (in(base, opaque)) {
        /* Their options are not read here: every later word that could be
         * the command is tried (so a denied command is found), and none of
         * it can be approved without a person. */
        size_t tried = 0;
        for (; j < n && tried < 3; j++) {
            if (is_opt(&w[j]))
                continue;
            sub_part(e, pt, j, HOST_PERM_ASK, "its options are not read by agentd");
            tried++;
        }
        if (tried == 0)
            note(e, HOST_PERM_ASK, NULL, "limit", "%s without a command agentd can read", base);
        return 1;
    }
    return 0;
}

static const char *const writers[] = {
    "rm", "rmdir", "mv", "cp", "tee", "touch", "chmod", "chown", "chgrp", "ln", "truncate",
    "dd", "install", "mkdir", "patch", "shred", "unlink", "rsync", "tar", "unzip", "curl",
    "wget", "split", "csplit", NULL};
static const char *const readers[] = {
    "cat", "head", "tail", "less", "more", "ls", "stat", "file", "wc", "grep", "egrep",
    "fgrep", "rg", "diff", "cmp", "tree", "du", "md5sum", "sha1sum", "sha256sum",
    "sha512sum", "readlink", "realpath", "basename", "dirname", "echo", "printf", "test",
    "[", "jq", "nl", "od", "hexdump", "xxd", "strings", NULL};
static const char *const read_only_cmds[] = {
    "ls", "cat", "head", "tail", "wc", "grep", "egrep", "fgrep", "rg", "pwd", "echo",
    "printf", "file", "stat", "du", "df", "diff", "cmp", "which", "whoami", "id", "date",
    "uname", "printenv", "basename", "dirname", "realpath", "readlink", "cut", "tr", "true",
    "false", "test", "[", "nl", "less", "more", "md5sum", "sha1sum", "sha256sum", "jq",
    "tree", "sort", "find", "git", "hostname", "type", "od", "xxd", "strings", "column", NULL};

/* Whether a command (words from the command name) is read-only for the
 * plan phase. */
static int read_only(const char *base, const char *const *v, size_t n, int git_read_only)
{
    if (!in(base, read_only_cmds))
        return 0;
    if (strcmp(base, "git") == 0)
        return git_read_only;
    for (size_t i = 1; i < n; i++) {
        const char *t = v[i];
        if (strcmp(base, "find") == 0 &&
            (strncmp(t, "-exec", 5) == 0 || strncmp(t, "-ok", 3) == 0 ||
             strcmp(t, "-delete") == 0 || strncmp(t, "-fprint", 7) == 0 ||
             strcmp(t, "-fls") == 0))
            return 0;
        if ((strcmp(base, "sort") == 0 || strcmp(base, "tree") == 0) &&
            (strcmp(t, "-o") == 0 || strncmp(t, "--output", 8) == 0 ||
             (strncmp(t, "-o", 2) == 0 && strcmp(base, "sort") == 0)))
            return 0;
    }
    return 1;
}

/* Builtins that change how the shell reads the commands after them (aliases,
 * options, traps, exported functions) ask; exporting a variable that
 * changes what programs run makes the part ask. Returns 1 when handled. */
static int shell_state(ev_t *e, part_t *pt, const char *base)
{
    static const char *const changers[] = {"alias", "shopt", "trap", "enable", "hash", NULL};
    static const char *const declarers[] = {"export", "declare", "typeset", "readonly", "local",
                                            NULL};
    if (pt->w[0].flags & HOST_SH_W_QUOTED)
        return 0;
    if (in(base, changers)) {
        note(e, HOST_PERM_ASK, NULL, "limit", "%s changes how the shell reads later commands",
             base);
        if (strcmp(base, "trap") == 0 && pt->n > 1 && !(pt->w[1].flags & HOST_SH_W_DYNAMIC))
            eval_bash(e, pt->w[1].text, strlen(pt->w[1].text), pt->depth + 1, pt);
        return 1;
    }
    if (!in(base, declarers))
        return 0;
    char name[128];
    for (size_t k = 1; k < pt->n; k++) {
        const host_sh_word_t *a = &pt->w[k];
        if (!(a->flags & HOST_SH_W_DYNAMIC) && a->text[0] == '-' && strchr(a->text, 'f')) {
            note(e, HOST_PERM_ASK, NULL, "limit", "%s -f exports or changes shell functions",
                 base);
            return 1;
        }
        if ((is_assignment(a, name, sizeof name) && dangerous_var(name)) ||
            (!(a->flags & HOST_SH_W_DYNAMIC) && dangerous_var(a->text))) {
            note(e, HOST_PERM_ASK, NULL, "limit", "%s sets %s, which changes what programs run",
                 base, is_assignment(a, name, sizeof name) ? name : a->text);
            return 1;
        }
    }
    return 0;
}

/* Builtins that run no program and write nothing: allowed unless a rule
 * says otherwise. cd, pushd and popd only within the workspace (relative
 * writes after them ask, see eval_bash). */
static int harmless_builtin(const ev_t *e, const host_sh_word_t *w, size_t n)
{
    static const char *const plain[] = {":", "true", "false", "exit", "return", "break",
                                        "continue", "shift", "wait", NULL};
    const char *t = w[0].text;
    if (w[0].flags & HOST_SH_W_QUOTED)
        return 0;
    if (in(t, plain))
        return 1;
    if (strcmp(t, "cd") != 0 && strcmp(t, "pushd") != 0 && strcmp(t, "popd") != 0)
        return 0;
    if (n == 1)
        return strcmp(t, "popd") == 0;
    if (n != 2 || (w[1].flags & HOST_SH_W_DYNAMIC) || e->ws == NULL)
        return 0;
    char norm[PATH_MAX_LEN];
    return norm_path(e->ws, w[1].text, norm, sizeof norm) == 0 && rel_in(e->ws, norm) != NULL &&
           !protected_path(norm);
}

/* find's -exec, -execdir, -ok and -okdir run a command of their own. */
static void find_exec(ev_t *e, const part_t *pt)
{
    for (size_t j = 1; j < pt->n; j++) {
        const char *t = pt->w[j].text;
        if (strcmp(t, "-exec") != 0 && strcmp(t, "-execdir") != 0 && strcmp(t, "-ok") != 0 &&
            strcmp(t, "-okdir") != 0)
            continue;
        size_t k = j + 1;
        while (k < pt->n && strcmp(pt->w[k].text, ";") != 0 && strcmp(pt->w[k].text, "+") != 0)
            k++;
        if (k > j + 1) {
            part_t q = *pt;
            q.w = pt->w + j + 1;
            q.n = k - j - 1;
            eval_part(e, &q);
        } else {
            note(e, HOST_PERM_ASK, NULL, "limit", "find %s without a command", t);
        }
        j = k;
    }
}

static void eval_part(ev_t *e, part_t *pt)
{
    static const char *const keywords[] = {"!", "{", "}", "if", "then", "else", "elif", "fi",
                                           "do", "done", "while", "until", "time", "esac",
                                           NULL};
    static const char *const constructs[] = {"case", "function", "coproc", "select", "[[",
                                             "((", NULL};
    if (e->oom)
        return;
    size_t i = 0;
    const host_sh_word_t *w = pt->w;
    while (i < pt->n && !(w[i].flags & (HOST_SH_W_QUOTED | HOST_SH_W_DYNAMIC)) &&
           in(w[i].text, keywords)) {
        if (strcmp(w[i].text, "time") == 0 && i + 1 < pt->n && strcmp(w[i + 1].text, "-p") == 0)
            i++;
        i++;
    }
    if (i < pt->n && !(w[i].flags & HOST_SH_W_QUOTED) && strcmp(w[i].text, "for") == 0)
        return; /* a loop's header runs nothing itself; its expansions are parts */
    if (i < pt->n && !(w[i].flags & HOST_SH_W_QUOTED) && in(w[i].text, constructs)) {
        note(e, HOST_PERM_ASK, NULL, "limit", "a shell construct (%s) agentd does not read",
             w[i].text);
        return;
    }
    char name[128];
    while (i < pt->n && is_assignment(&w[i], name, sizeof name)) {
        if (dangerous_var(name) && pt->floor == HOST_PERM_ALLOW) {
            pt->floor = HOST_PERM_ASK;
            snprintf(pt->floor_why, sizeof pt->floor_why, "it sets %s", name);
        }
        i++;
    }
    if (i >= pt->n)
        return; /* only assignments: nothing runs */
    pt->w += i;
    pt->n -= i;
    w = pt->w;
    e->parts++;
    if (w[0].flags & HOST_SH_W_DYNAMIC) {
        note(e, HOST_PERM_ASK, NULL, "limit", "the command name (%s) is computed", w[0].text);
        return;
    }
    if (w[0].flags & HOST_SH_W_GLOB) {
        note(e, HOST_PERM_ASK, NULL, "limit", "the command name (%s) is a wildcard", w[0].text);
        return;
    }
    const char **v = malloc(pt->n * sizeof *v);
    if (v == NULL) {
        e->oom = 1;
        return;
    }
    int dynamic_args = 0;
    for (size_t k = 0; k < pt->n; k++) {
        v[k] = word_text(&w[k]);
        if (w[k].flags & HOST_SH_W_DYNAMIC)
            dynamic_args = 1;
    }
    const char *base = base_name(w[0].text);
    const host_perm_policy_t *p = e->p;
    const host_rule_t *r = match_list(&p->deny, v, pt->n, 1);
    if (r != NULL) {
        note(e, HOST_PERM_DENY, r->text, "rule", "denied by the rule %s", r->text);
        free(v);
        return;
    }
    if (shell_state(e, pt, base)) {
        free(v);
        return;
    }
    const host_rule_t *ask = match_list(&p->ask, v, pt->n, 1);
    if (wrapper(e, pt, base)) {
        if (ask != NULL)
            note(e, HOST_PERM_ASK, ask->text, "rule", "the rule %s asks", ask->text);
        free(v);
        return;
    }
    if (strcmp(base, "find") == 0)
        find_exec(e, pt);
    /* system restrictions */
    int git_ro = 0;
    if (strcmp(base, "git") == 0) {
        char why[200];
        const char **gv = malloc(pt->n * sizeof *gv);
        if (gv == NULL) {
            e->oom = 1;
            free(v);
            return;
        }
        for (size_t k = 0; k < pt->n; k++)
            gv[k] = (w[k].flags & HOST_SH_W_DYNAMIC) ? NULL : w[k].text;
        host_perm_decision_t g = host_perm_git_check(gv, pt->n, &git_ro, why, sizeof why);
        free(gv);
        if (g != HOST_PERM_ALLOW) {
            note(e, g, NULL, "system", "%s", why);
            free(v);
            return;
        }
    }
    int writer = in(base, writers) || (strcmp(base, "find") == 0 && pt->n > 1);
    int reader = in(base, readers) || (strcmp(base, "git") == 0 && git_ro);
    if (strcmp(base, "sed") == 0 || strcmp(base, "perl") == 0) {
        writer = 0;
        for (size_t k = 1; k < pt->n; k++)
            if (strncmp(w[k].text, "-i", 2) == 0 || strncmp(w[k].text, "--in-place", 10) == 0 ||
                (strcmp(base, "perl") == 0 && w[k].text[0] == '-' && strchr(w[k].text, 'i')))
                writer = 1;
        reader = !writer && strcmp(base, "sed") == 0;
    }
    if (strcmp(base, "find") == 0) {
        writer = 0;
        reader = 1;
        for (size_t k = 1; k < pt->n; k++)
            if (strcmp(w[k].text, "-delete") == 0 || strncmp(w[k].text, "-exec", 5) == 0 ||
                strncmp(w[k].text, "-ok", 3) == 0 || strncmp(w[k].text, "-fprint", 7) == 0)
                writer = 1, reader = 0;
    }
    for (size_t k = 1; k < pt->n && !reader; k++) {
        if (w[k].flags & HOST_SH_W_DYNAMIC)
            continue;
        const char *t = w[k].text;
        const char *eq = t[0] == '-' ? strchr(t, '=') : NULL;
        if (eq != NULL)
            t = eq + 1;
        char norm[PATH_MAX_LEN];
        if (t[0] == '\0' || norm_path(e->ws, t, norm, sizeof norm) != 0)
            continue;
        if (!protected_path(norm)) {
            if (writer && e->cd && t[0] != '/' && t[0] != '-') {
                note(e, HOST_PERM_ASK, NULL, "system",
                     "%s writes %s after a change of directory", base, w[k].text);
                free(v);
                return;
            }
            continue;
        }
        if (writer)
            note(e, HOST_PERM_DENY, NULL, "system",
                 "%s would write %s: .git/, .claude/ and .mcp.json are not writable by the "
                 "agent (a system restriction no rule lifts)", base, w[k].text);
        else
            note(e, HOST_PERM_ASK, NULL, "system",
                 "%s names %s, which the agent may not write", base, w[k].text);
        free(v);
        return;
    }
    if (ask != NULL) {
        note(e, HOST_PERM_ASK, ask->text, "rule", "the rule %s asks", ask->text);
        free(v);
        return;
    }
    /* allow: the words as written only (/bin/rm is not rm) */
    r = match_list(&p->allow, v, pt->n, 0);
    int whole_tool = r != NULL && r->kind == HOST_RULE_TOOL;
    if (r != NULL && (whole_tool || (!dynamic_args && pt->floor == HOST_PERM_ALLOW))) {
        note(e, HOST_PERM_ALLOW, r->text, "rule", "allowed by the rule %s", r->text);
        free(v);
        return;
    }
    if (dynamic_args || pt->floor != HOST_PERM_ALLOW) {
        if (dynamic_args)
            note(e, HOST_PERM_ASK, NULL, "limit",
                 "%s has computed arguments, which no prefix rule approves", base);
        else
            note(e, HOST_PERM_ASK, NULL, "limit", "%s: %s", base, pt->floor_why);
        free(v);
        return;
    }
    if (harmless_builtin(e, w, pt->n)) {
        note(e, HOST_PERM_ALLOW, NULL, "default", "a shell builtin that runs nothing (%s)", base);
        free(v);
        return;
    }
    if (p->phase == HOST_PERM_PLAN) {
        if (!pt->writes && read_only(base, v, pt->n, git_ro))
            note(e, HOST_PERM_ALLOW, NULL, "phase", "a read-only command in the plan phase");
        else
            note(e, HOST_PERM_ASK, NULL, "phase",
                 "the plan phase allows read-only commands only (%s)", base);
    } else if (p->mode == HOST_PERM_DENYLIST) {
        note(e, HOST_PERM_ALLOW, NULL, "default", "no rule denies it");
    } else {
        note(e, HOST_PERM_ASK, NULL, "default", "no rule allows %s", base);
    }
    free(v);
}

static int quiet_device(const char *t)
{
    return strcmp(t, "/dev/null") == 0 || strcmp(t, "/dev/stdout") == 0 ||
           strcmp(t, "/dev/stderr") == 0 || strcmp(t, "/dev/tty") == 0 ||
           strncmp(t, "/dev/fd/", 8) == 0;
}

static void eval_bash(ev_t *e, const char *cmd, size_t len, int depth, const part_t *outer)
{
    if (depth > HOST_SH_MAX_DEPTH) {
        note(e, HOST_PERM_ASK, NULL, "limit", "nested deeper than agentd reads");
        return;
    }
    host_sh_list_t l = {0};
    if (host_sh_split(cmd, len, depth, &l) != 0) {
        e->oom = 1;
        host_sh_list_free(&l);
        return;
    }
    if (l.unknown)
        note(e, HOST_PERM_ASK, NULL, "limit", "agentd cannot read this command with certainty: %s",
             l.why);
    for (size_t i = 0; i < l.n; i++) {
        const host_sh_cmd_t *c = &l.cmds[i];
        for (size_t k = 0; k < c->nwords; k++) {
            const char *t = c->words[k].text;
            if (strcmp(t, "cd") == 0 || strcmp(t, "pushd") == 0 || strcmp(t, "popd") == 0) {
                e->cd = 1;
                char norm[PATH_MAX_LEN];
                if (k + 1 < c->nwords && !(c->words[k + 1].flags & HOST_SH_W_DYNAMIC) &&
                    norm_path(e->ws, c->words[k + 1].text, norm, sizeof norm) == 0 &&
                    protected_path(norm))
                    note(e, HOST_PERM_ASK, NULL, "system",
                         "the command changes into %s, which the agent may not write",
                         c->words[k + 1].text);
            }
        }
    }
    for (size_t i = 0; i < l.n && !e->oom; i++) {
        const host_sh_cmd_t *c = &l.cmds[i];
        part_t pt = {0};
        pt.w = c->words;
        pt.n = c->nwords;
        pt.depth = c->depth;
        pt.floor = HOST_PERM_ALLOW;
        if (outer != NULL && outer->floor != HOST_PERM_ALLOW) {
            pt.floor = outer->floor;
            snprintf(pt.floor_why, sizeof pt.floor_why, "%s", outer->floor_why);
        }
        for (size_t k = 0; k < c->nredirs; k++) {
            const host_sh_redir_t *rd = &c->redirs[k];
            if (rd->op != HOST_SH_R_WRITE)
                continue;
            const char *t = rd->target.text;
            char norm[PATH_MAX_LEN];
            if (rd->target.flags & HOST_SH_W_DYNAMIC) {
                note(e, HOST_PERM_ASK, NULL, "limit", "a redirection to a computed path (%s)", t);
                continue;
            }
            if (quiet_device(t))
                continue;
            pt.writes = 1;
            if (norm_path(e->ws, t, norm, sizeof norm) != 0) {
                note(e, HOST_PERM_ASK, NULL, "limit", "a redirection to a path too long to read");
                continue;
            }
            if (protected_path(norm))
                note(e, HOST_PERM_DENY, NULL, "system",
                     "a redirection writes %s: .git/, .claude/ and .mcp.json are not writable "
                     "by the agent (a system restriction no rule lifts)", t);
            else if (e->cd && t[0] != '/')
                note(e, HOST_PERM_ASK, NULL, "system",
                     "a redirection writes %s after a change of directory", t);
            else if (rel_in(e->ws, norm) == NULL)
                note(e, HOST_PERM_ASK, NULL, "system",
                     "a redirection writes %s, outside the workspace", t);
        }
        if (c->nwords > 0)
            eval_part(e, &pt);
    }
    host_sh_list_free(&l);
}

/* ---- tools ------------------------------------------------------------------ */

static const char *tool_path(const char *tool, json_t *input)
{
    static const char *const keys[] = {"file_path", "notebook_path", "path", NULL};
    (void)tool;
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *v = json_string_value(json_object_get(input, keys[i]));
        if (v != NULL)
            return v;
    }
    return NULL;
}

static const char *primary_argument(json_t *input)
{
    static const char *const keys[] = {"command", "file_path", "notebook_path", "path", "url",
                                       "pattern", "query", "prompt", NULL};
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *v = json_string_value(json_object_get(input, keys[i]));
        if (v != NULL)
            return v;
    }
    return NULL;
}

static int rule_matches_tool(const host_rule_t *r, const char *tool, json_t *input,
                             const char *rel, const char *abs)
{
    if (!host_rule_names_tool(r, tool))
        return 0;
    switch (r->kind) {
    case HOST_RULE_TOOL:
    case HOST_RULE_MCP_SERVER:
        return 1;
    case HOST_RULE_PATH:
        if (abs == NULL)
            return 0;
        if (host_rule_match_path(r, rel, abs))
            return 1;
        if (strcmp(tool, "Grep") == 0 || strcmp(tool, "Glob") == 0 || strcmp(tool, "LS") == 0) {
            /* a search below a directory: does the rule cover what is in it? */
            char rel2[PATH_MAX_LEN + 4], abs2[PATH_MAX_LEN + 4];
            snprintf(abs2, sizeof abs2, "%s/\x01", abs);
            if (rel != NULL && strcmp(rel, ".") == 0)
                snprintf(rel2, sizeof rel2, "\x01");
            else if (rel != NULL)
                snprintf(rel2, sizeof rel2, "%s/\x01", rel);
            return host_rule_match_path(r, rel != NULL ? rel2 : NULL, abs2);
        }
        return 0;
    case HOST_RULE_DOMAIN:
        return host_rule_match_url(r, json_string_value(json_object_get(input, "url")));
    case HOST_RULE_GLOB:
        return host_rule_match_glob(r, primary_argument(input));
    case HOST_RULE_BASH_EXACT:
    case HOST_RULE_BASH_PREFIX:
        return 0;
    }
    return 0;
}

static const host_rule_t *first_tool_match(const host_perm_list_t *l, const char *tool,
                                           json_t *input, const char *rel, const char *abs)
{
    for (size_t i = 0; i < l->n; i++)
        if (rule_matches_tool(&l->rules[i], tool, input, rel, abs))
            return &l->rules[i];
    return NULL;
}

static int plan_safe_tool(const char *tool)
{
    static const char *const tools[] = {"WebSearch", "WebFetch", "TodoWrite", "TodoRead",
                                        "Task", "ExitPlanMode", "BashOutput", "KillShell",
                                        "KillBash", "ListMcpResourcesTool",
                                        "ReadMcpResourceTool", NULL};
    return host_tool_is_read(tool) || in(tool, tools);
}

static void eval_tool(ev_t *e, const char *tool, json_t *input)
{
    const host_perm_policy_t *p = e->p;
    char abs[PATH_MAX_LEN];
    const char *rel = NULL, *absp = NULL;
    int edit = host_tool_is_edit(tool);
    if (edit || host_tool_is_read(tool)) {
        const char *path = tool_path(tool, input);
        if (path == NULL && edit) {
            note(e, HOST_PERM_ASK, NULL, "limit", "%s without a file path", tool);
            return;
        }
        if (norm_path(e->ws, path != NULL ? path : ".", abs, sizeof abs) != 0) {
            note(e, HOST_PERM_ASK, NULL, "limit", "a path too long to read");
            return;
        }
        absp = abs;
        rel = rel_in(e->ws, abs);
        if (edit && protected_path(abs)) {
            note(e, HOST_PERM_DENY, NULL, "system",
                 "%s would write %s: .git/, .claude/ and .mcp.json are not writable by the "
                 "agent (a system restriction no rule lifts)", tool, path);
            return;
        }
    }
    const host_rule_t *r = first_tool_match(&p->deny, tool, input, rel, absp);
    if (r != NULL) {
        note(e, HOST_PERM_DENY, r->text, "rule", "denied by the rule %s", r->text);
        return;
    }
    r = first_tool_match(&p->ask, tool, input, rel, absp);
    if (r != NULL) {
        note(e, HOST_PERM_ASK, r->text, "rule", "the rule %s asks", r->text);
        return;
    }
    r = first_tool_match(&p->allow, tool, input, rel, absp);
    if (r != NULL) {
        note(e, HOST_PERM_ALLOW, r->text, "rule", "allowed by the rule %s", r->text);
        return;
    }
    if (p->phase == HOST_PERM_PLAN) {
        if (edit)
            note(e, HOST_PERM_DENY, NULL, "phase", "the plan phase is read-only (%s)", tool);
        else if (plan_safe_tool(tool))
            note(e, HOST_PERM_ALLOW, NULL, "phase", "a read-only tool in the plan phase");
        else
            note(e, HOST_PERM_ASK, NULL, "phase", "the plan phase allows read-only tools only");
        return;
    }
    if (p->mode == HOST_PERM_DENYLIST)
        note(e, HOST_PERM_ALLOW, NULL, "default", "no rule denies %s", tool);
    else
        note(e, HOST_PERM_ASK, NULL, "default", "no rule allows %s", tool);
}

int host_perm_evaluate(const host_perm_policy_t *p, const char *tool, json_t *input,
                       const char *workspace, host_perm_result_t *res)
{
    memset(res, 0, sizeof *res);
    char ws[PATH_MAX_LEN];
    const char *wsp = NULL;
    if (workspace != NULL && workspace[0] == '/' && norm_path(NULL, workspace, ws, sizeof ws) == 0)
        wsp = ws;
    ev_t e = {p, wsp, res, 0, 0, 0, 0};
    if (tool == NULL || tool[0] == '\0') {
        note(&e, HOST_PERM_ASK, NULL, "limit", "a request without a tool name");
    } else if (strcmp(tool, "Bash") == 0) {
        json_t *c = json_object_get(input, "command");
        if (!json_is_string(c))
            note(&e, HOST_PERM_ASK, NULL, "limit", "Bash without a command");
        else if (json_string_length(c) > HOST_SH_MAX_LEN)
            note(&e, HOST_PERM_ASK, NULL, "limit", "a command longer than %u bytes",
                 HOST_SH_MAX_LEN);
        else {
            eval_bash(&e, json_string_value(c), json_string_length(c), 0, NULL);
            if (!e.noted)
                note(&e, HOST_PERM_ASK, NULL, "limit", "a command that runs nothing agentd reads");
        }
    } else {
        eval_tool(&e, tool, input);
    }
    if (e.oom) {
        memset(res, 0, sizeof *res);
        res->decision = HOST_PERM_DENY;
        res->by = "limit";
        snprintf(res->reason, sizeof res->reason, "out of memory");
        return AGENTD_ENOMEM;
    }
    if (res->by == NULL)
        res->by = "default";
    return 0;
}
