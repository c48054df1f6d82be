#include "core/stream.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/errors.h"

#define READ_CHUNK 65536

/* ---- over a libuv stream ------------------------------------------------ */

typedef struct uvs {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tty_t tty;
    } h;
    agentd_read_cb read_cb;
    void *read_ud;
    int closing;
    int ended;          /* EOF or an error was delivered */
    size_t queued;
    agentd_close_cb close_cb;
    void *close_ud;
    char buf[READ_CHUNK];
} uvs_t;

typedef struct uvs_write {
    uv_write_t req;
    uvs_t *s;
    agentd_write_cb cb;
    void *ud;
    size_t len;
    char data[];
} uvs_write_t;

static void uvs_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    uvs_t *s = h->data;
    (void)suggested;
    buf->base = s->buf;
    buf->len = sizeof s->buf;
}

static void uvs_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    uvs_t *s = st->data;
    (void)buf;
    if (nread == 0 || s->closing || s->ended)
        return;
    if (nread > 0) {
        s->read_cb(s->read_ud, s->buf, (size_t)nread, 0);
        return;
    }
    s->ended = 1;
    uv_read_stop(st);
    s->read_cb(s->read_ud, NULL, 0, host_err_from_uv((int)nread));
}

static int uvs_read_start(void *impl, agentd_read_cb cb, void *ud)
{
    uvs_t *s = impl;
    if (s->closing || s->ended)
        return AGENTD_ECLOSED;
    s->read_cb = cb;
    s->read_ud = ud;
    return host_err_from_uv(uv_read_start(&s->h.stream, uvs_alloc, uvs_on_read));
}

static int uvs_read_stop(void *impl)
{
    uvs_t *s = impl;
    if (s->closing)
        return AGENTD_ECLOSED;
    return host_err_from_uv(uv_read_stop(&s->h.stream));
}

static void uvs_on_write(uv_write_t *req, int status)
{
    uvs_write_t *w = (uvs_write_t *)req;
    w->s->queued -= w->len;
    if (w->cb != NULL)
        w->cb(w->ud, host_err_from_uv(status));
    free(w);
}

static int uvs_write(void *impl, const void *data, size_t len, agentd_write_cb cb, void *ud)
{
    uvs_t *s = impl;
    if (s->closing)
        return AGENTD_ECLOSED;
    if (s->queued >= HOST_STREAM_HIGH_WATER)
        return AGENTD_EAGAIN;
    uvs_write_t *w = malloc(sizeof *w + len);
    if (w == NULL)
        return AGENTD_ENOMEM;
    w->s = s;
    w->cb = cb;
    w->ud = ud;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, &s->h.stream, &b, 1, uvs_on_write);
    if (rc != 0) {
        free(w);
        return host_err_from_uv(rc);
    }
    s->queued += len;
    return 0;
}

static size_t uvs_queue_size(void *impl)
{
    return ((uvs_t *)impl)->queued;
}

static void uvs_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

static int uvs_shutdown(void *impl)
{
    uvs_t *s = impl;
    if (s->closing)
        return AGENTD_ECLOSED;
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req == NULL)
        return AGENTD_ENOMEM;
    int rc = uv_shutdown(req, &s->h.stream, uvs_on_shutdown);
    if (rc != 0)
        free(req);
    return host_err_from_uv(rc);
}

static void uvs_on_close(uv_handle_t *h)
{
    uvs_t *s = h->data;
    if (s->close_cb != NULL)
        s->close_cb(s->close_ud);
    free(s);
}

static void uvs_close(void *impl, agentd_close_cb cb, void *ud)
{
    uvs_t *s = impl;
    if (s->closing)
        return;
    s->closing = 1;
    s->close_cb = cb;
    s->close_ud = ud;
    uv_close(&s->h.handle, uvs_on_close);
}

static const agentd_stream_ops_t uvs_ops = {
    .size = sizeof(agentd_stream_ops_t),
    .read_start = uvs_read_start,
    .read_stop = uvs_read_stop,
    .write = uvs_write,
    .write_queue_size = uvs_queue_size,
    .shutdown = uvs_shutdown,
    .close = uvs_close,
};

int host_stream_new_pipe(uv_loop_t *loop, agentd_stream_t *out, uv_pipe_t **pipe)
{
    uvs_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return AGENTD_ENOMEM;
    uv_pipe_init(loop, &s->h.pipe, 0);
    s->h.handle.data = s;
    out->ops = &uvs_ops;
    out->impl = s;
    *pipe = &s->h.pipe;
    return 0;
}

/* ---- over a descriptor epoll cannot watch, through the thread pool ------ */

typedef struct fds_chunk {
    struct fds_chunk *next;
    agentd_write_cb cb;
    void *ud;
    size_t len;
    char data[];
} fds_chunk_t;

typedef struct fds {
    uv_loop_t *loop;
    int fd;
    uv_fs_t rreq, wreq;
    int reading, read_busy, write_busy, closing, ended;
    agentd_read_cb read_cb;
    void *read_ud;
    int has_stash;      /* a finished read waits for read_start */
    ssize_t stashed;
    fds_chunk_t *head, *tail;
    size_t queued;
    agentd_close_cb close_cb;
    void *close_ud;
    char buf[READ_CHUNK];
} fds_t;

static void fds_maybe_free(fds_t *s)
{
    if (!s->closing || s->read_busy || s->write_busy)
        return;
    close(s->fd);
    if (s->close_cb != NULL)
        s->close_cb(s->close_ud);
    free(s);
}

static void fds_next_read(fds_t *s);

static void fds_deliver(fds_t *s, ssize_t n)
{
    if (n > 0) {
        s->read_cb(s->read_ud, s->buf, (size_t)n, 0);
        fds_next_read(s);
        return;
    }
    s->ended = 1;
    s->read_cb(s->read_ud, NULL, 0, n == 0 ? AGENTD_EOF : host_err_from_uv((int)n));
}

