/*
 * One direction of a byte relay between two non-blocking sockets, with a
 * bounded buffer: read only when the buffer is empty, pass EOF on as a
 * half-close once the buffer is drained. Shared by the in-sandbox relay
 * (helper/relay.c) and the egress proxy (src/egress_proxy.c).
 */
#ifndef SBX_PIPE_BUF_H
#define SBX_PIPE_BUF_H

#include <stddef.h>

typedef struct sbx_pipe_buf {
    char *data;
    size_t cap;
    size_t len, off;
    int eof;  /* the reading side ended */
    int shut; /* and the writing side was told (shutdown SHUT_WR) */
} sbx_pipe_buf_t;

/* Allocate cap bytes; -1 when out of memory. */
int sbx_pipe_buf_init(sbx_pipe_buf_t *b, size_t cap);
void sbx_pipe_buf_free(sbx_pipe_buf_t *b);

/* Read from fd into b if it is empty. 0, or -1 on an error (drop). */
int sbx_pipe_buf_fill(int fd, sbx_pipe_buf_t *b);

/* Write b to fd; after the reader's EOF, half-close fd. 0, or -1. */
int sbx_pipe_buf_drain(int fd, sbx_pipe_buf_t *b);

/* 1 if the buffer waits for input, for poll(). */
int sbx_pipe_buf_wants_read(const sbx_pipe_buf_t *b);
/* 1 if the buffer holds bytes to write. */
int sbx_pipe_buf_wants_write(const sbx_pipe_buf_t *b);

#endif
