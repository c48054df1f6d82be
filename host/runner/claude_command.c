#include "runner/claude_command.h"
#include "permissions/engine.h"
#include "secrets/secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(char ***v, size_t *n, size_t *cap, char *s)
{
    if (s == NULL)
        return AGENTD_ENOMEM;
    if (*n + 2 > *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        char **grown = realloc(*v, c * sizeof *grown);
        if (grown == NULL) {
            free(s);
            return AGENTD_ENOMEM;
        }
        *v = grown;
        *cap = c;
    }
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
    return 0;
}

static int arg(host_claude_command_t *c, const char *s)
{
    return push(&c->argv, &c->argc, &c->argv_cap, strdup(s));
}

static int envvar(host_claude_command_t *c, const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s=%s", k, v);
    return push(&c->env, &c->envc, &c->env_cap, s);
}

/* Permissions: agentd answers every tool request the CLI asks about
 * (--permission-prompt-tool stdio). Allow rules are never given to the CLI
 * (it would then run those tools without asking, past agentd's system
 * restrictions); deny and ask rules are, as ask rules (--settings), so the
 * CLI does not allow on its own what a rule denies or asks. The mode goes
 * as --permission-mode. */
#define AGENT_SETTINGS_MAX (96u * 1024u) /* one argv string stays far below
                                          * the kernel's 128 KiB */
static int permission_flags(host_claude_command_t *c, const host_claude_inputs_t *in,
                            agentd_err_t *err)
{
    json_t *agent = host_perm_agent_settings(in->perm_defaults, in->settings);
    char *text = agent != NULL ? json_dumps(agent, JSON_COMPACT) : NULL;
    json_decref(agent);
    if (text == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "permissions: unusable rules");
    if (strlen(text) > AGENT_SETTINGS_MAX) {
        free(text);
        return agentd_err_set(err, AGENTD_ELIMIT,
                              "permissions: the deny and ask rules are longer than %u bytes "
                              "together", AGENT_SETTINGS_MAX);
    }
    int rc = arg(c, "--settings");
    if (rc == 0)
        rc = push(&c->argv, &c->argc, &c->argv_cap, text);
    else
        free(text);
    const char *mode = json_string_value(json_object_get(in->settings, "permission_mode"));
    if (rc == 0 && mode != NULL && strcmp(mode, "default") != 0 &&
        (rc = arg(c, "--permission-mode")) == 0)
        rc = arg(c, mode);
    return rc;
}

static int append_file(char **buf, size_t *len, const char *workspace, const char *rel,
                       size_t index, agentd_err_t *err)
{
    if (rel[0] == '/' || strstr(rel, "..") != NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "context_files[%zu]: must be a path inside "
                              "the workspace, without \"..\"", index);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", workspace, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "context_files[%zu]: cannot read %s", index,
                              rel);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (*len + n + 1 > HOST_CLAUDE_MAX_PROMPT_ARG) {
            rc = agentd_err_set(err, AGENTD_EINVAL, "context_files: more than %u KiB with the "
                                "persona", HOST_CLAUDE_MAX_PROMPT_ARG / 1024u);
            break;
        }
        char *grown = realloc(*buf, *len + n + 1);
        if (grown == NULL) {
            rc = AGENTD_ENOMEM;
            break;
        }
        memcpy(grown + *len, chunk, n);
        *len += n;
        grown[*len] = '\0';
        *buf = grown;
    }
    fclose(f);
    return rc;
}

static int add_text(char **buf, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len + n + 2 > HOST_CLAUDE_MAX_PROMPT_ARG)
        return AGENTD_ELIMIT;
    char *grown = realloc(*buf, *len + n + 2);
    if (grown == NULL)
        return AGENTD_ENOMEM;
    memcpy(grown + *len, text, n);
    *len += n;
    grown[(*len)++] = '\n';
    grown[*len] = '\0';
    *buf = grown;
    return 0;
}

/* persona, append_system_prompt and context files, in that order. */
static int system_prompt(host_claude_command_t *c, json_t *settings, const char *workspace,
                         agentd_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    const char *keys[] = {"persona", "append_system_prompt"};
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        json_t *v = json_object_get(settings, keys[i]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_string(v))
            rc = agentd_err_set(err, AGENTD_EINVAL, "%s: expected a string", keys[i]);
        else if ((rc = add_text(&buf, &len, json_string_value(v))) == AGENTD_ELIMIT)
            rc = agentd_err_set(err, AGENTD_EINVAL, "%s: longer than %u KiB", keys[i],
                                HOST_CLAUDE_MAX_PROMPT_ARG / 1024u);
    }
    json_t *files = json_object_get(settings, "context_files"), *f;
    size_t i;
    if (rc == 0 && files != NULL && !json_is_array(files))
        rc = agentd_err_set(err, AGENTD_EINVAL, "context_files: expected an array of paths");
    json_array_foreach(files, i, f) {
        if (rc != 0)
            break;
        if (!json_is_string(f))
            rc = agentd_err_set(err, AGENTD_EINVAL, "context_files[%zu]: expected a path", i);
        else
            rc = append_file(&buf, &len, workspace, json_string_value(f), i, err);
    }
    if (rc == 0 && buf != NULL) {
        rc = arg(c, "--append-system-prompt");
        if (rc == 0)
            return push(&c->argv, &c->argc, &c->argv_cap, buf);
    }
    free(buf);
    return rc;
}

