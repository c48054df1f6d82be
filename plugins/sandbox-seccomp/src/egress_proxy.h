/*
 * The egress proxy: the sandbox's only way out. One per sandbox, listening
 * on a unix socket that the helper bind-mounts into the sandbox; it runs on
 * the host's loop (poll_start on non-blocking sockets, queue_work for DNS).
 *
 * It speaks the two forms HTTP clients use with HTTPS_PROXY / HTTP_PROXY:
 *   CONNECT host:port HTTP/1.1          -> a byte tunnel (TLS stays end to end)
 *   GET http://host[:port]/path HTTP/1.1 -> the request is forwarded in
 *                                          origin form with Connection: close
 * Only host:port on the allowlist pass. A name on the allowlist that
 * resolves to a loopback, link-local or unspecified address is refused
 * unless the entry itself names such an address (so DNS cannot point an
 * allowed name at the host's own services). Every refusal is reported
 * through the refused callback, and the client gets 403 with the reason.
 */
#ifndef SBX_EGRESS_PROXY_H
#define SBX_EGRESS_PROXY_H

#include "allowlist.h"

#include <agentd/host.h>

typedef struct sbx_proxy sbx_proxy_t;

/* A connection was refused: host and port asked for (host may be "" for a
 * request that could not be parsed) and why. */
typedef void (*sbx_refused_cb)(void *ud, const char *host, unsigned port,
                               const char *reason);

typedef struct sbx_proxy_opts {
    const agentd_host_api_t *api;
    agentd_host_t *host;
    const char *socket_path;      /* created here (mode 0666 in a private dir) */
    const sbx_allowlist_t *allow; /* borrowed: must outlive the proxy */
    sbx_refused_cb refused;
    void *ud;
    /* Counts DNS lookups in flight across all proxies of the plugin: they
     * outlive a stopped proxy, and the plugin must not be unloaded before
     * they complete. */
    unsigned *work_in_flight;
} sbx_proxy_opts_t;

/* Listen. On error returns a negative AGENTD_E* code with text in err. */
int sbx_proxy_start(const sbx_proxy_opts_t *opts, sbx_proxy_t **out, agentd_err_t *err);

/* Close the listener and every connection, and remove the socket file.
 * DNS lookups still running finish in the background and are dropped. */
void sbx_proxy_stop(sbx_proxy_t *p);

#endif
