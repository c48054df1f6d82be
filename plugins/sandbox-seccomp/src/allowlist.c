/* The egress allowlist (allowlist.h). */
#define _GNU_SOURCE
#include "allowlist.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_port(const char *s, uint16_t *port, int *any)
{
    *any = strcmp(s, "*") == 0;
    if (*any) {
        *port = 0;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int sbx_split_hostport(const char *s, char *host, size_t host_len, uint16_t *port,
                       int *port_any)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= host_len)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    return parse_port(colon + 1, port, port_any);
}

static int is_ip(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Letters, digits, '-', '.', and a leading "*." */
static int valid_name(const char *h)
{
    if (strncmp(h, "*.", 2) == 0)
        h += 2;
    if (*h == '\0' || *h == '.')
        return 0;
    for (; *h != '\0'; h++)
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.')
            return 0;
    return 1;
}

static int push(sbx_allowlist_t *al, const char *host, uint16_t port, char *msg,
                size_t msg_len)
{
    sbx_allow_entry_t *items = realloc(al->items, (al->count + 1) * sizeof *items);
    if (items == NULL)
        return snprintf(msg, msg_len, "out of memory"), -1;
    al->items = items;
    sbx_allow_entry_t *e = &items[al->count];
    e->host = strdup(host);
    if (e->host == NULL)
        return snprintf(msg, msg_len, "out of memory"), -1;
    for (char *p = e->host; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    e->wildcard = strncmp(host, "*.", 2) == 0;
    e->literal = is_ip(host);
    e->port = port;
    al->count++;
    return 0;
}

int sbx_allowlist_add(sbx_allowlist_t *al, const char *pattern, char *msg, size_t msg_len)
{
    char host[256];
    uint16_t port;
    int any;
    if (sbx_split_hostport(pattern, host, sizeof host, &port, &any) < 0)
        return snprintf(msg, msg_len,
                        "egress_allow entry \"%s\" is not host:port (port 1..65535 or *)",
                        pattern),
               -1;
    if (!is_ip(host) && !valid_name(host))
        return snprintf(msg, msg_len,
                        "egress_allow entry \"%s\": \"%s\" is not a host name, "
                        "*.domain or IP address",
                        pattern, host),
               -1;
    return push(al, host, port, msg, msg_len);
}

int sbx_allowlist_add_url(sbx_allowlist_t *al, const char *url, char *msg, size_t msg_len)
{
    uint16_t port;
    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0)
        port = 443, rest = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        port = 80, rest = url + 7;
    else
        return snprintf(msg, msg_len, "model API URL \"%s\" is not http(s)://", url), -1;
    char hostport[256];
    size_t n = strcspn(rest, "/?#");
    if (n == 0 || n >= sizeof hostport)
        return snprintf(msg, msg_len, "model API URL \"%s\" has no host", url), -1;
    memcpy(hostport, rest, n);
    hostport[n] = '\0';
    char host[256];
    int any;
    uint16_t p;
    if (sbx_split_hostport(hostport, host, sizeof host, &p, &any) == 0 && !any)
        port = p;
    else if (hostport[0] == '[' || strchr(hostport, ':') != NULL)
        return snprintf(msg, msg_len, "model API URL \"%s\" has a bad port", url), -1;
    else
        snprintf(host, sizeof host, "%s", hostport);
    return push(al, host, port, msg, msg_len);
}

/* "*.example.com" matches "a.example.com" and "a.b.example.com". */
static int host_matches(const sbx_allow_entry_t *e, const char *host)
{
    if (!e->wildcard)
        return strcasecmp(e->host, host) == 0;
    const char *suffix = e->host + 1; /* ".example.com" */
    size_t hl = strlen(host), sl = strlen(suffix);
    return hl > sl && strcasecmp(host + hl - sl, suffix) == 0;
}

const sbx_allow_entry_t *sbx_allowlist_match(const sbx_allowlist_t *al, const char *host,
                                             uint16_t port)
{
    for (size_t i = 0; i < al->count; i++) {
        const sbx_allow_entry_t *e = &al->items[i];
        if ((e->port == 0 || e->port == port) && host_matches(e, host))
            return e;
    }
    return NULL;
}

void sbx_allowlist_free(sbx_allowlist_t *al)
{
    for (size_t i = 0; i < al->count; i++)
        free(al->items[i].host);
    free(al->items);
    al->items = NULL;
    al->count = 0;
}
