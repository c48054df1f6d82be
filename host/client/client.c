/* The API client: libwebsockets' client side on its own loop (client.h). */
#include "client/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include <time.h>

#include <libwebsockets.h>

#define RX_MAX (256u * 1024 * 1024)
#define HOST_CLIENT_AUTH_MAX 256

typedef struct in_msg {
    struct in_msg *next;
    json_t *v;
} in_msg_t;

typedef struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char buf[];
} cout_msg_t;

struct host_client {
    struct lws_context *lws;
    struct lws *wsi;
    struct lws_protocols protocols[2];
    char host[256];
    char path[512];
    int port;
    int tls;
    char auth[HOST_CLIENT_AUTH_MAX];
    int state; /* 0 connecting, 1 open, 2 closed */
    int refused_status;
    char why[256];
    cout_msg_t *out_head, *out_tail;
    in_msg_t *in_head, *in_tail;
    host_buf_t rx;
    json_int_t next_id;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void inbox_push(host_client_t *c, json_t *v)
{
    in_msg_t *m = malloc(sizeof *m);
    if (m == NULL) {
        json_decref(v);
        return;
    }
    m->v = v;
    m->next = NULL;
    if (c->in_tail != NULL)
        c->in_tail->next = m;
    else
        c->in_head = m;
    c->in_tail = m;
}

static int on_rx(host_client_t *c, struct lws *wsi, const char *in, size_t len)
{
    if (c->rx.len + len + 1 > RX_MAX)
        return -1;
    if (host_buf_append(&c->rx, in, len, 8192) != 0)
        return -1;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
        return 0;
    json_t *v = json_loadb(c->rx.data, c->rx.len, 0, NULL);
    c->rx.len = 0;
    if (json_is_array(v)) {
        /* A JSON-RPC batch of notifications (subscribed with batch: true):
         * each is its own message, in order. */
        size_t i;
        json_t *n;
        json_array_foreach(v, i, n)
            inbox_push(c, json_incref(n));
        json_decref(v);
    } else if (v != NULL) {
        inbox_push(c, v);
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *lc = lws_get_context(wsi);
    host_client_t *c = lc != NULL ? lws_context_user(lc) : NULL;
    (void)user;
    if (c == NULL)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (c->auth[0] == '\0')
            break;
        unsigned char **p = in, *end = *p + len;
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (unsigned char *)c->auth, (int)strlen(c->auth), p, end))
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->state = 1;
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        c->state = 2;
        c->wsi = NULL;
        c->refused_status = (int)lws_http_client_http_response(wsi);
        snprintf(c->why, sizeof c->why, "%s", in != NULL ? (const char *)in : "connection failed");
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_rx(c, wsi, in, len);
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        cout_msg_t *m = c->out_head;
        if (m == NULL)
            break;
        c->out_head = m->next;
        if (c->out_head == NULL)
            c->out_tail = NULL;
        int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        if (c->out_head != NULL)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            snprintf(c->why, sizeof c->why, "closed by the server (%u%s%.*s)",
                     (unsigned)(b[0] << 8 | b[1]), len > 2 ? ": " : "", (int)(len - 2),
                     (const char *)b + 2);
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        c->state = 2;
        c->wsi = NULL;
        if (c->why[0] == '\0')
            snprintf(c->why, sizeof c->why, "the connection closed");
        break;
    default:
        break;
    }
    return 0;
}

static int parse_url(host_client_t *c, const char *url, agentd_err_t *err)
{
    const char *p;
    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
        c->port = 80;
    } else if (strncmp(url, "wss://", 6) == 0) {
        p = url + 6;
        c->tls = 1;
        c->port = 443;
    } else {
        return agentd_err_set(err, AGENTD_EINVAL,
                              "server URL \"%.200s\": must start with ws:// or wss://", url);
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof c->host)
        return agentd_err_set(err, AGENTD_EINVAL, "server URL \"%.200s\": no host", url);
    memcpy(c->host, p, hl);
    c->host[hl] = '\0';
    p += hl;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535 || (*end != '/' && *end != '\0'))
            return agentd_err_set(err, AGENTD_EINVAL, "server URL \"%.200s\": bad port", url);
        c->port = (int)port;
        p = end;
    }
    snprintf(c->path, sizeof c->path, "%s", *p == '/' ? p : "/");
    return 0;
}

static void lws_quiet(int level, const char *line)
{
    (void)level;
    (void)line;
}

