/*
 * The API's client side, for the `agentd` client commands (session, attach):
 * one WebSocket connection to a running daemon, JSON-RPC 2.0 calls that wait
 * for their answer, and the notifications that arrive meanwhile kept in
 * order. It runs libwebsockets' client on its own poll loop in the calling
 * thread (no libuv); nothing is shared with the daemon's code.
 *
 * Errors: 0 or a negative AGENTD_E* with text in err.
 */
#ifndef AGENTD_HOST_CLIENT_H
#define AGENTD_HOST_CLIENT_H

#include <jansson.h>

#include <agentd/abi.h>

typedef struct host_client host_client_t;

/* Connects to url (ws://HOST:PORT/ or wss://...) and authenticates with
 * token (Authorization: Bearer). AGENTD_EINVAL (bad URL), AGENTD_EPERM
 * (token refused), AGENTD_EUNAVAIL (cannot connect), AGENTD_ETIMEDOUT. */
int host_client_open(const char *url, const char *token, int timeout_ms, host_client_t **out,
                     agentd_err_t *err);

/* Calls method with params (borrowed; may be NULL) and waits for the
 * answer: 0 with *result (new reference), or AGENTD_EPROTO with *error
 * (the JSON-RPC error object, new reference) and its message in err;
 * AGENTD_ECLOSED if the connection went away, AGENTD_ETIMEDOUT. */
int host_client_call(host_client_t *c, const char *method, json_t *params, int timeout_ms,
                     json_t **result, json_t **error, agentd_err_t *err);

/* The next notification ({"method":..., "params":...}, new reference), in
 * arrival order: 0, AGENTD_ETIMEDOUT, or AGENTD_ECLOSED once the connection
 * closed and every notification was taken (err has the close reason). */
int host_client_next(host_client_t *c, int timeout_ms, json_t **note, agentd_err_t *err);

void host_client_close(host_client_t *c);

#endif
