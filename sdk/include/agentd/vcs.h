/*
 * agentd plugin SDK: version control and code review (AGENTD_KIND_VCS).
 *
 * A VCS provider prepares a session's workspace from a repository, commits
 * and pushes the agent's work on a branch, and opens or updates a pull
 * request; later it reads review comments back as feedback. GitHub with
 * libgit2 is the first backend; the shape also fits GitLab or a bare git
 * server. Requests and results that carry many optional fields are JSON
 * objects (documented in docs/plugins.md), so they can grow without an ABI
 * change.
 *
 * Threads, errors, ownership: abi.h. libgit2 and blocking HTTP calls go
 * through agentd_host_api_t.queue_work.
 */
#ifndef AGENTD_VCS_H
#define AGENTD_VCS_H

#include "abi.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agentd_vcs_vtable {
    uint32_t size;                 /* sizeof(agentd_vcs_vtable_t) */

    /* minor 0, required: clone or update the repository into the workspace
     * and check out the session's branch. request: {"session_id",
     * "repository", "base_branch", "branch", "workspace", "credentials":
     * "${secret:NAME}"}; result: {"head": "<sha>", "branch": "..."}. */
    int (*prepare)(void *self, const char *request_json, size_t len,
                   agentd_json_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, required: commit everything changed in the workspace.
     * request: {"workspace", "message", "author": {"name", "email"},
     * "trailers": {...}}; result: {"commit": "<sha>"} or {"commit": null}
     * when there was nothing to commit. */
    int (*commit)(void *self, const char *request_json, size_t len,
                  agentd_json_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, required: push the branch. request: {"workspace", "branch",
     * "force": false}; result: {"remote_head": "<sha>"}. */
    int (*push)(void *self, const char *request_json, size_t len,
                agentd_json_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, optional: open or update a pull request. request:
     * {"repository", "head", "base", "title", "body", "draft"}; result:
     * {"number", "url", "state"}. */
    int (*pull_request)(void *self, const char *request_json, size_t len,
                        agentd_json_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, optional: review feedback since a cursor. request:
     * {"repository", "number", "since"}; result: {"comments": [...],
     * "cursor"}. */
    int (*feedback)(void *self, const char *request_json, size_t len,
                    agentd_json_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, optional: forget a session's workspace state (local caches,
     * worktrees). request: {"session_id", "workspace"}. */
    int (*release)(void *self, const char *request_json, size_t len,
                   agentd_json_cb cb, void *ud, agentd_err_t *err);
} agentd_vcs_vtable_t;

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_VCS_H */
