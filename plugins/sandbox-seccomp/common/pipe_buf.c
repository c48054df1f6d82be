/* One direction of a byte relay (pipe_buf.h). */
#define _GNU_SOURCE
#include "pipe_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

int sbx_pipe_buf_init(sbx_pipe_buf_t *b, size_t cap)
{
    *b = (sbx_pipe_buf_t){malloc(cap), cap, 0, 0, 0, 0};
    return b->data != NULL ? 0 : -1;
}

void sbx_pipe_buf_free(sbx_pipe_buf_t *b)
{
    free(b->data);
    b->data = NULL;
}

int sbx_pipe_buf_fill(int fd, sbx_pipe_buf_t *b)
{
    if (b->len != 0 || b->eof)
        return 0;
    ssize_t n = recv(fd, b->data, b->cap, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0)
        b->eof = 1;
    b->len = (size_t)n;
    b->off = 0;
    return 0;
}

int sbx_pipe_buf_drain(int fd, sbx_pipe_buf_t *b)
{
    if (b->off < b->len) {
        ssize_t n = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        b->off += (size_t)n;
        if (b->off == b->len)
            b->len = b->off = 0;
    }
    if (b->eof && b->len == 0 && !b->shut) {
        shutdown(fd, SHUT_WR);
        b->shut = 1;
    }
    return 0;
}

int sbx_pipe_buf_wants_read(const sbx_pipe_buf_t *b)
{
    return b->len == 0 && !b->eof;
}

int sbx_pipe_buf_wants_write(const sbx_pipe_buf_t *b)
{
    return b->len > b->off;
}
