/*
 * The attached stdio of one exec: POST /exec/{id}/start upgraded to a raw
 * connection ("hijacked"), then stdin written to it and the multiplexed
 * stdout/stderr frames read from it, demultiplexed into two streams.
 *
 * Backpressure both ways: a reader that says "not now" (read_stop) stops
 * the reading of the connection, so the engine stops reading the command's
 * pipes; bytes already received wait in a buffer of at most RAW_MAX. Stdin
 * writes queue up to WRITE_HWM, then AGENTD_EAGAIN.
 */
#define _GNU_SOURCE
#include "dk.h"

#include "retry.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RAW_MAX (256u * 1024u)   /* received, not yet delivered */
#define RECV_CHUNK (64u * 1024u)
#define WRITE_HWM (1u << 20)     /* stdin queued past this: AGENTD_EAGAIN */
#define HEAD_MAX 16384

typedef struct wreq {
    struct wreq *next;
    char *data;
    size_t len, off;
    agentd_write_cb cb;
    void *ud;
} wreq_t;

typedef struct dk_side {
    dk_conn_t *c;
    agentd_read_cb cb;
    void *ud;
    int reading, closed, eof_done;
} dk_side_t;

struct dk_conn {
    dk_plugin_t *pl;
    dk_conn_t *next;           /* the plugin's open connections */
    CURL *curl;
    int fd;
    agentd_poll_t *poll;
    unsigned events;
    agentd_timer_t *kick;
    dk_demux_t demux;
    char *raw;
    size_t raw_len, raw_cap;
    wreq_t *wq, *wq_tail;
    size_t queued;
    int shutdown_wanted, write_shut;
    int attached, eof, end_reported, owner_gone;
    int end_status;
    int refs;
    dk_side_t in, out, err;
    dk_conn_end_cb end;
    void *end_ud;
};

static void update_poll(dk_conn_t *c);
static void schedule_kick(dk_conn_t *c);

/* ---- lifetime ----------------------------------------------------------- */

static void fail_writes(dk_conn_t *c, int status)
{
    while (c->wq != NULL) {
        wreq_t *w = c->wq;
        c->wq = w->next;
        c->queued -= w->len - w->off;
        agentd_write_cb cb = w->cb;
        void *ud = w->ud;
        explicit_bzero(w->data, w->len); /* stdin may carry secrets */
        free(w->data);
        free(w);
        if (cb != NULL)
            cb(ud, status);
    }
    c->wq_tail = NULL;
    c->queued = 0;
}

static void unref(dk_conn_t *c)
{
    if (--c->refs > 0)
        return;
    const agentd_host_api_t *api = c->pl->api;
    api->poll_close(c->poll);
    api->timer_close(c->kick);
    fail_writes(c, AGENTD_ECANCELED);
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl); /* closes the socket */
    c->pl->conns_open--;
    for (dk_conn_t **p = &c->pl->conns; *p != NULL; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    free(c->raw);
    free(c);
}

void dk_conn_forget_all(dk_plugin_t *pl)
{
    while (pl->conns != NULL) {
        dk_conn_t *c = pl->conns;
        c->refs = 1; /* whoever still holds a stream is past its lifetime */
        c->owner_gone = 1;
        unref(c);
    }
}

/* ---- reading -------------------------------------------------------------- */

static int accepting(const dk_side_t *s)
{
    return s->closed || (s->reading && s->cb != NULL);
}

static int sink(void *ud, int stream, const char *data, size_t len)
{
    dk_conn_t *c = ud;
    dk_side_t *s = stream == 1 ? &c->out : &c->err; /* 2 stderr, 3 engine error */
    if (s->closed)
        return 0; /* nobody wants it: dropped */
    if (!accepting(s))
        return 1;
    s->cb(s->ud, data, len, 0);
    return 0;
}

static void send_eof(dk_conn_t *c, dk_side_t *s)
{
    if (s->closed || s->eof_done || !accepting(s))
        return;
    s->eof_done = 1;
    s->cb(s->ud, NULL, 0, c->end_status != 0 && c->end_status != AGENTD_EOF ? c->end_status
                                                                            : AGENTD_EOF);
}

static void report_end(dk_conn_t *c)
{
    if (c->end_reported)
        return;
    c->end_reported = 1;
    if (!c->owner_gone && c->end != NULL)
        c->end(c->end_ud, c->end_status);
}

/* Hand received bytes to the readers, as far as they take them. */
static void deliver(dk_conn_t *c)
{
    c->refs++; /* a read callback may close streams */
    while (c->raw_len > 0 && accepting(&c->out) && accepting(&c->err)) {
        long n = dk_demux_feed(&c->demux, c->raw, c->raw_len, sink, c);
        if (n < 0) {
            c->raw_len = 0;
            c->eof = 1;
            c->end_status = AGENTD_EPROTO;
            break;
        }
        memmove(c->raw, c->raw + n, c->raw_len - (size_t)n);
        c->raw_len -= (size_t)n;
        if (n == 0)
            break;
    }
    if (c->eof && c->raw_len == 0) {
        send_eof(c, &c->out);
        send_eof(c, &c->err);
        report_end(c);
    }
    update_poll(c);
    unref(c);
}

