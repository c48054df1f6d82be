/*
 * vcs-github: a session's workspace from a GitHub repository, its work
 * committed and pushed on a branch, draft pull requests per step and review
 * comments read back as feedback (libgit2 + the GitHub REST API). The work
 * arrives with the GitHub workflow issue (not filed yet).
 *
 * STUB. It loads, declares the settings the real backend will take, and
 * answers prepare, commit and push with AGENTD_ENOTSUP and a message naming
 * what is missing. It reads no token and makes no request. The optional
 * pull_request, feedback and release stay unset: the host sees this plugin
 * does not offer them.
 */
#include <agentd/agentd.h>

#define PLUGIN_ID "vcs-github"
#define PLUGIN_LATER "the GitHub workflow issue, not filed yet"

typedef struct github {
    const agentd_host_api_t *api;
    agentd_host_t *host;
} github_t;

/* ---- settings ------------------------------------------------------------ */

#define FIELD(...) {.size = sizeof(agentd_config_field_t), __VA_ARGS__}

/* plugins.settings.vcs-github */
static const agentd_config_field_t config_fields[] = {
    FIELD(.name = "api_url", .type = AGENTD_CONFIG_STRING,
          .default_json = "\"https://api.github.com\"",
          .description = "GitHub REST API base URL (GitHub Enterprise: "
                         "https://HOST/api/v3)"),
    FIELD(.name = "token", .type = AGENTD_CONFIG_SECRET,
          .description = "\"${secret:NAME}\": a token that may push and open pull requests "
                         "(contents and pull_requests: write); never put in a remote URL, "
                         "argv or a log"),
    FIELD(.name = "author_name", .type = AGENTD_CONFIG_STRING, .default_json = "\"agentd\"",
          .description = "commit author and committer name"),
    FIELD(.name = "author_email", .type = AGENTD_CONFIG_STRING,
          .default_json = "\"agentd@localhost\"",
          .description = "commit author and committer email"),
    FIELD(.name = "branch_prefix", .type = AGENTD_CONFIG_STRING, .default_json = "\"agentd/\"",
          .description = "prefix of the branch each session works on"),
    FIELD(.name = "draft_prs", .type = AGENTD_CONFIG_BOOL, .default_json = "true",
          .description = "open pull requests as drafts"),
    FIELD(.name = "request_timeout_s", .type = AGENTD_CONFIG_INT, .default_json = "30",
          .min = 1, .max = 600, .description = "deadline of one GitHub API request"),
};

#define COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- every operation: not yet ---------------------------------------------- */

static int not_yet(agentd_err_t *err, const char *what)
{
    return agentd_err_set(err, AGENTD_ENOTSUP,
                          PLUGIN_ID ": %s is not implemented yet (this plugin is a stub; "
                                    "it arrives with " PLUGIN_LATER ")",
                          what);
}

static int github_prepare(void *self, const char *request_json, size_t len,
                          agentd_json_cb cb, void *ud, agentd_err_t *err)
{
    (void)self, (void)request_json, (void)len, (void)cb, (void)ud;
    return not_yet(err, "preparing a workspace (clone, branch checkout)");
}

static int github_commit(void *self, const char *request_json, size_t len,
                         agentd_json_cb cb, void *ud, agentd_err_t *err)
{
    (void)self, (void)request_json, (void)len, (void)cb, (void)ud;
    return not_yet(err, "committing the workspace");
}

static int github_push(void *self, const char *request_json, size_t len, agentd_json_cb cb,
                       void *ud, agentd_err_t *err)
{
    (void)self, (void)request_json, (void)len, (void)cb, (void)ud;
    return not_yet(err, "pushing a branch");
}

/* ---- lifetime --------------------------------------------------------------- */

static int github_init(const agentd_host_api_t *api, agentd_host_t *host,
                       const char *config_json, size_t config_len, void **self,
                       agentd_err_t *err)
{
    (void)config_json, (void)config_len; /* nothing to act on yet */
    if (api == NULL || self == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, PLUGIN_ID ": init without host API");
    github_t *g = api->calloc(host, 1, sizeof *g);
    if (g == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM,
                              PLUGIN_ID ": out of memory allocating the plugin state");
    g->api = api;
    g->host = host;
    api->log(host, AGENTD_LOG_DEBUG,
             "stub loaded: prepare, commit and push return \"not supported\" until "
             PLUGIN_LATER);
    *self = g;
    return 0;
}

static void github_fini(void *self)
{
    github_t *g = self;
    if (g != NULL)
        g->api->free(g->host, g);
}

static const agentd_vcs_vtable_t vtable = {
    .size = sizeof(agentd_vcs_vtable_t),
    .prepare = github_prepare,
    .commit = github_commit,
    .push = github_push,
    /* pull_request, feedback, release: not offered yet */
};

AGENTD_EXPORT const agentd_plugin_t agentd_plugin = {
    AGENTD_PLUGIN_HEADER,
    .kind = AGENTD_KIND_VCS,
    .id = PLUGIN_ID,
    .version = "0.1.0",
    .description = "GitHub: workspaces cloned from a repository, work committed and pushed "
                   "on a branch, draft pull requests, review comments as feedback",
    .limitations = "stub: cloning, committing and pushing (libgit2) and pull requests "
                   "(GitHub API) arrive with a later issue; prepare, commit and push return "
                   "AGENTD_ENOTSUP, pull_request, feedback and release are not offered",
    .config_fields = config_fields,
    .config_field_count = COUNT(config_fields),
    .init = github_init,
    .fini = github_fini,
    .vtable = &vtable,
};
