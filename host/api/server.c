/* The API server's transport: libwebsockets on the host loop, connections,
 * bounded send queues, subscriptions with replay-then-live, HTTP endpoints
 * (api.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "core/log.h"

#define COMPONENT "api"
#define REPLAY_PAGE 64
#define WRITE_BUDGET (1024 * 1024) /* bytes per writeable callback */
/* Bytes per write at most: what lws hands the socket in one call (the
 * protocol's rx_buffer_size, below); more would be copied into lws' own
 * buffer first. */
#define BATCH_BYTES 65536

uint64_t api_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- queues ---- */

out_msg_t *api_msg_new(const char *text, size_t len)
{
    out_msg_t *m = malloc(sizeof *m + LWS_PRE + len + 1);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    m->len = len;
    memcpy(m->buf + LWS_PRE, text, len);
    m->buf[LWS_PRE + len] = '\0';
    return m;
}

void api_queue_push(out_queue_t *q, out_msg_t *m)
{
    m->next = NULL;
    if (q->tail != NULL)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->bytes += m->len;
    q->count++;
}

static out_msg_t *queue_pop(out_queue_t *q)
{
    out_msg_t *m = q->head;
    if (m == NULL)
        return NULL;
    q->head = m->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->bytes -= m->len;
    q->count--;
    return m;
}

static void queue_clear(out_queue_t *q)
{
    out_msg_t *m;
    while ((m = queue_pop(q)) != NULL)
        free(m);
}

static void queue_splice(out_queue_t *dst, out_queue_t *src)
{
    out_msg_t *m;
    while ((m = queue_pop(src)) != NULL)
        api_queue_push(dst, m);
}

static void on_flush(uv_idle_t *h);

/* Has the queue written: directly at the start of the next loop turn (the
 * flush list), or, for a connection being closed (only lws' writeable
 * callback can close it), by the callback. */
static void want_write(api_conn_t *c)
{
    host_api_t *srv = c->srv;
    if (c->wsi == NULL)
        return;
    if (c->kill || !srv->flush_open) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (c->flush_queued)
        return;
    c->flush_queued = 1;
    c->flush_next = srv->flush_head;
    srv->flush_head = c;
    uv_idle_start(&srv->flush, on_flush);
}

static void unflush(api_conn_t *c)
{
    if (!c->flush_queued)
        return;
    for (api_conn_t **pp = &c->srv->flush_head; *pp != NULL; pp = &(*pp)->flush_next)
        if (*pp == c) {
            *pp = c->flush_next;
            break;
        }
    c->flush_queued = 0;
    c->flush_next = NULL;
}

static void overflow(api_conn_t *c);

int api_send(api_conn_t *c, const char *text, size_t len, int force)
{
    if (c->kill || c->overflowed)
        return AGENTD_ECLOSED;
    if (!force && c->q.bytes + len > c->srv->ctx->config->api.client_queue_bytes)
        return AGENTD_ELIMIT;
    out_msg_t *m = api_msg_new(text, len);
    if (m == NULL)
        return AGENTD_ENOMEM;
    api_queue_push(&c->q, m);
    want_write(c);
    return 0;
}

int api_send_json(api_conn_t *c, json_t *v)
{
    if (v == NULL)
        return AGENTD_ENOMEM;
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (text == NULL)
        return AGENTD_ENOMEM;
    int rc = api_send(c, text, strlen(text), 1);
    free(text);
    /* A client that sends requests without reading the answers. */
    if (rc == 0 && c->q.bytes > c->srv->ctx->config->api.client_queue_bytes)
        overflow(c);
    return rc;
}

void api_kill(api_conn_t *c, int status, const char *reason)
{
    if (c->kill)
        return;
    c->kill = 1;
    c->kill_status = status;
    snprintf(c->kill_reason, sizeof c->kill_reason, "%s", reason);
    queue_clear(&c->q);
    want_write(c);
}

/* ---- events and subscriptions ---- */

/* A JSON string literal of s (quotes included) at out; returns its length.
 * out has room for 6 * strlen(s) + 2 bytes. Session ids and types are
 * printable ASCII (the event log checks them), so this is short work. */
static size_t json_quote(char *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    *p++ = '"';
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            *p++ = '\\';
            *p++ = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[ch >> 4];
            p[5] = hex[ch & 15];
            p += 6;
        } else {
            *p++ = (char)ch;
        }
    }
    *p++ = '"';
    return (size_t)(p - out);
}

/* {"jsonrpc":"2.0","method":"event","params":{session, seq, ts, type, data}}
 * as one queued message (LWS_PRE headroom before the text: the writer puts
 * the frame header there). Built once per event; each further subscriber
 * gets a copy. */
