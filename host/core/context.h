/*
 * The host's context: the one place for the daemon's mutable state (loop,
 * log, configuration, plugins). Every host function takes it, or reaches it
 * through a handle; there is no global mutable state.
 *
 * Thread: loop thread, except host_ctx_post (any thread).
 */
#ifndef AGENTD_HOST_CONTEXT_H
#define AGENTD_HOST_CONTEXT_H

#include <uv.h>

#include "config/config.h"
#include "core/log.h"

struct host_registry;
struct host_post;

/* Where events emitted by plugins go (the session layer sets it). Returns
 * 0 or AGENTD_ENOENT for an unknown session. */
typedef int (*host_event_sink_fn)(void *ud, const char *session_id, const char *type,
                                  const char *data_json, size_t len);

typedef void (*host_post_fn)(void *ud);

typedef struct host_ctx {
    uv_loop_t loop;
    host_log_t log;
    host_config_t *config;          /* owned */
    struct host_registry *registry; /* owned */
    char *exe_dir;                  /* directory of the agentd executable */

    uv_async_t post_async;          /* host_ctx_post's wake-up */
    uv_mutex_t post_mu;
    struct host_post *post_head, *post_tail;
    int post_closed;

    host_event_sink_fn event_sink;
    void *event_sink_ud;

    struct host_secrets *secrets;   /* the secret store (runtime's); NULL
                                     * until the runtime opens it */

    int stopping;                   /* graceful shutdown under way */
} host_ctx_t;

/* Takes ownership of cfg (also on failure). Returns 0, AGENTD_ENOMEM or
 * AGENTD_EIO. */
int host_ctx_init(host_ctx_t *ctx, host_config_t *cfg, FILE *log_out);

/* Unloads plugins, closes every handle, runs the loop until they are gone
 * and frees everything. */
void host_ctx_close(host_ctx_t *ctx);

/* Run cb(ud) on the loop thread soon. Any thread. AGENTD_ESTATE once the
 * context is closing (cb will not run). */
int host_ctx_post(host_ctx_t *ctx, host_post_fn cb, void *ud);

/* Directory of the running executable (for plugin dirs relative to it);
 * malloc'd, or NULL. */
char *host_exe_dir(void);

/* mkdir -p with mode for the directories it creates. 0 or -errno. */
int host_mkdir_p(const char *path, unsigned mode);

#endif /* AGENTD_HOST_CONTEXT_H */
