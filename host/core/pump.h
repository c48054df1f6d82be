/*
 * A pump copies one agentd_stream_t into another with backpressure: when
 * the destination's write queue passes HOST_STREAM_HIGH_WATER the source is
 * paused, and resumed once the queue has drained to half of it. Nothing is
 * buffered without bound and nothing read is dropped.
 *
 * Thread: loop thread. Lifetime: the pump is the caller's memory and must
 * outlive on_done; it never closes either stream.
 */
#ifndef AGENTD_HOST_PUMP_H
#define AGENTD_HOST_PUMP_H

#include <agentd/stream.h>

/* Shut the destination's write side down when the source ends. */
#define HOST_PUMP_SHUTDOWN_ON_EOF 0x1u

typedef void (*host_pump_done_fn)(void *ud, int status);

typedef struct host_pump {
    agentd_stream_t src, dst;
    unsigned flags;
    int paused, eof, finished, status;
    size_t inflight;
    host_pump_done_fn on_done;
    void *ud;
} host_pump_t;

/* Starts copying. on_done(ud, status) runs once: 0 after the source ended
 * and every byte was written, or the first error. */
int host_pump_start(host_pump_t *p, agentd_stream_t src, agentd_stream_t dst, unsigned flags,
                    host_pump_done_fn on_done, void *ud);

/* Stops reading; on_done will not run. */
void host_pump_stop(host_pump_t *p);

#endif /* AGENTD_HOST_PUMP_H */
