/* Demultiplexing the engine's stdout/stderr frames. */
#include "stdcopy.h"

#include <string.h>

long dk_demux_feed(dk_demux_t *d, const char *data, size_t len, dk_demux_sink sink, void *ud)
{
    size_t used = 0;
    while (used < len) {
        if (d->remaining == 0 && d->hdr_len < 8) {
            size_t n = 8 - d->hdr_len;
            if (n > len - used)
                n = len - used;
            memcpy(d->hdr + d->hdr_len, data + used, n);
            d->hdr_len += n;
            used += n;
            if (d->hdr_len < 8)
                break;
            if (d->hdr[0] > 3 || d->hdr[1] != 0 || d->hdr[2] != 0 || d->hdr[3] != 0)
                return DK_DEMUX_EPROTO;
            d->stream = d->hdr[0];
            d->remaining = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                           (uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
            if (d->remaining == 0) {
                d->hdr_len = 0; /* an empty frame */
                continue;
            }
        }
        size_t n = d->remaining;
        if (n > len - used)
            n = len - used;
        if (n > 0) {
            if (sink(ud, d->stream == 0 ? 1 : d->stream, data + used, n) != 0)
                break;
            used += n;
            d->remaining -= (uint32_t)n;
        }
        if (d->remaining == 0)
            d->hdr_len = 0;
    }
    return (long)used;
}

int dk_demux_partial(const dk_demux_t *d)
{
    return d->remaining > 0 || (d->hdr_len > 0 && d->hdr_len < 8);
}
