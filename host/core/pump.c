#include "core/pump.h"

#include <string.h>

#include "core/stream.h"

static void finish(host_pump_t *p, int status)
{
    if (p->finished)
        return;
    p->finished = 1;
    if (status == 0 && (p->flags & HOST_PUMP_SHUTDOWN_ON_EOF))
        p->dst.ops->shutdown(p->dst.impl);
    if (status != 0)
        p->src.ops->read_stop(p->src.impl);
    if (p->on_done != NULL)
        p->on_done(p->ud, status);
}

static void on_read(void *ud, const char *data, size_t len, int status);

static void on_written(void *ud, int status)
{
    host_pump_t *p = ud;
    p->inflight--;
    if (p->finished)
        return;
    if (status != 0 && status != AGENTD_ECANCELED) {
        finish(p, status);
        return;
    }
    if (p->eof && p->inflight == 0) {
        finish(p, 0);
        return;
    }
    if (p->paused && p->dst.ops->write_queue_size(p->dst.impl) <= HOST_STREAM_HIGH_WATER / 2) {
        p->paused = 0;
        p->src.ops->read_start(p->src.impl, on_read, p);
    }
}

static void on_read(void *ud, const char *data, size_t len, int status)
{
    host_pump_t *p = ud;
    if (p->finished)
        return;
    if (status != 0) {
        p->eof = 1;
        if (status != AGENTD_EOF)
            finish(p, status);
        else if (p->inflight == 0)
            finish(p, 0);
        return;
    }
    int rc = p->dst.ops->write(p->dst.impl, data, len, on_written, p);
    if (rc != 0) {
        finish(p, rc); /* cannot happen while we pause at the high-water mark */
        return;
    }
    p->inflight++;
    if (p->dst.ops->write_queue_size(p->dst.impl) >= HOST_STREAM_HIGH_WATER) {
        p->paused = 1;
        p->src.ops->read_stop(p->src.impl);
    }
}

int host_pump_start(host_pump_t *p, agentd_stream_t src, agentd_stream_t dst, unsigned flags,
                    host_pump_done_fn on_done, void *ud)
{
    memset(p, 0, sizeof *p);
    if (src.ops == NULL || dst.ops == NULL)
        return AGENTD_EINVAL;
    p->src = src;
    p->dst = dst;
    p->flags = flags;
    p->on_done = on_done;
    p->ud = ud;
    return src.ops->read_start(src.impl, on_read, p);
}

void host_pump_stop(host_pump_t *p)
{
    if (p->finished || p->src.ops == NULL)
        return;
    p->finished = 1;
    p->src.ops->read_stop(p->src.impl);
}