static int session_env(host_claude_command_t *c, const host_claude_inputs_t *in,
                       agentd_err_t *err)
{
    json_t *env = json_object_get(in->settings, "env"), *v;
    const char *k;
    if (env == NULL)
        return 0;
    if (!json_is_object(env))
        return agentd_err_set(err, AGENTD_EINVAL, "env: expected an object of strings");
    json_object_foreach(env, k, v) {
        if (!json_is_string(v))
            return agentd_err_set(err, AGENTD_EINVAL, "env.%s: expected a string", k);
        if (k[0] == '\0' || strchr(k, '=') != NULL)
            return agentd_err_set(err, AGENTD_EINVAL, "env: \"%s\" is not a variable name", k);
        static const char *const reserved[] = {"HOME", "CLAUDE_CONFIG_DIR", "ANTHROPIC_API_KEY",
                                               "ANTHROPIC_BASE_URL", "CLAUDE_CODE_ENTRYPOINT"};
        for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
            if (strcmp(k, reserved[i]) == 0)
                return agentd_err_set(err, AGENTD_EINVAL, "env.%s: set by agentd itself", k);
        /* ${secret:NAME}: resolved now, audited, wiped after use. */
        char where[320];
        snprintf(where, sizeof where, "session %s settings env.%s",
                 in->session_id != NULL ? in->session_id : "-", k);
        host_secret_use_t use = {.session = in->session_id, .purpose = "env", .where = where};
        host_secret_str_t val = {0};
        int rc = 0;
        if (host_secrets_has_refs(json_string_value(v), json_string_length(v)))
            rc = in->secrets != NULL
                     ? host_secrets_resolve(in->secrets, json_string_value(v),
                                            json_string_length(v), &use, &val, err)
                     : agentd_err_set(err, AGENTD_EUNAVAIL,
                                      "env.%s: refers to a secret, but no secret store is open",
                                      k);
        if (rc == 0)
            rc = envvar(c, k, val.data != NULL ? val.data : json_string_value(v));
        host_secret_str_free(&val);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int host_claude_command_build(const host_claude_inputs_t *in, const char *workspace,
                              host_claude_command_t *out, agentd_err_t *err)
{
    memset(out, 0, sizeof *out);
    /* No settings files at all (--setting-sources ""): every one of them
     * lives where the agent can write (its config dir, or a .claude/ it
     * creates in the workspace), so none may grant it anything; agentd's
     * permission rules are the only source. */
    static const char *const fixed[] = {"-p", "--input-format", "stream-json",
                                        "--output-format", "stream-json", "--verbose",
                                        "--permission-prompt-tool", "stdio",
                                        "--setting-sources", ""};
    int rc = arg(out, in->program);
    for (size_t i = 0; rc == 0 && i < sizeof fixed / sizeof fixed[0]; i++)
        rc = arg(out, fixed[i]);
    if (rc == 0 && in->model != NULL && (rc = arg(out, "--model")) == 0)
        rc = arg(out, in->model);
    if (rc == 0)
        rc = permission_flags(out, in, err);
    if (rc == 0)
        rc = system_prompt(out, in->settings, workspace, err);
    if (rc == 0 && in->mcp_config_path != NULL && (rc = arg(out, "--mcp-config")) == 0)
        rc = arg(out, in->mcp_config_path);
    if (rc == 0 && in->resume_id != NULL && (rc = arg(out, "--resume")) == 0)
        rc = arg(out, in->resume_id);

    if (rc == 0)
        rc = session_env(out, in, err);
    struct { const char *k, *v; } vars[] = {
        {"PATH", in->path_env}, {"HOME", in->home}, {"CLAUDE_CONFIG_DIR", in->config_dir},
        {"ANTHROPIC_API_KEY", in->api_key}, {"ANTHROPIC_BASE_URL", in->base_url},
        {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"}, {"DISABLE_AUTOUPDATER", "1"},
        {"CLAUDE_CODE_ENTRYPOINT", "agentd"},
    };
    for (size_t i = 0; rc == 0 && i < sizeof vars / sizeof vars[0]; i++)
        if (vars[i].v != NULL)
            rc = envvar(out, vars[i].k, vars[i].v);
    if (rc != 0) {
        if (rc == AGENTD_ENOMEM)
            agentd_err_set(err, rc, "out of memory");
        host_claude_command_free(out);
    }
    return rc;
}

void host_claude_command_free(host_claude_command_t *c)
{
    for (size_t i = 0; i < c->argc; i++)
        free(c->argv[i]);
    for (size_t i = 0; i < c->envc; i++) {
        memset(c->env[i], 0, strlen(c->env[i]));
        free(c->env[i]);
    }
    free(c->argv);
    free(c->env);
    memset(c, 0, sizeof *c);
}