static int grow_raw(dk_conn_t *c, size_t want)
{
    if (c->raw_cap >= want)
        return 0;
    size_t cap = c->raw_cap ? c->raw_cap : RECV_CHUNK;
    while (cap < want)
        cap *= 2;
    char *r = realloc(c->raw, cap);
    if (r == NULL)
        return -1;
    c->raw = r;
    c->raw_cap = cap;
    return 0;
}

static void pump_read(dk_conn_t *c)
{
    for (int i = 0; i < 16 && !c->eof && c->raw_len < RAW_MAX; i++) {
        if (!accepting(&c->out) || !accepting(&c->err))
            break;
        if (grow_raw(c, c->raw_len + RECV_CHUNK) < 0) {
            c->eof = 1;
            c->end_status = AGENTD_ENOMEM;
            break;
        }
        size_t n = 0;
        CURLcode cc = curl_easy_recv(c->curl, c->raw + c->raw_len, RECV_CHUNK, &n);
        if (cc == CURLE_AGAIN)
            break;
        if (cc != CURLE_OK || n == 0) {
            c->eof = 1;
            if (cc != CURLE_OK)
                c->end_status = AGENTD_EIO;
            break;
        }
        c->raw_len += n;
        deliver(c);
    }
    deliver(c);
}

/* ---- writing -------------------------------------------------------------- */

static void pump_write(dk_conn_t *c)
{
    if (!c->attached || c->curl == NULL)
        return;
    while (c->wq != NULL) {
        wreq_t *w = c->wq;
        size_t n = 0;
        CURLcode cc = curl_easy_send(c->curl, w->data + w->off, w->len - w->off, &n);
        if (cc == CURLE_AGAIN)
            break;
        if (cc != CURLE_OK) {
            fail_writes(c, AGENTD_EIO);
            break;
        }
        w->off += n;
        c->queued -= n;
        if (w->off < w->len)
            continue;
        c->wq = w->next;
        if (c->wq == NULL)
            c->wq_tail = NULL;
        agentd_write_cb cb = w->cb;
        void *ud = w->ud;
        explicit_bzero(w->data, w->len);
        free(w->data);
        free(w);
        if (cb != NULL)
            cb(ud, 0);
    }
    if (c->wq == NULL && c->shutdown_wanted && !c->write_shut && c->fd >= 0) {
        /* End of stdin for the command; the engine keeps sending output. */
        shutdown(c->fd, SHUT_WR);
        c->write_shut = 1;
    }
}

/* ---- the loop side -------------------------------------------------------- */

static void on_poll(void *ud, int fd, unsigned revents, int status)
{
    dk_conn_t *c = ud;
    (void)fd;
    c->refs++;
    if (status < 0) {
        c->eof = 1;
        c->end_status = AGENTD_EIO;
    }
    if (revents & AGENTD_POLL_WRITE)
        pump_write(c);
    if (revents & (AGENTD_POLL_READ | AGENTD_POLL_HUP))
        pump_read(c);
    else
        deliver(c);
    unref(c);
}

static void update_poll(dk_conn_t *c)
{
    if (!c->attached || c->fd < 0)
        return;
    unsigned ev = 0;
    if (!c->eof && c->raw_len < RAW_MAX && accepting(&c->out) && accepting(&c->err))
        ev |= AGENTD_POLL_READ;
    if (c->wq != NULL && !c->eof)
        ev |= AGENTD_POLL_WRITE;
    if (ev == c->events && c->poll != NULL)
        return;
    c->events = ev;
    if (c->poll != NULL)
        c->pl->api->poll_update(c->poll, ev);
    else if (c->pl->api->poll_start(c->pl->host, c->fd, ev, on_poll, c, &c->poll) != 0) {
        c->eof = 1;
        c->end_status = AGENTD_EIO;
        schedule_kick(c);
    }
}

static void on_kick(void *ud)
{
    dk_conn_t *c = ud;
    c->pl->api->timer_close(c->kick);
    c->kick = NULL;
    c->refs++;
    if (c->attached && c->curl != NULL) {
        pump_write(c);
        pump_read(c); /* TLS may hold decrypted bytes the poll cannot see */
    } else {
        deliver(c);
    }
    unref(c);
}

static void schedule_kick(dk_conn_t *c)
{
    if (c->kick == NULL)
        c->pl->api->timer_start(c->pl->host, 0, 0, on_kick, c, &c->kick);
}

