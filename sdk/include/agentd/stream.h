/*
 * agentd plugin SDK: byte streams with backpressure.
 *
 * One shape serves a process the host spawns for a plugin, the stdio of a
 * command running in a sandbox, and anything else that moves bytes. Whoever
 * provides the stream fills an agentd_stream_t with its ops table; whoever
 * consumes it calls the ops. The model is libuv's: reading is push-based
 * and the reader says "not now" with read_stop, then read_start again;
 * writing is queued and bounded: past the provider's high-water mark a write
 * returns AGENTD_EAGAIN and the writer waits for a write callback.
 *
 * All ops and callbacks run on the loop thread.
 */
#ifndef AGENTD_STREAM_H
#define AGENTD_STREAM_H

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Data arrived (len > 0), or the stream ended (status == AGENTD_EOF), or it
 * failed (status < 0, other code). `data` is borrowed for the call. After
 * EOF or an error no further read callback runs. */
typedef void (*agentd_read_cb)(void *ud, const char *data, size_t len, int status);

/* A write finished: status 0 when the bytes were handed to the peer. */
typedef void (*agentd_write_cb)(void *ud, int status);

/* The stream is closed and its provider will not touch ud again. */
typedef void (*agentd_close_cb)(void *ud);

typedef struct agentd_stream_ops {
    uint32_t size; /* sizeof(agentd_stream_ops_t) as the provider knows it */

    /* minor 0: start delivering data to cb. Calling it again replaces the
     * callback and resumes. Errors: AGENTD_ECLOSED. */
    int (*read_start)(void *impl, agentd_read_cb cb, void *ud);

    /* minor 0: "not now": no read callback runs until read_start. */
    int (*read_stop)(void *impl);

    /* minor 0: queue len bytes (copied before return). cb (may be NULL)
     * runs once when they are written or the write failed. Returns
     * AGENTD_EAGAIN without queueing when the queue is past its high-water
     * mark; the writer then waits for an earlier write's callback.
     * Errors: AGENTD_ECLOSED, AGENTD_EAGAIN, AGENTD_ENOMEM. */
    int (*write)(void *impl, const void *data, size_t len, agentd_write_cb cb, void *ud);

    /* minor 0: bytes queued and not yet written. */
    size_t (*write_queue_size)(void *impl);

    /* minor 0: end of input for the peer (EOF on a child's stdin) once the
     * queued writes are flushed. */
    int (*shutdown)(void *impl);

    /* minor 0: close both directions. Pending write callbacks run with
     * AGENTD_ECANCELED first, then cb (may be NULL). The stream must not be
     * used after this call. */
    void (*close)(void *impl, agentd_close_cb cb, void *ud);
} agentd_stream_ops_t;

/* A stream handle: plain data, copied freely; `impl` is the provider's. */
typedef struct agentd_stream {
    const agentd_stream_ops_t *ops; /* NULL: no such stream */
    void *impl;
} agentd_stream_t;

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_STREAM_H */