static void fds_on_read(uv_fs_t *req)
{
    fds_t *s = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    s->read_busy = 0;
    if (s->closing) {
        fds_maybe_free(s);
        return;
    }
    if (!s->reading) {
        s->stashed = n;
        s->has_stash = 1;
        return;
    }
    fds_deliver(s, n);
}

static void fds_next_read(fds_t *s)
{
    if (!s->reading || s->read_busy || s->closing || s->ended)
        return;
    uv_buf_t b = uv_buf_init(s->buf, sizeof s->buf);
    s->rreq.data = s;
    if (uv_fs_read(s->loop, &s->rreq, s->fd, &b, 1, -1, fds_on_read) == 0)
        s->read_busy = 1;
}

static int fds_read_start(void *impl, agentd_read_cb cb, void *ud)
{
    fds_t *s = impl;
    if (s->closing || s->ended)
        return AGENTD_ECLOSED;
    s->read_cb = cb;
    s->read_ud = ud;
    s->reading = 1;
    if (s->has_stash) {
        ssize_t n = s->stashed;
        s->has_stash = 0;
        fds_deliver(s, n);
        return 0;
    }
    fds_next_read(s);
    return 0;
}

static int fds_read_stop(void *impl)
{
    fds_t *s = impl;
    s->reading = 0;
    return s->closing ? AGENTD_ECLOSED : 0;
}

static void fds_next_write(fds_t *s);

static void fds_on_write(uv_fs_t *req)
{
    fds_t *s = req->data;
    fds_chunk_t *c = s->head;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    s->write_busy = 0;
    s->head = c->next;
    if (s->head == NULL)
        s->tail = NULL;
    s->queued -= c->len;
    if (c->cb != NULL)
        c->cb(c->ud, n < 0 ? host_err_from_uv((int)n) : 0);
    free(c);
    if (s->closing)
        fds_maybe_free(s);
    else
        fds_next_write(s);
}

static void fds_next_write(fds_t *s)
{
    if (s->write_busy || s->head == NULL)
        return;
    uv_buf_t b = uv_buf_init(s->head->data, (unsigned)s->head->len);
    s->wreq.data = s;
    if (uv_fs_write(s->loop, &s->wreq, s->fd, &b, 1, -1, fds_on_write) == 0)
        s->write_busy = 1;
}

static int fds_write(void *impl, const void *data, size_t len, agentd_write_cb cb, void *ud)
{
    fds_t *s = impl;
    if (s->closing)
        return AGENTD_ECLOSED;
    if (s->queued >= HOST_STREAM_HIGH_WATER)
        return AGENTD_EAGAIN;
    fds_chunk_t *c = malloc(sizeof *c + len);
    if (c == NULL)
        return AGENTD_ENOMEM;
    c->next = NULL;
    c->cb = cb;
    c->ud = ud;
    c->len = len;
    memcpy(c->data, data, len);
    if (s->tail != NULL)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
    s->queued += len;
    fds_next_write(s);
    return 0;
}

static size_t fds_queue_size(void *impl)
{
    return ((fds_t *)impl)->queued;
}

static int fds_shutdown(void *impl)
{
    return ((fds_t *)impl)->closing ? AGENTD_ECLOSED : 0;
}

static void fds_close(void *impl, agentd_close_cb cb, void *ud)
{
    fds_t *s = impl;
    if (s->closing)
        return;
    s->closing = 1;
    s->close_cb = cb;
    s->close_ud = ud;
    /* Chunks not yet handed to a write are cancelled; the one in flight
     * finishes and then frees the stream. */
    fds_chunk_t *c = s->write_busy ? s->head->next : s->head;
    if (s->write_busy)
        s->head->next = NULL;
    else
        s->head = NULL;
    while (c != NULL) {
        fds_chunk_t *next = c->next;
        if (c->cb != NULL)
            c->cb(c->ud, AGENTD_ECANCELED);
        free(c);
        c = next;
    }
    fds_maybe_free(s);
}

static const agentd_stream_ops_t fds_ops = {
    .size = sizeof(agentd_stream_ops_t),
    .read_start = fds_read_start,
    .read_stop = fds_read_stop,
    .write = fds_write,
    .write_queue_size = fds_queue_size,
    .shutdown = fds_shutdown,
    .close = fds_close,
};

int host_stream_open_fd(uv_loop_t *loop, int fd, agentd_stream_t *out)
{
    int own = dup(fd); /* the stream closes its copy, never the caller's fd */
    if (own < 0)
        return AGENTD_EIO;
    uv_handle_type type = uv_guess_handle(own);
    if (type == UV_TTY || type == UV_NAMED_PIPE || type == UV_TCP) {
        uvs_t *s = calloc(1, sizeof *s);
        if (s == NULL) {
            close(own);
            return AGENTD_ENOMEM;
        }
        int rc = type == UV_TTY ? uv_tty_init(loop, &s->h.tty, own, 0)
                                : (uv_pipe_init(loop, &s->h.pipe, 0),
                                   uv_pipe_open(&s->h.pipe, own));
        if (rc != 0) {
            if (type != UV_TTY) {
                s->h.handle.data = NULL;
                uv_close(&s->h.handle, (uv_close_cb)free);
            } else {
                free(s);
            }
            close(own);
            return host_err_from_uv(rc);
        }
        s->h.handle.data = s;
        out->ops = &uvs_ops;
        out->impl = s;
        return 0;
    }
    fds_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(own);
        return AGENTD_ENOMEM;
    }
    s->loop = loop;
    s->fd = own;
    out->ops = &fds_ops;
    out->impl = s;
    return 0;
}