/* ---- stream ops ------------------------------------------------------------- */

static int op_read_start(void *impl, agentd_read_cb cb, void *ud)
{
    dk_side_t *s = impl;
    if (s->closed || s == &s->c->in)
        return AGENTD_ECLOSED;
    s->cb = cb;
    s->ud = ud;
    s->reading = 1;
    schedule_kick(s->c); /* never inside read_start itself */
    return 0;
}

static int op_read_stop(void *impl)
{
    dk_side_t *s = impl;
    s->reading = 0;
    update_poll(s->c);
    return 0;
}

static int op_write(void *impl, const void *data, size_t len, agentd_write_cb cb, void *ud)
{
    dk_side_t *s = impl;
    dk_conn_t *c = s->c;
    if (s != &c->in || s->closed || c->shutdown_wanted || c->eof)
        return AGENTD_ECLOSED;
    if (c->queued >= WRITE_HWM)
        return AGENTD_EAGAIN;
    wreq_t *w = calloc(1, sizeof *w);
    char *copy = malloc(len ? len : 1);
    if (w == NULL || copy == NULL) {
        free(w);
        free(copy);
        return AGENTD_ENOMEM;
    }
    memcpy(copy, data, len);
    *w = (wreq_t){NULL, copy, len, 0, cb, ud};
    if (c->wq_tail != NULL)
        c->wq_tail->next = w;
    else
        c->wq = w;
    c->wq_tail = w;
    c->queued += len;
    if (c->attached)
        schedule_kick(c);
    return 0;
}

static size_t op_queue_size(void *impl)
{
    dk_side_t *s = impl;
    return s->c->queued;
}

static int op_shutdown(void *impl)
{
    dk_side_t *s = impl;
    dk_conn_t *c = s->c;
    if (s != &c->in || s->closed)
        return AGENTD_ECLOSED;
    c->shutdown_wanted = 1;
    if (c->attached)
        schedule_kick(c);
    return 0;
}

static void op_close(void *impl, agentd_close_cb cb, void *ud)
{
    dk_side_t *s = impl;
    dk_conn_t *c = s->c;
    if (!s->closed) {
        s->closed = 1;
        s->reading = 0;
        if (s == &c->in) {
            fail_writes(c, AGENTD_ECANCELED);
            c->shutdown_wanted = 1;
            if (c->attached)
                pump_write(c);
        } else {
            schedule_kick(c); /* the other reader may be waiting on this one */
        }
    }
    if (cb != NULL)
        cb(ud);
    unref(c);
}

static const agentd_stream_ops_t ops = {
    .size = sizeof(agentd_stream_ops_t),
    .read_start = op_read_start,
    .read_stop = op_read_stop,
    .write = op_write,
    .write_queue_size = op_queue_size,
    .shutdown = op_shutdown,
    .close = op_close,
};

dk_conn_t *dk_conn_new(dk_plugin_t *pl, agentd_exec_io_t *io, dk_conn_end_cb end, void *ud)
{
    dk_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->pl = pl;
    c->fd = -1;
    c->end = end;
    c->end_ud = ud;
    c->refs = 4; /* three streams and the owner */
    c->next = pl->conns;
    pl->conns = c;
    c->in.c = c->out.c = c->err.c = c;
    pl->conns_open++;
    io->in = (agentd_stream_t){&ops, &c->in};
    io->out = (agentd_stream_t){&ops, &c->out};
    io->err = (agentd_stream_t){&ops, &c->err};
    return c;
}

static void append_frame(dk_conn_t *c, int stream, const char *text)
{
    size_t n = strlen(text);
    if (grow_raw(c, c->raw_len + 8 + n) < 0)
        return;
    unsigned char h[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24),
                          (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
    memcpy(c->raw + c->raw_len, h, 8);
    memcpy(c->raw + c->raw_len + 8, text, n);
    c->raw_len += 8 + n;
}

void dk_conn_attach(dk_conn_t *c, CURL *curl, const char *rest, size_t rest_len,
                    const char *msg)
{
    if (curl == NULL) {
        char line[AGENTD_ERR_MAX + 32];
        snprintf(line, sizeof line, "agentd: %s\n", msg != NULL ? msg : "exec failed");
        append_frame(c, 3, line);
        c->eof = 1;
        c->end_status = 0;
        fail_writes(c, AGENTD_ECLOSED);
        schedule_kick(c);
        return;
    }
    c->curl = curl;
    curl_socket_t fd = CURL_SOCKET_BAD;
    curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &fd);
    c->fd = fd == CURL_SOCKET_BAD ? -1 : (int)fd;
    if (rest_len > 0 && grow_raw(c, rest_len) == 0) {
        memcpy(c->raw, rest, rest_len);
        c->raw_len = rest_len;
    }
    c->attached = 1;
    if (c->fd < 0) {
        c->eof = 1;
        c->end_status = AGENTD_EIO;
    }
    update_poll(c);
    schedule_kick(c);
}