static out_msg_t *event_msg(const host_event_t *ev)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"session\":";
    size_t slen = strlen(ev->session_id), tlen = strlen(ev->type);
    if (slen > 4096 || tlen > 4096 || ev->data_len > SIZE_MAX / 2)
        return NULL;
    size_t cap = sizeof head + 6 * (slen + tlen) + 4 + ev->data_len + 96;
    out_msg_t *m = malloc(sizeof *m + LWS_PRE + cap);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof *m);
    char *out = (char *)m->buf + LWS_PRE, *p = out;
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    p += json_quote(p, ev->session_id);
    p += snprintf(p, 64, ",\"seq\":%llu,\"ts\":%llu,\"type\":", (unsigned long long)ev->seq,
                  (unsigned long long)ev->ts_ms);
    p += json_quote(p, ev->type);
    memcpy(p, ",\"data\":", 8);
    p += 8;
    memcpy(p, ev->data_json, ev->data_len);
    p += ev->data_len;
    memcpy(p, "}}", 3);
    p += 2;
    m->len = (size_t)(p - out);
    m->seq = ev->seq;
    snprintf(m->session, sizeof m->session, "%s", ev->session_id);
    return m;
}

/* A copy of an event's message for one more subscriber. */
static out_msg_t *msg_copy(const out_msg_t *src)
{
    out_msg_t *m = malloc(sizeof *m + LWS_PRE + src->len + 1);
    if (m == NULL)
        return NULL;
    memcpy(m, src, sizeof *m);
    m->next = NULL;
    memcpy(m->buf + LWS_PRE, src->buf + LWS_PRE, src->len + 1);
    return m;
}

static api_topic_t *topic_find(host_api_t *srv, const char *session)
{
    for (api_topic_t *t = srv->topics; t != NULL; t = t->next)
        if (strcmp(t->session, session) == 0)
            return t;
    return NULL;
}

