/*
 * The WebSocket API server (docs/protocol.md): JSON-RPC 2.0 over WebSocket,
 * plus GET /healthz and GET /metrics on the same port, served by
 * libwebsockets on the host's own libuv loop. Clients authenticate with an
 * API token (api/tokens.h), either as "Authorization: Bearer" on the upgrade
 * or as a first {"method":"auth"} message; subscribers get a session's
 * stored events after their cursor, then the live ones, with no gap and no
 * duplicate; each client's send queue is bounded (api.client_queue_bytes)
 * and a client that falls behind is told its last delivered seq and closed.
 *
 * Thread: loop thread.
 */
#ifndef AGENTD_HOST_API_H
#define AGENTD_HOST_API_H

#include "sessions/runtime.h"

typedef struct host_api host_api_t;

/* Listens on listen.address:listen.port (port 0: any free port; see
 * host_api_port). Errors: AGENTD_EIO (cannot listen), AGENTD_ENOMEM. */
int host_api_start(host_ctx_t *ctx, host_runtime_t *rt, host_api_t **out, agentd_err_t *err);

/* The port it listens on. */
int host_api_port(const host_api_t *api);

/* Closes every connection and the listener: each open WebSocket gets what
 * is queued for it, then a close frame with code 1001 ("server shutting
 * down"); for that this runs the loop (so call it after uv_run returned,
 * never from a callback) until every connection is closed, for at most
 * half of limits.shutdown_timeout_ms. The handles finish closing as the
 * loop runs on (host_ctx_close runs it). */
void host_api_stop(host_api_t *api);

/* Frees the server (stopping it first if needed); call after the loop has
 * run the closing handles to the end (after host_ctx_close). */
void host_api_free(host_api_t *api);

#endif
