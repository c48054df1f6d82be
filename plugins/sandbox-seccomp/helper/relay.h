/*
 * The in-sandbox end of the egress path. The sandbox's network namespace
 * has only `lo`; the sandbox's pid 1 listens there and relays each TCP
 * connection to the egress proxy's unix socket (bind-mounted at
 * /run/agentd/proxy.sock), where the plugin decides what may pass:
 *
 * - 127.0.0.1:<proxy_port>: what HTTP_PROXY/HTTPS_PROXY point at; bytes are
 *   relayed as they are (the client speaks CONNECT or absolute-form HTTP).
 * - 127.0.0.1:<forward port>: a model API on the host's loopback, for
 *   clients that do not use a proxy; the relay opens a CONNECT tunnel to
 *   its target first, then relays.
 *
 * Non-blocking, poll()-driven, bounded: at most SBX_RELAY_MAX_CONNS
 * connections with two 16 KiB buffers each.
 */
#ifndef SBX_RELAY_H
#define SBX_RELAY_H

#include "launch.h"

#include <poll.h>
#include <stddef.h>

#define SBX_RELAY_MAX_CONNS 128
/* pollfd slots the relay may use: its listeners and two per connection. */
#define SBX_RELAY_MAX_FDS (SBX_RELAY_MAX_CONNS * 2 + 17)

typedef struct sbx_relay sbx_relay_t;

/* Bind the listeners (before the filter and the command start, so a
 * connection the command makes at once is queued). Dies on error. Returns
 * NULL when the launch has no proxy socket. */
sbx_relay_t *sbx_relay_open(const sbx_launch_t *l);

/* Fill pfds (room for SBX_RELAY_MAX_FDS) with what the relay waits for;
 * returns the number used. */
size_t sbx_relay_pollfds(sbx_relay_t *r, struct pollfd *pfds);

/* Act on what poll() reported for the entries sbx_relay_pollfds filled. */
void sbx_relay_dispatch(sbx_relay_t *r, const struct pollfd *pfds, size_t n);

#endif