void dk_conn_release(dk_conn_t *c)
{
    if (c == NULL)
        return;
    c->owner_gone = 1;
    unref(c);
}

/* ---- the blocking setup (worker thread) ------------------------------------ */

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {fd, ev, 0};
    return poll(&p, 1, ms);
}

static int send_all(CURL *c, int fd, const char *buf, size_t len, int ms)
{
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        CURLcode cc = curl_easy_send(c, buf + off, len - off, &n);
        if (cc == CURLE_AGAIN) {
            if (wait_fd(fd, POLLOUT, ms) <= 0)
                return -1;
            continue;
        }
        if (cc != CURLE_OK)
            return -1;
        off += n;
    }
    return 0;
}

/* Read up to the end of the response head; *rest gets what follows. */
static int read_head(CURL *c, int fd, int ms, char *head, size_t cap, size_t *len,
                     char **end)
{
    *len = 0;
    while (*len + 1 < cap) {
        size_t n = 0;
        CURLcode cc = curl_easy_recv(c, head + *len, cap - 1 - *len, &n);
        if (cc == CURLE_AGAIN) {
            if (wait_fd(fd, POLLIN, ms) <= 0)
                return -1;
            continue;
        }
        if (cc != CURLE_OK || n == 0)
            return -1;
        *len += n;
        head[*len] = '\0';
        if ((*end = strstr(head, "\r\n\r\n")) != NULL)
            return 0;
    }
    return -1;
}

static CURL *connect_once(dk_engine_t *e, const char *exec_id, char **rest, size_t *rest_len,
                          int *transient, agentd_err_t *err)
{
    *transient = 0;
    CURL *c = dk_engine_easy(e, "/_ping", err);
    if (c == NULL)
        return NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        *transient = dk_retry_transient((int)cc, 0);
        agentd_err_set(err, AGENTD_EUNAVAIL, "engine %s: %s", e->endpoint,
                       errbuf[0] ? errbuf : curl_easy_strerror(cc));
        curl_easy_cleanup(c);
        return NULL;
    }
    curl_socket_t sock = CURL_SOCKET_BAD;
    curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &sock);
    char api[16];
    pthread_mutex_lock(&e->lock);
    snprintf(api, sizeof api, "%s", e->api);
    pthread_mutex_unlock(&e->lock);
    static const char body[] = "{\"Detach\":false,\"Tty\":false}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v%s/exec/%s/start HTTP/1.1\r\nHost: docker\r\n"
                     "Content-Type: application/json\r\nConnection: Upgrade\r\n"
                     "Upgrade: tcp\r\nContent-Length: %zu\r\n\r\n%s",
                     api, exec_id, sizeof body - 1, body);
    int ms = (int)e->timeout_s * 1000;
    char *head = malloc(HEAD_MAX), *end = NULL;
    size_t len = 0;
    if (head == NULL || sock == CURL_SOCKET_BAD || n <= 0 || (size_t)n >= sizeof req ||
        send_all(c, (int)sock, req, (size_t)n, ms) < 0 ||
        read_head(c, (int)sock, ms, head, HEAD_MAX, &len, &end) < 0) {
        *transient = 1;
        agentd_err_set(err, AGENTD_EUNAVAIL, "engine %s: the exec's connection failed",
                       e->endpoint);
        free(head);
        curl_easy_cleanup(c);
        return NULL;
    }
    int status = 0;
    sscanf(head, "HTTP/%*s %d", &status);
    if (status != 101 && status != 200) {
        *transient = status >= 500;
        const char *msg = end + 4;
        agentd_err_set(err, status == 404 ? AGENTD_ENOENT : AGENTD_EIO,
                       "engine refused to start the command (HTTP %d): %.300s", status, msg);
        free(head);
        curl_easy_cleanup(c);
        return NULL;
    }
    size_t after = len - (size_t)(end + 4 - head);
    *rest = NULL;
    *rest_len = 0;
    if (after > 0 && (*rest = malloc(after)) != NULL) {
        memcpy(*rest, end + 4, after);
        *rest_len = after;
    }
    free(head);
    return c;
}

CURL *dk_exec_connect(dk_engine_t *e, const char *exec_id, char **rest, size_t *rest_len,
                      agentd_err_t *err)
{
    for (unsigned attempt = 0;; attempt++) {
        int transient = 0;
        CURL *c = connect_once(e, exec_id, rest, rest_len, &transient, err);
        if (c != NULL || !transient || attempt >= e->retry_max || atomic_load(&e->stopping))
            return c;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint32_t ms = dk_retry_delay_ms(attempt, e->retry_base_ms, (uint32_t)now.tv_nsec * 2654435761u);
        struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
