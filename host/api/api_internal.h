/* Inside the API server: connections, queues, subscriptions (server.c) and
 * the JSON-RPC methods (rpc.c). Thread: loop thread. */
#ifndef AGENTD_HOST_API_INTERNAL_H
#define AGENTD_HOST_API_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "api/api.h"
#include "core/buf.h"
#include "api/tokens.h"

/* JSON-RPC error codes (docs/protocol.md). */
#define RPC_PARSE_ERROR -32700
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS -32602
#define RPC_INTERNAL -32603
#define RPC_NOT_AUTHENTICATED -32001
#define RPC_FORBIDDEN -32002
#define RPC_UNKNOWN_SESSION -32003
#define RPC_CURSOR_TOO_OLD -32004
#define RPC_LIMIT -32005
#define RPC_STATE -32006
#define RPC_FAILED -32007
#define RPC_NOT_PENDING -32008 /* an answer to a request that is not pending */
#define RPC_AUTH_FAILED -32010
#define RPC_TOO_LARGE -32011

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    uint64_t seq;                     /* an event's seq, else 0 */
    char session[HOST_SESSION_ID_MAX];/* an event's session */
    int close_after;                  /* the last message before closing */
    int batchable;                    /* an event for a subscription that takes
                                       * batches: may share a frame (a JSON-RPC
                                       * batch) with the batchable ones next to it */
    unsigned char buf[];              /* LWS_PRE bytes, then the text */
} out_msg_t;

typedef struct out_queue {
    out_msg_t *head, *tail;
    size_t bytes, count;
} out_queue_t;

typedef struct api_conn api_conn_t;
typedef struct api_topic api_topic_t;

typedef struct api_sub {
    struct api_sub *next;       /* the connection's subscriptions */
    struct api_sub *topic_next; /* the session's subscribers */
    api_topic_t *topic;
    api_conn_t *conn;
    uint64_t cursor;            /* last seq queued */
    uint64_t delivered;         /* last seq written to the socket */
    int replaying;              /* still reading stored events (paged) */
    int batch;                  /* the client takes events in JSON-RPC batches */
    out_queue_t *collect;       /* replay target other than the conn's queue */
} api_sub_t;

struct api_topic {
    api_topic_t *next;
    char session[HOST_SESSION_ID_MAX];
    api_sub_t *subs;
};

struct api_conn {
    api_conn_t *next, *prev;
    host_api_t *srv;
    struct lws *wsi;
    char peer[64];
    host_api_role_t role;
    char token_id[HOST_API_TOKEN_ID_LEN + 1];
    uint64_t opened_ms;
    out_queue_t q;
    api_sub_t *subs;
    host_buf_t rx;            /* the message being assembled */
    size_t rx_dropped;          /* bytes of an oversized message dropped */
    int kill;                   /* close as soon as writable */
    int kill_status;
    char kill_reason[96];
    int overflowed;
    api_conn_t *flush_next;     /* on the server's flush list (flush_queued) */
    int flush_queued;
};

typedef struct api_metrics {
    uint64_t connections_total, refused_total, auth_failures_total;
    uint64_t requests_total, errors_total, events_sent_total;
    uint64_t slow_disconnects_total, oversized_total, revoked_closed_total;
} api_metrics_t;

struct host_api {
    host_ctx_t *ctx;
    host_runtime_t *rt;
    struct lws_context *lws;
    lws_retry_bo_t retry;
    struct lws_protocols protocols[2];
    void *foreign_loops[1];
    struct lws_http_mount mount;
    host_event_listener_t *listener;
    uv_timer_t timer;
    int timer_open;
    /* Connections with new messages, written directly at the start of the
     * next loop turn (an idle handle, active only while the list is not
     * empty) instead of through lws' writeable callback: a socket that can
     * take them costs one send, not a poll change, a loop turn and another
     * poll change. */
    uv_idle_t flush;
    int flush_open;
    api_conn_t *flush_head;
    api_conn_t *conns;
    size_t nconns;
    api_topic_t *topics;
    int port;
    int stopped;
    api_metrics_t m;
};

typedef struct rpc_err {
    int code;
    char field[64];
    char msg[AGENTD_ERR_MAX];
    int answered;     /* the method sent its own response already */
} rpc_err_t;

uint64_t api_now_ms(void);

/* Queue text for the client; a copy is made. Returns 0, AGENTD_ENOMEM, or
 * AGENTD_ELIMIT when the queue is over api.client_queue_bytes (unless
 * force). */
int api_send(api_conn_t *c, const char *text, size_t len, int force);
void api_queue_push(out_queue_t *q, out_msg_t *m);
out_msg_t *api_msg_new(const char *text, size_t len);
/* Sends a JSON value (stolen) as compact text, forced. */
int api_send_json(api_conn_t *c, json_t *v);

/* Closes the connection soon with a close status and reason (queue
 * dropped). */
void api_kill(api_conn_t *c, int status, const char *reason);

/* Handles one complete text message. */
void api_rpc_message(api_conn_t *c, const char *text, size_t len);

/* Subscriptions (server.c). */
/* batch: the client takes this subscription's events in JSON-RPC batches
 * (arrays of event notifications) when several are ready at once. */
int api_subscribe(api_conn_t *c, const char *session, uint64_t since, int batch, json_t *id,
                  rpc_err_t *e);
int api_unsubscribe(api_conn_t *c, const char *session);
size_t api_sub_count(const host_api_t *srv);

/* Prometheus text, malloc'd. */
char *api_metrics_text(host_api_t *srv, size_t *len);

#endif
