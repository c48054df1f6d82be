/*
 * The egress allowlist: which host:port a sandbox may reach through the
 * proxy. Patterns (docs/sandbox-seccomp.md):
 *
 *   api.example.com:443     that host, that port (names compare without case)
 *   *.example.com:443       any subdomain (a.example.com, a.b.example.com),
 *                           not example.com itself
 *   203.0.113.7:8080        an IPv4 address
 *   [2001:db8::1]:443       an IPv6 address
 *   host:*                  any port
 *
 * Nothing else is allowed: an empty list means no network at all.
 */
#ifndef SBX_ALLOWLIST_H
#define SBX_ALLOWLIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct sbx_allow_entry {
    char *host;       /* lower case, without brackets; "*.x" keeps the "*." */
    int wildcard;     /* "*.": subdomains only */
    int literal;      /* an IP address, not a name */
    uint16_t port;    /* 0: any */
} sbx_allow_entry_t;

typedef struct sbx_allowlist {
    sbx_allow_entry_t *items;
    size_t count;
} sbx_allowlist_t;

/* Add one "host:port" pattern. Returns 0, or -1 with why in msg. */
int sbx_allowlist_add(sbx_allowlist_t *al, const char *pattern, char *msg, size_t msg_len);

/* Add the host and port of a URL ("https://host[:port][/...]"): the model
 * API. Returns 0, or -1 with why in msg. */
int sbx_allowlist_add_url(sbx_allowlist_t *al, const char *url, char *msg, size_t msg_len);

/* Is host:port allowed? Returns the matching entry or NULL. `host` may be
 * a name, an IPv4 address or an IPv6 address without brackets. */
const sbx_allow_entry_t *sbx_allowlist_match(const sbx_allowlist_t *al, const char *host,
                                             uint16_t port);

void sbx_allowlist_free(sbx_allowlist_t *al);

/* Split "host:port" / "[v6]:port" into host (brackets removed) and port.
 * port_any is set for "*". Returns -1 if malformed. */
int sbx_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port,
                       int *port_any);

#endif
