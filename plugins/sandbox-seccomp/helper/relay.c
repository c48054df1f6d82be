/* The in-sandbox relay to the egress proxy (relay.h). */
#define _GNU_SOURCE
#include "relay.h"

#include "../common/pipe_buf.h"
#include "fail.h"
#include "mounts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF 16384
#define MAX_LISTENERS 16

typedef struct conn {
    int client;             /* TCP, inside the sandbox */
    int proxy;              /* unix socket to the egress proxy */
    int awaiting_tunnel;    /* forward: the proxy's CONNECT answer not read yet */
    char head[1024];        /* that answer */
    size_t head_len;
    sbx_pipe_buf_t up;      /* client -> proxy */
    sbx_pipe_buf_t down;    /* proxy -> client */
} conn_t;

typedef struct listener {
    int fd;
    const char *target;     /* NULL: plain relay; else CONNECT target */
} listener_t;

/* What each pollfd slot stands for. */
typedef struct slot {
    int listener;           /* index, or -1 */
    conn_t *conn;
    int is_proxy_side;
} slot_t;

struct sbx_relay {
    listener_t listeners[MAX_LISTENERS];
    size_t listener_count;
    conn_t *conns[SBX_RELAY_MAX_CONNS];
    slot_t slots[SBX_RELAY_MAX_FDS];
};