int host_client_open(const char *url, const char *token, int timeout_ms, host_client_t **out,
                     agentd_err_t *err)
{
    *out = NULL;
    host_client_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    int rc = parse_url(c, url, err);
    if (rc != 0) {
        free(c);
        return rc;
    }
    if (token != NULL && token[0] != '\0') {
        if (strlen(token) + 8 > sizeof c->auth) {
            free(c);
            return agentd_err_set(err, AGENTD_EINVAL, "the token is too long to be one");
        }
        snprintf(c->auth, sizeof c->auth, "Bearer %s", token);
    }
    c->protocols[0].name = "agentd";
    c->protocols[0].callback = callback;
    c->protocols[0].rx_buffer_size = 65536;
    lws_set_log_level(LLL_ERR, lws_quiet);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = c->protocols;
    info.user = c;
    if (c->tls)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    c->lws = lws_create_context(&info);
    if (c->lws == NULL) {
        free(c);
        return agentd_err_set(err, AGENTD_ENOMEM, "cannot set up the WebSocket client");
    }
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = c->lws;
    ci.address = c->host;
    ci.port = c->port;
    ci.path = c->path;
    ci.host = c->host;
    ci.origin = c->host;
    ci.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0;
    ci.pwsi = &c->wsi;
    if (lws_client_connect_via_info(&ci) == NULL && c->state != 2) {
        host_client_close(c);
        return agentd_err_set(err, AGENTD_EUNAVAIL, "cannot connect to %s", url);
    }
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    while (c->state == 0 && mono_ms() < deadline)
        lws_service(c->lws, 50);
    if (c->state == 1) {
        *out = c;
        return 0;
    }
    if (c->state == 0)
        rc = agentd_err_set(err, AGENTD_ETIMEDOUT, "no answer from %s in %d ms", url, timeout_ms);
    else if (c->refused_status == 401)
        rc = agentd_err_set(err, AGENTD_EPERM,
                            "%s refused the token (401): wrong, revoked or missing; give one "
                            "with --token or AGENTD_TOKEN",
                            url);
    else if (c->refused_status != 0)
        rc = agentd_err_set(err, AGENTD_EUNAVAIL, "%s refused the connection (HTTP %d)", url,
                            c->refused_status);
    else
        rc = agentd_err_set(err, AGENTD_EUNAVAIL, "cannot connect to %s: %s", url, c->why);
    host_client_close(c);
    return rc;
}

static int send_text(host_client_t *c, const char *text, size_t len)
{
    cout_msg_t *m = malloc(sizeof *m + LWS_PRE + len);
    if (m == NULL)
        return AGENTD_ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->buf + LWS_PRE, text, len);
    if (c->out_tail != NULL)
        c->out_tail->next = m;
    else
        c->out_head = m;
    c->out_tail = m;
    if (c->wsi != NULL)
        lws_callback_on_writable(c->wsi);
    return 0;
}

/* Takes the first inbox message matching: id (>0) or any notification. */
static json_t *inbox_take(host_client_t *c, json_int_t id)
{
    for (in_msg_t **pp = &c->in_head, *prev = NULL; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
        in_msg_t *m = *pp;
        json_t *mid = json_object_get(m->v, "id");
        int match = id > 0 ? (json_is_integer(mid) && json_integer_value(mid) == id)
                           : json_object_get(m->v, "method") != NULL;
        if (!match)
            continue;
        *pp = m->next;
        if (c->in_tail == m)
            c->in_tail = prev;
        json_t *v = m->v;
        free(m);
        return v;
    }
    return NULL;
}

int host_client_call(host_client_t *c, const char *method, json_t *params, int timeout_ms,
                     json_t **result, json_t **error, agentd_err_t *err)
{
    *result = NULL;
    if (error != NULL)
        *error = NULL;
    if (c->state != 1)
        return agentd_err_set(err, AGENTD_ECLOSED, "%s", c->why);
    json_int_t id = ++c->next_id;
    json_t *req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", id, "method", method);
    if (req == NULL || (params != NULL && json_object_set(req, "params", params) != 0)) {
        json_decref(req);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (text == NULL || send_text(c, text, strlen(text)) != 0) {
        free(text);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    free(text);
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    json_t *resp;
    while ((resp = inbox_take(c, id)) == NULL) {
        if (c->state != 1)
            return agentd_err_set(err, AGENTD_ECLOSED, "%s", c->why);
        if (mono_ms() >= deadline)
            return agentd_err_set(err, AGENTD_ETIMEDOUT, "no answer to %s in %d ms", method,
                                  timeout_ms);
        lws_service(c->lws, 50);
    }
    json_t *e = json_object_get(resp, "error");
    if (e != NULL) {
        agentd_err_set(err, AGENTD_EPROTO, "%s", json_string_value(json_object_get(e, "message")));
        if (error != NULL)
            *error = json_incref(e);
        json_decref(resp);
        return AGENTD_EPROTO;
    }
    *result = json_incref(json_object_get(resp, "result"));
    json_decref(resp);
    if (*result == NULL)
        return agentd_err_set(err, AGENTD_EPROTO, "an answer with no result");
    return 0;
}

int host_client_next(host_client_t *c, int timeout_ms, json_t **note, agentd_err_t *err)
{
    *note = NULL;
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        json_t *v = inbox_take(c, 0);
        if (v != NULL) {
            *note = v;
            return 0;
        }
        if (c->state != 1)
            return agentd_err_set(err, AGENTD_ECLOSED, "%s", c->why);
        if (mono_ms() >= deadline)
            return AGENTD_ETIMEDOUT;
        lws_service(c->lws, 50);
    }
}

void host_client_close(host_client_t *c)
{
    if (c == NULL)
        return;
    if (c->lws != NULL)
        lws_context_destroy(c->lws);
    while (c->in_head != NULL) {
        in_msg_t *m = c->in_head;
        c->in_head = m->next;
        json_decref(m->v);
        free(m);
    }
    while (c->out_head != NULL) {
        cout_msg_t *m = c->out_head;
        c->out_head = m->next;
        free(m);
    }
    free(c->rx.data);
    free(c);
}