static void on_replay_event(void *ud, const host_event_t *ev)
{
    api_sub_t *s = ud;
    s->cursor = ev->seq;
    out_msg_t *m = event_msg(ev);
    if (m == NULL) {
        api_kill(s->conn, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    m->batchable = s->batch;
    api_queue_push(s->collect != NULL ? s->collect : &s->conn->q, m);
}

static void drop_sub(api_sub_t *s);

/* Reads stored events after the cursor, a page at a time while the queue
 * has room; the subscription goes live when a page comes back short. */
static int replay(api_sub_t *s, agentd_err_t *err)
{
    api_conn_t *c = s->conn;
    host_api_t *srv = c->srv;
    size_t half = srv->ctx->config->api.client_queue_bytes / 2;
    while (s->replaying && !c->kill && !c->overflowed && (s->collect != NULL || c->q.bytes < half)) {
        uint64_t before = s->cursor, last = 0;
        int rc = host_event_log_read(srv->rt->log, s->topic->session, s->cursor, REPLAY_PAGE,
                                     on_replay_event, s, &last, err);
        if (rc != 0)
            return rc;
        if (s->cursor - before < REPLAY_PAGE)
            s->replaying = 0;
        if (s->collect != NULL)
            break; /* the first page goes out behind the response */
    }
    if (s->collect == NULL)
        want_write(c);
    return 0;
}

static void replay_failed(api_sub_t *s, int rc, const char *msg)
{
    json_t *n = json_pack("{s:s, s:s, s:{s:s, s:I, s:i, s:s}}", "jsonrpc", "2.0", "method",
                          "events.error", "params", "session", s->topic->session, "last_seq",
                          (json_int_t)s->cursor, "code",
                          rc == AGENTD_ELIMIT ? RPC_CURSOR_TOO_OLD : RPC_FAILED, "message", msg);
    api_conn_t *c = s->conn;
    drop_sub(s);
    api_send_json(c, n);
}

static void pump_replays(api_conn_t *c)
{
    for (api_sub_t *s = c->subs, *next; s != NULL; s = next) {
        next = s->next;
        if (!s->replaying)
            continue;
        agentd_err_t err = {{0}};
        int rc = replay(s, &err);
        if (rc != 0)
            replay_failed(s, rc, err.msg);
    }
}

static void overflow(api_conn_t *c)
{
    if (c->overflowed || c->kill)
        return;
    host_api_t *srv = c->srv;
    srv->m.slow_disconnects_total++;
    c->overflowed = 1;
    queue_clear(&c->q);
    json_t *subs = json_array();
    for (api_sub_t *s = c->subs; s != NULL && subs != NULL; s = s->next)
        json_array_append_new(subs, json_pack("{s:s, s:I}", "session", s->topic->session,
                                              "last_seq", (json_int_t)s->delivered));
    json_t *n = json_pack("{s:s, s:s, s:{s:s, s:o*}}", "jsonrpc", "2.0", "method",
                          "events.overflow", "params", "reason",
                          "client fell behind (api.client_queue_bytes); resume from last_seq",
                          "subscriptions", subs);
    char *text = n != NULL ? json_dumps(n, JSON_COMPACT) : NULL;
    json_decref(n);
    out_msg_t *m = text != NULL ? api_msg_new(text, strlen(text)) : NULL;
    free(text);
    host_log(&srv->ctx->log, AGENTD_LOG_WARN, COMPONENT,
             "client %s fell behind (queue over api.client_queue_bytes = %zu); disconnecting",
             c->peer, srv->ctx->config->api.client_queue_bytes);
    if (m == NULL) {
        c->overflowed = 0;
        api_kill(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow client");
        return;
    }
    m->close_after = 1;
    api_queue_push(&c->q, m);
    if (c->wsi != NULL) {
        /* A client that reads nothing may never take even this. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 5);
        lws_callback_on_writable(c->wsi);
    }
}

static void on_event(void *ud, const host_event_t *ev)
{
    host_api_t *srv = ud;
    api_topic_t *t = topic_find(srv, ev->session_id);
    if (t == NULL)
        return;
    out_msg_t *msg = NULL; /* serialised once: the first queue's, copied for the others */
    int used = 0;
    size_t cap = srv->ctx->config->api.client_queue_bytes;
    for (api_sub_t *s = t->subs, *next; s != NULL; s = next) {
        next = s->topic_next;
        api_conn_t *c = s->conn;
        if (s->replaying || ev->seq <= s->cursor || c->kill || c->overflowed)
            continue;
        if (ev->seq != s->cursor + 1) {
            /* Not expected (the log hands out every commit in order), but
             * a gap is filled from the log rather than skipped. */
            s->replaying = 1;
            agentd_err_t err = {{0}};
            int rc = replay(s, &err);
            if (rc != 0)
                replay_failed(s, rc, err.msg);
            continue;
        }
        if (msg == NULL && (msg = event_msg(ev)) == NULL) {
            api_kill(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
            continue;
        }
        if (c->q.bytes + msg->len > cap) {
            overflow(c);
            continue;
        }
        /* msg stays in the first queue it went to until this returns:
         * queues are written from the flush handle and lws' writeable
         * callbacks, never from here, and nothing here clears another
         * subscriber's queue. */
        out_msg_t *m = used ? msg_copy(msg) : msg;
        if (m == NULL) {
            api_kill(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
            continue;
        }
        used = 1;
        m->batchable = s->batch;
        api_queue_push(&c->q, m);
        s->cursor = ev->seq;
        /* A queue that had messages already has its write coming (asked
         * for when it was filled, and again by the writer while it is not
         * empty). */
        if (c->q.head == m)
            want_write(c);
    }
    if (!used)
        free(msg);
}

static void drop_sub(api_sub_t *s)
{
    api_conn_t *c = s->conn;
    for (api_sub_t **pp = &c->subs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    api_topic_t *t = s->topic;
    for (api_sub_t **pp = &t->subs; *pp != NULL; pp = &(*pp)->topic_next)
        if (*pp == s) {
            *pp = s->topic_next;
            break;
        }
    if (t->subs == NULL) {
        host_api_t *srv = c->srv;
        for (api_topic_t **pp = &srv->topics; *pp != NULL; pp = &(*pp)->next)
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        free(t);
    }
    free(s);
}

int api_subscribe(api_conn_t *c, const char *session, uint64_t since, int batch, json_t *id,
                  rpc_err_t *e)
{
    host_api_t *srv = c->srv;
    for (api_sub_t *s = c->subs; s != NULL; s = s->next)
        if (strcmp(s->topic->session, session) == 0) {
            e->code = RPC_STATE;
            snprintf(e->msg, sizeof e->msg,
                     "already subscribed to %s on this connection; unsubscribe first", session);
            return -1;
        }
    uint64_t last = host_event_log_last_seq(srv->rt->log, session);
    json_t *info = host_sessions_get(srv->rt->sessions, session);
    json_decref(info);
    if (info == NULL && last == 0) {
        e->code = RPC_UNKNOWN_SESSION;
        snprintf(e->field, sizeof e->field, "session");
        snprintf(e->msg, sizeof e->msg, "no session \"%.*s\"", HOST_SESSION_ID_MAX, session);
        return -1;
    }
    if (since > last) {
        e->code = RPC_INVALID_PARAMS;
        snprintf(e->field, sizeof e->field, "since");
        snprintf(e->msg, sizeof e->msg,
                 "since: %llu is past the session's last event (%llu); this server never "
                 "sent it",
                 (unsigned long long)since, (unsigned long long)last);
        return -1;
    }
    api_topic_t *t = topic_find(srv, session);
    int new_topic = t == NULL;
    if (new_topic) {
        t = calloc(1, sizeof *t);
        if (t == NULL)
            goto nomem;
        snprintf(t->session, sizeof t->session, "%s", session);
    }
    api_sub_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        if (new_topic)
            free(t);
        goto nomem;
    }
    if (new_topic) {
        t->next = srv->topics;
        srv->topics = t;
    }
    s->topic = t;
    s->conn = c;
    s->cursor = s->delivered = since;
    s->replaying = 1;
    s->batch = batch;
    s->topic_next = t->subs;
    t->subs = s;
    s->next = c->subs;
    c->subs = s;

    out_queue_t first = {0};
    s->collect = &first;
    agentd_err_t err = {{0}};
    int rc = replay(s, &err);
    s->collect = NULL;
    if (rc != 0) {
        queue_clear(&first);
        drop_sub(s);
        e->code = rc == AGENTD_ELIMIT ? RPC_CURSOR_TOO_OLD : RPC_FAILED;
        if (rc == AGENTD_ELIMIT)
            snprintf(e->field, sizeof e->field, "since");
        snprintf(e->msg, sizeof e->msg, "%s", err.msg);
        return -1;
    }
    json_t *res = json_pack("{s:s, s:O, s:{s:s, s:I, s:I}}", "jsonrpc", "2.0", "id", id,
                            "result", "session", session, "since", (json_int_t)since,
                            "last_seq", (json_int_t)last);
    api_send_json(c, res);
    if (!c->overflowed && !c->kill)
        queue_splice(&c->q, &first);
    queue_clear(&first);
    if (s->replaying) {
        rc = replay(s, &err);
        if (rc != 0)
            replay_failed(s, rc, err.msg);
    }
    want_write(c);
    return 0;
nomem:
    e->code = RPC_INTERNAL;
    snprintf(e->msg, sizeof e->msg, "out of memory");
    return -1;
}

int api_unsubscribe(api_conn_t *c, const char *session)
{
    for (api_sub_t *s = c->subs; s != NULL; s = s->next)
        if (strcmp(s->topic->session, session) == 0) {
            drop_sub(s);
            return 0;
        }
    return AGENTD_ENOENT;
}

size_t api_sub_count(const host_api_t *srv)
{
    size_t n = 0;
    for (const api_topic_t *t = srv->topics; t != NULL; t = t->next)
        for (const api_sub_t *s = t->subs; s != NULL; s = s->topic_next)
            n++;
    return n;
}

/* ---- connections ---- */

typedef struct pss {
    api_conn_t *conn;
    host_api_role_t pre_role;
    char pre_id[HOST_API_TOKEN_ID_LEN + 1];
} pss_t;

static size_t conns_from(host_api_t *srv, const char *peer)
{
    size_t n = 0;
    for (api_conn_t *c = srv->conns; c != NULL; c = c->next)
        n += strcmp(c->peer, peer) == 0;
    return n;
}

static int refuse(host_api_t *srv, struct lws *wsi, unsigned status, const char *why,
                  const char *peer)
{
    srv->m.refused_total++;
    host_log(&srv->ctx->log, AGENTD_LOG_INFO, COMPONENT, "refused a connection from %s: %s",
             peer, why);
    lws_return_http_status(wsi, status, why);
    return -1;
}

static int filter(host_api_t *srv, struct lws *wsi, pss_t *pss)
{
    const host_api_config_t *cfg = &srv->ctx->config->api;
    char peer[64] = "?";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    if (srv->stopped)
        return refuse(srv, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down", peer);
    if (srv->nconns >= cfg->max_connections)
        return refuse(srv, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
                      "too many connections (api.max_connections)", peer);
    if (conns_from(srv, peer) >= cfg->max_connections_per_address)
        return refuse(srv, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE,
                      "too many connections from this address "
                      "(api.max_connections_per_address)",
                      peer);
    char auth[256];
    int n = lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        srv->m.auth_failures_total++;
        return refuse(srv, wsi, HTTP_STATUS_UNAUTHORIZED, "malformed Authorization header", peer);
    }
    if (n > 0) {
        if (strncmp(auth, "Bearer ", 7) != 0) {
            srv->m.auth_failures_total++;
            return refuse(srv, wsi, HTTP_STATUS_UNAUTHORIZED,
                          "Authorization must be \"Bearer TOKEN\"", peer);
        }
        agentd_err_t err = {{0}};
        host_api_role_t role;
        if (host_api_token_verify(srv->rt->db, auth + 7, strlen(auth + 7), &role, pss->pre_id,
                                  &err) != 0) {
            srv->m.auth_failures_total++;
            return refuse(srv, wsi, HTTP_STATUS_UNAUTHORIZED, err.msg, peer);
        }
        pss->pre_role = role;
    }
    return 0;
}

static int established(host_api_t *srv, struct lws *wsi, pss_t *pss)
{
    api_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->srv = srv;
    c->wsi = wsi;
    snprintf(c->peer, sizeof c->peer, "?");
    lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
    c->role = pss->pre_role;
    memcpy(c->token_id, pss->pre_id, sizeof c->token_id);
    c->opened_ms = api_now_ms();
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv->m.connections_total++;
    pss->conn = c;
    return 0;
}

static void conn_free(api_conn_t *c)
{
    host_api_t *srv = c->srv;
    unflush(c);
    while (c->subs != NULL)
        drop_sub(c->subs);
    queue_clear(&c->q);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->nconns--;
    free(c->rx.data);
    free(c);
}

static int receive(api_conn_t *c, struct lws *wsi, const char *in, size_t len)
{
    host_api_t *srv = c->srv;
    size_t max = srv->ctx->config->limits.max_message_bytes;
    int done = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (c->kill || c->overflowed)
        return 0;
    if (c->rx_dropped > 0 || c->rx.len + len > max) {
        c->rx_dropped += c->rx.len + len;
        c->rx.len = 0;
        if (!done)
            return 0;
        srv->m.oversized_total++;
        json_t *r = json_pack("{s:s, s:n, s:{s:i, s:s, s:{s:I, s:I}}}", "jsonrpc", "2.0", "id",
                              "error", "code", RPC_TOO_LARGE, "message",
                              "message too large (limits.max_message_bytes); it was dropped",
                              "data", "bytes", (json_int_t)c->rx_dropped, "limit",
                              (json_int_t)max);
        c->rx_dropped = 0;
        api_send_json(c, r);
        return 0;
    }
    if (host_buf_append(&c->rx, in, len, 4096) != 0)
        return -1;
    if (!done)
        return 0;
    c->rx.data[c->rx.len] = '\0';
    size_t n = c->rx.len;
    c->rx.len = 0;
    if (lws_frame_is_binary(wsi)) {
        api_send_json(c, json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", "error",
                                   "code", RPC_PARSE_ERROR, "message",
                                   "binary frames are not accepted: send JSON-RPC as text"));
        return 0;
    }
    api_rpc_message(c, c->rx.data, n);
    /* Keep big buffers from lingering after one large message. */
    if (c->rx.cap > 65536) {
        free(c->rx.data);
        c->rx.data = NULL;
        c->rx.cap = 0;
    }
    return 0;
}

static void mark_delivered(api_conn_t *c, const out_msg_t *m)
{
    for (api_sub_t *s = c->subs; s != NULL; s = s->next)
        if (strcmp(s->topic->session, m->session) == 0) {
            if (m->seq > s->delivered)
                s->delivered = m->seq;
            return;
        }
}

/* Writes a close frame with a status and reason; the caller then returns
 * -1. (lws_close_reason followed by -1 from a writeable callback drops the
 * socket without sending the frame in this lws.) */
static void close_with(struct lws *wsi, int status, const char *reason)
{
    unsigned char buf[LWS_PRE + 125];
    size_t n = strlen(reason);
    if (n > 123)
        n = 123;
    buf[LWS_PRE] = (unsigned char)((status >> 8) & 0xff);
    buf[LWS_PRE + 1] = (unsigned char)(status & 0xff);
    memcpy(buf + LWS_PRE + 2, reason, n);
    /* 4: lws's internal LWS_WRITE_CLOSE (not in the public enum) */
    lws_write(wsi, buf + LWS_PRE, n + 2, (enum lws_write_protocol)4);
}

/* The header of an unmasked, final text frame of len bytes (RFC 6455,
 * 5.2): its size, and the header itself at p. */
static size_t frame_header_len(size_t len)
{
    return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

static void frame_header(unsigned char *p, size_t len)
{
    p[0] = 0x81; /* FIN, text */
    if (len < 126) {
        p[1] = (unsigned char)len;
    } else if (len < 65536) {
        p[1] = 126;
        p[2] = (unsigned char)(len >> 8);
        p[3] = (unsigned char)len;
    } else {
        p[1] = 127;
        for (int i = 0; i < 8; i++)
            p[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
}

/* A frame starting at m: m alone, or, when m is batchable, m and the
 * batchable messages after it that fit in BATCH_BYTES, as one JSON-RPC
 * batch ("[m1,m2,...]"). Sets *count (messages) and returns the payload's
 * length. */
static size_t frame_of(const out_msg_t *m, size_t *count)
{
    *count = 1;
    if (!m->batchable || m->close_after || m->next == NULL || !m->next->batchable)
        return m->len;
    size_t len = 1 + m->len; /* "[" m1 */
    for (const out_msg_t *x = m->next;
         x != NULL && x->batchable && !x->close_after && len + 2 + x->len <= BATCH_BYTES;
         x = x->next) {
        len += 1 + x->len; /* "," x */
        (*count)++;
    }
    return *count == 1 ? m->len : len + 1; /* "]" */
}

/* Which queued messages the next write takes: whole frames from the head,
 * up to BATCH_BYTES in all (at least one frame). A message to close after
 * ends the run; a direct write (direct: not from lws' writeable callback,
 * which alone can close) stops before it. */
typedef struct write_plan {
    size_t messages, frames, bytes; /* bytes: with the frame headers */
    int closing;
} write_plan_t;

static void plan_write(const out_queue_t *q, int direct, write_plan_t *p)
{
    memset(p, 0, sizeof *p);
    for (const out_msg_t *m = q->head; m != NULL && !p->closing;) {
        size_t count, len = frame_of(m, &count);
        size_t fl = frame_header_len(len) + len;
        if (p->frames > 0 && p->bytes + fl > BATCH_BYTES)
            break;
        if (direct && m->close_after)
            break;
        p->frames++;
        p->messages += count;
        p->bytes += fl;
        for (size_t i = 0; i < count; i++, m = m->next)
            p->closing = m->close_after;
    }
}

/* Builds the planned frames and hands them to the socket in one write; a
 * run of one single-message frame is framed in place, in the message's
 * LWS_PRE headroom. Returns what lws_write returns, or -2 when no buffer
 * could be had (nothing written). */
static int write_run(api_conn_t *c, struct lws *wsi, const write_plan_t *p)
{
    out_msg_t *m = c->q.head;
    if (p->messages == 1) {
        unsigned char *h = m->buf + LWS_PRE - frame_header_len(m->len);
        frame_header(h, m->len);
        return lws_write(wsi, h, p->bytes, LWS_WRITE_RAW);
    }
    unsigned char *out = malloc(LWS_PRE + p->bytes);
    if (out == NULL)
        return -2;
    unsigned char *o = out + LWS_PRE;
    for (size_t f = 0; f < p->frames; f++) {
        size_t count, len = frame_of(m, &count);
        frame_header(o, len);
        o += frame_header_len(len);
        if (count > 1)
            *o++ = '[';
        for (size_t i = 0; i < count; i++, m = m->next) {
            if (i > 0)
                *o++ = ',';
            memcpy(o, m->buf + LWS_PRE, m->len);
            o += m->len;
        }
        if (count > 1)
            *o++ = ']';
    }
    int w = lws_write(wsi, out + LWS_PRE, p->bytes, LWS_WRITE_RAW);
    free(out);
    return w;
}

enum { DRAIN_OK, DRAIN_FAILED, DRAIN_CLOSE };

/* Writes the queue while the socket takes it, up to WRITE_BUDGET bytes:
 * runs of whole frames, up to BATCH_BYTES each, in one write, so a burst of
 * events costs a few system calls rather than one per message. The frames
 * are built here (not by lws_write(LWS_WRITE_TEXT), which writes one frame
 * per call); lws still owns the socket: a partial write is kept in lws'
 * buffer and sent first, and lws_send_pipe_choked says so until it is.
 * DRAIN_CLOSE: the message to close after went out (never when direct). */
static int drain(api_conn_t *c, struct lws *wsi, int direct)
{
    size_t budget = 0;
    while (c->q.head != NULL && budget < WRITE_BUDGET) {
        write_plan_t p;
        plan_write(&c->q, direct, &p);
        if (p.messages == 0)
            break; /* direct, and a close is next: the callback's */
        int w = write_run(c, wsi, &p);
        if (w == -2) { /* no memory for a run: one message on its own */
            size_t len = c->q.head->len;
            p = (write_plan_t){1, 1, frame_header_len(len) + len, c->q.head->close_after};
            w = write_run(c, wsi, &p);
        }
        if (w < (int)p.bytes)
            return DRAIN_FAILED;
        budget += p.bytes;
        for (size_t i = 0; i < p.messages; i++) {
            out_msg_t *m = queue_pop(&c->q);
            if (m->seq != 0) {
                mark_delivered(c, m);
                c->srv->m.events_sent_total++;
            }
            free(m);
        }
        if (p.closing)
            return DRAIN_CLOSE;
        if (lws_send_pipe_choked(wsi))
            break;
    }
    pump_replays(c);
    if (c->q.head != NULL)
        lws_callback_on_writable(wsi);
    return DRAIN_OK;
}

/* lws' writeable callback: what a direct write left (a full socket, a
 * close) and the paged replays. */
static int writable(api_conn_t *c, struct lws *wsi)
{
    if (c->kill) {
        close_with(wsi, c->kill_status, c->kill_reason);
        return -1;
    }
    int rc = drain(c, wsi, 0);
    if (rc == DRAIN_CLOSE) {
        /* After its last message: a slow client's notice, an answer
         * before a close (auth failed, token revoked), or shutdown. */
        static const char slow[] = "slow client: resume from last_seq";
        int status = c->kill_status != 0 ? c->kill_status : LWS_CLOSE_STATUS_POLICY_VIOLATION;
        close_with(wsi, status, c->kill_reason[0] != '\0' ? c->kill_reason : slow);
        return -1;
    }
    return rc == DRAIN_FAILED ? -1 : 0;
}

/* The flush list, at the start of a loop turn (outside every lws
 * callback): each connection's queue goes straight to its socket when the
 * socket can take it; otherwise lws calls writable() when it can. */
static void on_flush(uv_idle_t *h)
{
    host_api_t *srv = h->data;
    api_conn_t *c;
    while ((c = srv->flush_head) != NULL) {
        srv->flush_head = c->flush_next;
        c->flush_queued = 0;
        c->flush_next = NULL;
        struct lws *wsi = c->wsi;
        if (wsi == NULL || c->q.head == NULL)
            continue;
        if (c->kill || lws_send_pipe_choked(wsi)) {
            lws_callback_on_writable(wsi);
            continue;
        }
        if (drain(c, wsi, 1) == DRAIN_FAILED) {
            /* The socket failed: lws closes it on its next turn (CLOSED
             * frees the connection); nothing more is queued for it. */
            c->kill = 1;
            queue_clear(&c->q);
            lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
    }
    uv_idle_stop(h);
}

/* ---- HTTP ---- */

static int http_reply(struct lws *wsi, unsigned status, const char *ctype, const char *body,
                      size_t len)
{
    unsigned char hdr[LWS_PRE + 1024], *start = hdr + LWS_PRE, *p = start,
                                       *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    unsigned char *buf = malloc(LWS_PRE + len + 1);
    if (buf == NULL)
        return -1;
    memcpy(buf + LWS_PRE, body, len);
    int n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    if (n < (int)len)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int serve_http(host_api_t *srv, struct lws *wsi, const char *uri)
{
    if (uri == NULL)
        uri = "";
    if (strcmp(uri, "/healthz") == 0) {
        char body[160];
        int n = snprintf(body, sizeof body,
                         "{\"status\":\"ok\",\"version\":\"%s\",\"connections\":%zu}\n",
                         AGENTD_VERSION, srv->nconns);
        return http_reply(wsi, HTTP_STATUS_OK, "application/json", body, (size_t)n);
    }
    if (strcmp(uri, "/metrics") == 0) {
        size_t len = 0;
        char *text = api_metrics_text(srv, &len);
        if (text == NULL)
            return http_reply(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain",
                              "out of memory\n", 14);
        int rc = http_reply(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4", text, len);
        free(text);
        return rc;
    }
    static const char nf[] = "not found: this server has /healthz, /metrics and the WebSocket "
                             "API (docs/protocol.md)\n";
    return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", nf, sizeof nf - 1);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *lc = lws_get_context(wsi);
    host_api_t *srv = lc != NULL ? lws_context_user(lc) : NULL;
    pss_t *pss = user;
    if (srv == NULL)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return serve_http(srv, wsi, in);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return pss != NULL ? filter(srv, wsi, pss) : -1;
    case LWS_CALLBACK_ESTABLISHED:
        return pss != NULL ? established(srv, wsi, pss) : -1;
    case LWS_CALLBACK_RECEIVE:
        if (pss == NULL || pss->conn == NULL)
            return -1;
        return receive(pss->conn, wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss == NULL || pss->conn == NULL)
            return -1;
        return writable(pss->conn, wsi);
    case LWS_CALLBACK_CLOSED:
        if (pss != NULL && pss->conn != NULL) {
            pss->conn->wsi = NULL;
            conn_free(pss->conn);
            pss->conn = NULL;
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- the timer: authentication deadline, revoked tokens ---- */

static void on_timer(uv_timer_t *t)
{
    host_api_t *srv = t->data;
    uint64_t now = api_now_ms();
    uint64_t deadline = (uint64_t)srv->ctx->config->api.handshake_timeout_s * 1000;
    for (api_conn_t *c = srv->conns; c != NULL; c = c->next) {
        if (c->kill)
            continue;
        if (c->role == HOST_API_ROLE_NONE) {
            if (now - c->opened_ms >= deadline)
                api_kill(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         "not authenticated within api.handshake_timeout_s");
        } else if (host_api_token_revoked(srv->rt->db, c->token_id) == 1) {
            srv->m.revoked_closed_total++;
            api_kill(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "token revoked");
        }
    }
}

static void lws_log_line(int level, const char *line)
{
    (void)level;
    fprintf(stderr, "lws: %s", line);
}

int host_api_start(host_ctx_t *ctx, host_runtime_t *rt, host_api_t **out, agentd_err_t *err)
{
    *out = NULL;
    agentd_err_t e2 = {{0}};
    int rc = host_api_tokens_init(rt->db, &e2);
    if (rc != 0)
        return agentd_err_set(err, rc, "api: %s", e2.msg);
    host_api_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "api: out of memory");
    const host_api_config_t *cfg = &ctx->config->api;
    srv->ctx = ctx;
    srv->rt = rt;
    srv->port = ctx->config->listen_port;
    srv->retry.secs_since_valid_ping = (uint16_t)cfg->ping_interval_s;
    srv->retry.secs_since_valid_hangup =
        (uint16_t)(cfg->idle_timeout_s > 65535 ? 65535 : cfg->idle_timeout_s);
    srv->protocols[0].name = "agentd";
    srv->protocols[0].callback = callback;
    srv->protocols[0].per_session_data_size = sizeof(pss_t);
    srv->protocols[0].rx_buffer_size = 65536;
    srv->foreign_loops[0] = &ctx->loop;

    lws_set_log_level(LLL_ERR, lws_log_line);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = ctx->config->listen_port;
    info.iface = ctx->config->listen_address;
    info.protocols = srv->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    if (strchr(ctx->config->listen_address, ':') != NULL)
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->tls_cert != NULL && cfg->tls_key != NULL) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    if (cfg->static_dir != NULL) {
        srv->mount.mountpoint = "/ui";
        srv->mount.mountpoint_len = 3;
        srv->mount.origin = cfg->static_dir;
        srv->mount.origin_protocol = LWSMPRO_FILE;
        srv->mount.def = "index.html";
        info.mounts = &srv->mount;
    }
    info.foreign_loops = srv->foreign_loops;
    info.user = srv;
    info.timeout_secs = cfg->handshake_timeout_s;
    info.keepalive_timeout = (int)cfg->handshake_timeout_s;
    info.timeout_secs_ah_idle = cfg->handshake_timeout_s;
    info.retry_and_idle_policy = &srv->retry;
    info.count_threads = 1;
    info.fd_limit_per_thread = cfg->max_connections + 64;
    srv->lws = lws_create_context(&info);
    struct lws_vhost *vh = srv->lws != NULL ? lws_create_vhost(srv->lws, &info) : NULL;
    if (vh == NULL) {
        if (srv->lws != NULL)
            lws_context_destroy(srv->lws);
        free(srv);
        return agentd_err_set(err, AGENTD_EIO,
                              "api: cannot listen on %s:%d (in use, or not an address of "
                              "this host?%s); set listen.address and listen.port",
                              ctx->config->listen_address, ctx->config->listen_port,
                              cfg->tls_cert != NULL
                                  ? " or api.tls_cert / api.tls_key cannot be loaded"
                                  : "");
    }
    rc = host_event_log_listen(rt->log, on_event, srv, &srv->listener);
    if (rc != 0) {
        lws_context_destroy(srv->lws);
        free(srv);
        return agentd_err_set(err, rc, "api: cannot listen to the event log");
    }
    uv_timer_init(&ctx->loop, &srv->timer);
    srv->timer.data = srv;
    srv->timer_open = 1;
    uv_idle_init(&ctx->loop, &srv->flush);
    srv->flush.data = srv;
    srv->flush_open = 1;
    unsigned every = cfg->token_recheck_ms;
    if (every > 1000)
        every = 1000; /* the authentication deadline is checked as often */
    uv_timer_start(&srv->timer, on_timer, every, every);
    uv_unref((uv_handle_t *)&srv->timer);
    int tls = cfg->tls_cert != NULL;
    host_log(&ctx->log, AGENTD_LOG_INFO, COMPONENT,
             "WebSocket API on %s://%s:%d (JSON-RPC 2.0; /healthz, /metrics%s%s)",
             tls ? "wss" : "ws", ctx->config->listen_address, ctx->config->listen_port,
             cfg->static_dir != NULL ? ", /ui/ from " : "",
             cfg->static_dir != NULL ? cfg->static_dir : "");
    *out = srv;
    return 0;
}

int host_api_port(const host_api_t *api)
{
    return api->port;
}

static void on_grace_timer(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* Every open WebSocket is closed with 1001 (going away) after what is
 * queued for it already; the loop runs until each is closed, for at most
 * half of limits.shutdown_timeout_ms (the rest is the daemon's), and lws
 * drops whatever is left. A connection already on its way out (slow
 * client, revoked token) keeps its own close. */
static void say_goodbye(host_api_t *srv)
{
    static const char why[] = "server shutting down";
    for (api_conn_t *c = srv->conns; c != NULL; c = c->next) {
        if (c->kill || c->overflowed || (c->q.tail != NULL && c->q.tail->close_after))
            continue;
        if (c->q.tail == NULL) {
            api_kill(c, LWS_CLOSE_STATUS_GOINGAWAY, why);
            continue;
        }
        c->kill_status = LWS_CLOSE_STATUS_GOINGAWAY;
        snprintf(c->kill_reason, sizeof c->kill_reason, "%s", why);
        c->q.tail->close_after = 1;
        want_write(c);
    }
    uv_timer_t *grace = srv->conns != NULL ? malloc(sizeof *grace) : NULL;
    if (grace == NULL)
        return;
    int expired = 0;
    uv_timer_init(&srv->ctx->loop, grace);
    grace->data = &expired;
    uv_timer_start(grace, on_grace_timer, srv->ctx->config->limits.shutdown_timeout_ms / 2, 0);
    while (srv->conns != NULL && !expired)
        uv_run(&srv->ctx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)grace, free_handle);
}

void host_api_stop(host_api_t *api)
{
    if (api == NULL || api->stopped)
        return;
    api->stopped = 1; /* new connections are refused from here on */
    if (api->listener != NULL)
        host_event_log_unlisten(api->rt->log, api->listener);
    api->listener = NULL;
    if (api->timer_open)
        uv_close((uv_handle_t *)&api->timer, NULL);
    api->timer_open = 0;
    say_goodbye(api);
    /* From here on queues are written by lws' callbacks only. */
    while (api->flush_head != NULL)
        unflush(api->flush_head);
    if (api->flush_open)
        uv_close((uv_handle_t *)&api->flush, NULL);
    api->flush_open = 0;
    /* Closes every connection (CLOSED frees each) and starts closing lws'
     * handles on the host loop; host_api_free finishes it. */
    lws_context_destroy(api->lws);
}

void host_api_free(host_api_t *api)
{
    if (api == NULL)
        return;
    host_api_stop(api);
    /* With a foreign loop the first destroy only starts closing lws' handles;
     * once the loop has run them to the end, a second call frees the
     * context. */
    if (api->lws != NULL)
        lws_context_destroy(api->lws);
    api->lws = NULL;
    while (api->topics != NULL) {
        api_topic_t *t = api->topics;
        api->topics = t->next;
        free(t);
    }
    free(api);
}