static int listen_on(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        sbx_die_errno("proxy relay", "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        sbx_die_errno("proxy relay", "bind 127.0.0.1:%u", (unsigned)port);
    if (listen(fd, 128) < 0)
        sbx_die_errno("proxy relay", "listen 127.0.0.1:%u", (unsigned)port);
    return fd;
}

sbx_relay_t *sbx_relay_open(const sbx_launch_t *l)
{
    if (l->proxy_socket == NULL)
        return NULL;
    if (l->forward_count + 1 > MAX_LISTENERS)
        sbx_die("proxy relay", "too many forwarded ports (%zu)", l->forward_count);
    sbx_relay_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        sbx_die("proxy relay", "out of memory");
    r->listeners[r->listener_count++] = (listener_t){listen_on(l->proxy_port), NULL};
    for (size_t i = 0; i < l->forward_count; i++)
        r->listeners[r->listener_count++] =
            (listener_t){listen_on(l->forwards[i].port), l->forwards[i].target};
    return r;
}

static int connect_proxy(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", SBX_PROXY_SOCKET_INSIDE);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A local connect: blocking is brief and keeps this simple. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void conn_free(sbx_relay_t *r, size_t i)
{
    conn_t *c = r->conns[i];
    close(c->client);
    close(c->proxy);
    sbx_pipe_buf_free(&c->up);
    sbx_pipe_buf_free(&c->down);
    free(c);
    r->conns[i] = NULL;
}

static void accept_one(sbx_relay_t *r, const listener_t *ls)
{
    int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    size_t i = 0;
    while (i < SBX_RELAY_MAX_CONNS && r->conns[i] != NULL)
        i++;
    conn_t *c = i < SBX_RELAY_MAX_CONNS ? calloc(1, sizeof *c) : NULL;
    int proxy = -1;
    if (c != NULL && sbx_pipe_buf_init(&c->up, BUF) == 0 &&
        sbx_pipe_buf_init(&c->down, BUF) == 0)
        proxy = connect_proxy();
    if (proxy < 0) {
        if (c != NULL) {
            sbx_pipe_buf_free(&c->up);
            sbx_pipe_buf_free(&c->down);
        }
        free(c);
        close(fd); /* refused: too many connections or no proxy */
        return;
    }
    c->client = fd;
    c->proxy = proxy;
    if (ls->target != NULL) {
        int n = snprintf(c->up.data, BUF, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                         ls->target, ls->target);
        c->up.len = n > 0 && n < BUF ? (size_t)n : 0;
        c->awaiting_tunnel = 1;
    }
    r->conns[i] = c;
}

/* Read the proxy's answer to our CONNECT; returns -1 to drop the
 * connection. Bytes after the header belong to the client. */
static int read_tunnel_answer(conn_t *c)
{
    ssize_t n = read(c->proxy, c->head + c->head_len, sizeof c->head - 1 - c->head_len);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (n == 0)
        return -1;
    c->head_len += (size_t)n;
    c->head[c->head_len] = '\0';
    char *end = strstr(c->head, "\r\n\r\n");
    if (end == NULL)
        return c->head_len < sizeof c->head - 1 ? 0 : -1;
    if (strncmp(c->head, "HTTP/1.1 200", 12) != 0 && strncmp(c->head, "HTTP/1.0 200", 12) != 0)
        return -1;
    size_t rest = c->head_len - (size_t)(end + 4 - c->head);
    memcpy(c->down.data, end + 4, rest);
    c->down.len = rest;
    c->awaiting_tunnel = 0;
    return 0;
}

static int step(conn_t *c, short client_ev, short proxy_ev)
{
    if ((client_ev | proxy_ev) & (POLLERR | POLLNVAL))
        return -1;
    if (c->awaiting_tunnel) {
        if ((proxy_ev & (POLLIN | POLLHUP)) && read_tunnel_answer(c) < 0)
            return -1;
        if (sbx_pipe_buf_drain(c->proxy, &c->up) < 0)
            return -1;
        return 0;
    }
    if (((client_ev & (POLLIN | POLLHUP)) && sbx_pipe_buf_fill(c->client, &c->up) < 0) ||
        ((proxy_ev & (POLLIN | POLLHUP)) && sbx_pipe_buf_fill(c->proxy, &c->down) < 0))
        return -1;
    if (sbx_pipe_buf_drain(c->proxy, &c->up) < 0 || sbx_pipe_buf_drain(c->client, &c->down) < 0)
        return -1;
    return c->up.shut && c->down.shut ? -1 : 0;
}

static short wants(const sbx_pipe_buf_t *in, const sbx_pipe_buf_t *out)
{
    return (short)((sbx_pipe_buf_wants_read(in) ? POLLIN : 0) |
                   (sbx_pipe_buf_wants_write(out) ? POLLOUT : 0));
}

size_t sbx_relay_pollfds(sbx_relay_t *r, struct pollfd *pfds)
{
    size_t n = 0;
    for (size_t i = 0; i < r->listener_count; i++) {
        r->slots[n] = (slot_t){(int)i, NULL, 0};
        pfds[n++] = (struct pollfd){r->listeners[i].fd, POLLIN, 0};
    }
    for (size_t i = 0; i < SBX_RELAY_MAX_CONNS; i++) {
        conn_t *c = r->conns[i];
        if (c == NULL)
            continue;
        short cl = c->awaiting_tunnel ? 0 : wants(&c->up, &c->down);
        short px = c->awaiting_tunnel ? (short)(POLLIN | (c->up.len ? POLLOUT : 0))
                                      : wants(&c->down, &c->up);
        r->slots[n] = (slot_t){-1, c, 0};
        pfds[n++] = (struct pollfd){c->client, cl, 0};
        r->slots[n] = (slot_t){-1, c, 1};
        pfds[n++] = (struct pollfd){c->proxy, px, 0};
    }
    return n;
}

void sbx_relay_dispatch(sbx_relay_t *r, const struct pollfd *pfds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r->slots[i].listener >= 0) {
            if (pfds[i].revents & POLLIN)
                accept_one(r, &r->listeners[r->slots[i].listener]);
            continue;
        }
        if (r->slots[i].is_proxy_side)
            continue; /* handled with its client slot, the one before it */
        conn_t *c = r->slots[i].conn;
        if (step(c, pfds[i].revents, pfds[i + 1].revents) == 0)
            continue;
        for (size_t k = 0; k < SBX_RELAY_MAX_CONNS; k++)
            if (r->conns[k] == c)
                conn_free(r, k);
    }
}
