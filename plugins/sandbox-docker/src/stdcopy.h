/*
 * The engine's multiplexed stream (an attached command without a TTY):
 * frames of an 8-byte header (stream byte: 0 stdin, 1 stdout, 2 stderr,
 * 3 engine error; three zero bytes; big-endian payload length) and the
 * payload. The demultiplexer is a pure state machine fed arbitrary chunks;
 * it hands payload pieces to a sink that may refuse one (backpressure):
 * feeding then stops there and the caller keeps the rest for later.
 */
#ifndef DK_STDCOPY_H
#define DK_STDCOPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct dk_demux {
    unsigned char hdr[8];
    size_t hdr_len;     /* header bytes collected so far */
    uint32_t remaining; /* payload bytes left in the current frame */
    int stream;         /* of the current frame */
} dk_demux_t;

/* Deliver `len` payload bytes of `stream` (1 stdout, 2 stderr, 3 engine
 * error). Return 0 when taken, non-zero to refuse (nothing consumed). */
typedef int (*dk_demux_sink)(void *ud, int stream, const char *data, size_t len);

#define DK_DEMUX_EPROTO (-1) /* not a multiplexed stream */

/* Feed a chunk. Returns the number of bytes consumed (< len when the sink
 * refused), or DK_DEMUX_EPROTO on a bad header. */
long dk_demux_feed(dk_demux_t *d, const char *data, size_t len, dk_demux_sink sink, void *ud);

/* Non-zero when a frame is only partly received (a stream that ends here
 * was cut short). */
int dk_demux_partial(const dk_demux_t *d);

#endif
