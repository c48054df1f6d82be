/*
 * A growable byte buffer for assembling messages that arrive in pieces
 * (WebSocket fragments, protocol frames). Always keeps one spare byte so the
 * content can be NUL-terminated in place.
 *
 * Thread: any (no shared state). Ownership: the caller frees buf->data.
 */
#ifndef AGENTD_HOST_BUF_H
#define AGENTD_HOST_BUF_H

#include <stddef.h>

typedef struct host_buf {
    char *data;
    size_t len, cap;
} host_buf_t;

/* Appends n bytes, growing by doubling from `initial`. 0, or -1 when out
 * of memory (the buffer is unchanged). */
int host_buf_append(host_buf_t *b, const void *bytes, size_t n, size_t initial);

#endif /* AGENTD_HOST_BUF_H */
