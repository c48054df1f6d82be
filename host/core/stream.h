/*
 * Host implementations of agentd_stream_t (sdk/include/agentd/stream.h):
 * over a libuv stream (pipe, tty, socket) and over a plain file descriptor
 * that epoll cannot watch (a regular file, /dev/null), which is read and
 * written through the libuv thread pool.
 *
 * Lifetime: the stream frees itself after its close op completes. Thread:
 * loop thread only.
 */
#ifndef AGENTD_HOST_STREAM_H
#define AGENTD_HOST_STREAM_H

#include <stddef.h>

#include <uv.h>

#include <agentd/stream.h>

/* Bytes a stream queues for writing before write() says AGENTD_EAGAIN. */
#define HOST_STREAM_HIGH_WATER (1024u * 1024u)

/* A new, unopened pipe stream, for uv_spawn's stdio; *pipe receives the
 * uv_pipe_t to hand to uv_spawn. Returns 0 or AGENTD_ENOMEM. */
int host_stream_new_pipe(uv_loop_t *loop, agentd_stream_t *out, uv_pipe_t **pipe);

/* A stream over an existing descriptor (e.g. the daemon's own stdin/out):
 * a tty, pipe or socket through libuv's poller, anything else through the
 * thread pool. The descriptor is not closed by the stream. */
int host_stream_open_fd(uv_loop_t *loop, int fd, agentd_stream_t *out);

#endif /* AGENTD_HOST_STREAM_H */
