/* Proxy request parsing (http_head.h). */
#define _GNU_SOURCE
#include "http_head.h"

#include "allowlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers meant for the proxy, about this hop only, or (Host) replaced by
 * the URL's own authority, so a request cannot name an allowed host in its
 * URL and another one to a shared server. */
static const char *const hop_headers[] = {"proxy-connection:", "proxy-authorization:",
                                          "connection:", "keep-alive:", "host:"};

static int is_hop_header(const char *line, size_t len)
{
    for (size_t i = 0; i < sizeof hop_headers / sizeof *hop_headers; i++) {
        size_t n = strlen(hop_headers[i]);
        if (len >= n && strncasecmp(line, hop_headers[i], n) == 0)
            return 1;
    }
    return 0;
}

static int fail(char *msg, size_t msg_len, const char *why)
{
    snprintf(msg, msg_len, "%s", why);
    return -1;
}

static int set_forward(sbx_request_t *req, const char *data, size_t len)
{
    req->forward = malloc(len + 1);
    if (req->forward == NULL)
        return -1;
    memcpy(req->forward, data, len);
    req->forward_len = len;
    return 0;
}

/* "http://host[:port]/path" -> host, port, path start (the authority is
 * uri + 7 .. path). */
static int split_uri(const char *uri, size_t uri_len, sbx_request_t *req, const char **path)
{
    if (uri_len < 8 || strncasecmp(uri, "http://", 7) != 0)
        return -1;
    const char *hp = uri + 7, *end = uri + uri_len;
    const char *slash = hp;
    while (slash < end && *slash != '/' && *slash != '?')
        slash++;
    char hostport[256];
    size_t n = (size_t)(slash - hp);
    if (n == 0 || n >= sizeof hostport)
        return -1;
    memcpy(hostport, hp, n);
    hostport[n] = '\0';
    *path = slash;
    int any = 0;
    if (sbx_split_hostport(hostport, req->host, sizeof req->host, &req->port, &any) == 0)
        return any ? -1 : 0;
    if (strchr(hostport, ':') != NULL || hostport[0] == '[')
        return -1;
    snprintf(req->host, sizeof req->host, "%s", hostport);
    req->port = 80;
    return 0;
}

/* The absolute-form request rewritten to origin form. */
static int rewrite(sbx_request_t *req, const char *method, size_t mlen, const char *path,
                   size_t plen, const char *version, size_t vlen, const char *headers,
                   const char *head_end, const char *all_end)
{
    size_t cap = (size_t)(all_end - headers) + mlen + 2 * plen + vlen + 600;
    char *out = malloc(cap);
    if (out == NULL)
        return -1;
    const char *authority = method + mlen + 1 + 7; /* after "METHOD http://" */
    size_t o = (size_t)snprintf(out, cap, "%.*s %.*s %.*s\r\nHost: %.*s\r\n", (int)mlen,
                                method, plen ? (int)plen : 1, plen ? path : "/", (int)vlen,
                                version, (int)(path - authority), authority);
    for (const char *line = headers; line < head_end;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = (size_t)(eol - line);
        if (len > 0 && !is_hop_header(line, len)) {
            memcpy(out + o, line, len + 2);
            o += len + 2;
        }
        line = eol + 2;
    }
    o += (size_t)snprintf(out + o, cap - o, "Connection: close\r\n\r\n");
    memcpy(out + o, head_end + 2, (size_t)(all_end - head_end - 2));
    o += (size_t)(all_end - head_end - 2);
    req->forward = out;
    req->forward_len = o;
    return 0;
}

int sbx_request_parse(const char *head, size_t len, sbx_request_t *req, char *msg,
                      size_t msg_len)
{
    memset(req, 0, sizeof *req);
    const char *blank = strstr(head, "\r\n\r\n");
    const char *eol = strstr(head, "\r\n");
    if (blank == NULL || eol == NULL)
        return fail(msg, msg_len, "incomplete request head");
    const char *sp1 = memchr(head, ' ', (size_t)(eol - head));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return fail(msg, msg_len, "malformed request line");
    const char *uri = sp1 + 1;
    size_t uri_len = (size_t)(sp2 - uri);
    const char *end = head + len;
    if ((size_t)(sp1 - head) == 7 && strncmp(head, "CONNECT", 7) == 0) {
        char target[300];
        int any = 0;
        if (uri_len >= sizeof target)
            return fail(msg, msg_len, "CONNECT target too long");
        memcpy(target, uri, uri_len);
        target[uri_len] = '\0';
        if (sbx_split_hostport(target, req->host, sizeof req->host, &req->port, &any) < 0 || any)
            return fail(msg, msg_len, "CONNECT target is not host:port");
        req->is_connect = 1;
        if (set_forward(req, blank + 4, (size_t)(end - blank - 4)) < 0)
            return fail(msg, msg_len, "out of memory");
        return 0;
    }
    const char *path;
    if (split_uri(uri, uri_len, req, &path) < 0)
        return fail(msg, msg_len, "request target is not an absolute http:// URL");
    if (rewrite(req, head, (size_t)(sp1 - head), path, (size_t)(sp2 - path), sp2 + 1,
                (size_t)(eol - sp2 - 1), eol + 2, blank + 2, end) < 0)
        return fail(msg, msg_len, "out of memory");
    return 0;
}

void sbx_request_free(sbx_request_t *req)
{
    free(req->forward);
    req->forward = NULL;
}
