/*
 * Parsing what a client sends an HTTP proxy: the request head of a CONNECT
 * or of an absolute-form request (GET http://host/path), and the request to
 * forward upstream.
 */
#ifndef SBX_HTTP_HEAD_H
#define SBX_HTTP_HEAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct sbx_request {
    char host[256];     /* without brackets for IPv6 */
    uint16_t port;
    int is_connect;
    /* What goes upstream first: for CONNECT, bytes the client sent after
     * its head; otherwise the request in origin form (proxy headers
     * removed, Connection: close) and any body bytes already received. */
    char *forward;
    size_t forward_len;
} sbx_request_t;

/* head holds len bytes including the blank line ending the head (and maybe
 * more). Returns 0, or -1 with why in msg. */
int sbx_request_parse(const char *head, size_t len, sbx_request_t *req, char *msg,
                      size_t msg_len);

void sbx_request_free(sbx_request_t *req);

#endif
