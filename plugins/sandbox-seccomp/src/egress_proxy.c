/* The egress proxy (egress_proxy.h). */
#define _GNU_SOURCE
#include "egress_proxy.h"

#include "../common/pipe_buf.h"
#include "http_head.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define BUF_SIZE 32768
#define MAX_CONNS 256

typedef enum { ST_HEAD, ST_RESOLVE, ST_CONNECT, ST_TUNNEL } state_t;

typedef struct pconn pconn_t;
struct pconn {
    sbx_proxy_t *proxy; /* NULL once the connection is closed */
    unsigned *work_in_flight;
    pconn_t *prev, *next;
    state_t st;
    int cfd, ufd;
    agentd_poll_t *cpoll, *upoll;
    char head[HEAD_MAX + 1];
    size_t head_len;
    sbx_request_t req;
    int local_ok;           /* the allowlist entry names a local address itself */
    struct addrinfo *ai, *ai_next;
    int gai_rc;
    int work_pending;
    sbx_pipe_buf_t up, down; /* client -> upstream, upstream -> client */
};

struct sbx_proxy {
    sbx_proxy_opts_t o;
    unsigned *work_in_flight;
    char *path;
    int lfd;
    agentd_poll_t *lpoll;
    pconn_t *conns;
    size_t conn_count;
};

static void conn_close(pconn_t *c);
static void update_polls(pconn_t *c);

static void conn_free(pconn_t *c)
{
    if (c->ai != NULL)
        freeaddrinfo(c->ai);
    sbx_pipe_buf_free(&c->up);
    sbx_pipe_buf_free(&c->down);
    sbx_request_free(&c->req);
    free(c);
}

static void conn_close(pconn_t *c)
{
    sbx_proxy_t *p = c->proxy;
    if (p == NULL)
        return;
    p->o.api->poll_close(c->cpoll);
    p->o.api->poll_close(c->upoll);
    close(c->cfd);
    if (c->ufd >= 0)
        close(c->ufd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    p->conn_count--;
    c->proxy = NULL;
    if (!c->work_pending)
        conn_free(c); /* else the DNS lookup's completion frees it */
}

/* Answer the client with a short HTTP response and close. */
static void respond_and_close(pconn_t *c, int code, const char *status, const char *body)
{
    char buf[768];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     code, status, strlen(body), body);
    if (n > 0 && (size_t)n < sizeof buf && send(c->cfd, buf, (size_t)n, MSG_NOSIGNAL) < 0) {
        /* the client is gone; nothing to tell */
    }
    conn_close(c);
}

static void refuse(pconn_t *c, const char *reason)
{
    sbx_proxy_t *p = c->proxy;
    char body[512];
    snprintf(body, sizeof body, "agentd sandbox: egress to %s:%u refused: %s\n",
             c->req.host, (unsigned)c->req.port, reason);
    if (p->o.refused != NULL)
        p->o.refused(p->o.ud, c->req.host, c->req.port, reason);
    respond_and_close(c, 403, "Forbidden", body);
}

static unsigned wants(const sbx_pipe_buf_t *in, const sbx_pipe_buf_t *out)
{
    return (sbx_pipe_buf_wants_read(in) ? AGENTD_POLL_READ : 0u) |
           (sbx_pipe_buf_wants_write(out) ? AGENTD_POLL_WRITE : 0u);
}

static void update_polls(pconn_t *c)
{
    const agentd_host_api_t *api = c->proxy->o.api;
    api->poll_update(c->cpoll, wants(&c->up, &c->down));
    api->poll_update(c->upoll, wants(&c->down, &c->up));
}

static void tunnel_step(pconn_t *c, int from_client, unsigned revents)
{
    int rc = 0;
    if (revents & (AGENTD_POLL_READ | AGENTD_POLL_HUP))
        rc = from_client ? sbx_pipe_buf_fill(c->cfd, &c->up)
                         : sbx_pipe_buf_fill(c->ufd, &c->down);
    if (rc == 0)
        rc = sbx_pipe_buf_drain(c->ufd, &c->up);
    if (rc == 0)
        rc = sbx_pipe_buf_drain(c->cfd, &c->down);
    if (rc < 0 || (c->up.shut && c->down.shut)) {
        conn_close(c);
        return;
    }
    update_polls(c);
}

static void on_upstream(void *ud, int fd, unsigned revents, int status);

/* The upstream connection is up: start relaying. What the client sent
 * after its head (or the rewritten request) goes first. */
static void connected(pconn_t *c)
{
    c->st = ST_TUNNEL;
    if (sbx_pipe_buf_init(&c->up, BUF_SIZE) < 0 || sbx_pipe_buf_init(&c->down, BUF_SIZE) < 0) {
        respond_and_close(c, 503, "Service Unavailable", "agentd sandbox: out of memory\n");
        return;
    }
    if (c->req.is_connect) {
        static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        memcpy(c->down.data, ok, sizeof ok - 1);
        c->down.len = sizeof ok - 1;
    }
    memcpy(c->up.data, c->req.forward, c->req.forward_len);
    c->up.len = c->req.forward_len;
    update_polls(c);
}

static int is_local_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 127 || (a >> 16) == 0xa9fe || a == 0 || (a >> 28) == 0xe;
    }
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a6) || IN6_IS_ADDR_LINKLOCAL(a6) ||
           IN6_IS_ADDR_UNSPECIFIED(a6) || IN6_IS_ADDR_MULTICAST(a6) ||
           IN6_IS_ADDR_V4MAPPED(a6);
}

/* Try the next resolved address; refuse or fail when none is left. */
static void try_connect(pconn_t *c)
{
    sbx_proxy_t *p = c->proxy;
    for (; c->ai_next != NULL; c->ai_next = c->ai_next->ai_next) {
        struct addrinfo *ai = c->ai_next;
        if (!c->local_ok && is_local_addr(ai->ai_addr))
            continue;
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            close(fd);
            continue;
        }
        c->ufd = fd;
        c->ai_next = ai->ai_next;
        c->st = ST_CONNECT;
        if (p->o.api->poll_start(p->o.host, fd, AGENTD_POLL_WRITE, on_upstream, c,
                                 &c->upoll) < 0)
            break;
        return;
    }
    respond_and_close(c, 502, "Bad Gateway", "agentd sandbox: could not connect upstream\n");
}

static void on_upstream(void *ud, int fd, unsigned revents, int status)
{
    pconn_t *c = ud;
    if (c->st == ST_TUNNEL) {
        if (status < 0)
            conn_close(c);
        else
            tunnel_step(c, 0, revents);
        return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (status < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        c->proxy->o.api->poll_close(c->upoll);
        c->upoll = NULL;
        close(c->ufd);
        c->ufd = -1;
        try_connect(c);
        return;
    }
    connected(c);
}

static void resolve_work(void *ud)
{
    pconn_t *c = ud;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)c->req.port);
    c->gai_rc = getaddrinfo(c->req.host, port, &hints, &c->ai);
}

static void resolve_done(void *ud, int status)
{
    pconn_t *c = ud;
    c->work_pending = 0;
    if (c->work_in_flight != NULL)
        (*c->work_in_flight)--;
    if (c->proxy == NULL) {
        conn_free(c); /* closed while resolving */
        return;
    }
    if (status < 0 || c->gai_rc != 0) {
        respond_and_close(c, 502, "Bad Gateway", "agentd sandbox: cannot resolve host\n");
        return;
    }
    c->ai_next = c->ai;
    int any_public = 0;
    for (struct addrinfo *ai = c->ai; ai != NULL; ai = ai->ai_next)
        any_public |= c->local_ok || !is_local_addr(ai->ai_addr);
    if (!any_public) {
        refuse(c, "the name resolves to a loopback, link-local or unspecified address");
        return;
    }
    try_connect(c);
}

static void on_head(pconn_t *c)
{
    sbx_proxy_t *p = c->proxy;
    char why[160];
    if (sbx_request_parse(c->head, c->head_len, &c->req, why, sizeof why) < 0) {
        if (p->o.refused != NULL)
            p->o.refused(p->o.ud, "", 0, why);
        respond_and_close(c, 400, "Bad Request", "agentd sandbox: bad proxy request\n");
        return;
    }
    const sbx_allow_entry_t *e = sbx_allowlist_match(p->o.allow, c->req.host, c->req.port);
    if (e == NULL) {
        refuse(c, "not on the profile's egress_allow list");
        return;
    }
    c->local_ok = e->literal || strcasecmp(e->host, "localhost") == 0;
    c->st = ST_RESOLVE;
    p->o.api->poll_update(c->cpoll, 0);
    c->work_pending = 1;
    c->work_in_flight = p->o.work_in_flight;
    if (c->work_in_flight != NULL)
        (*c->work_in_flight)++;
    if (p->o.api->queue_work(p->o.host, resolve_work, resolve_done, c, NULL) < 0) {
        c->work_pending = 0;
        if (c->work_in_flight != NULL)
            (*c->work_in_flight)--;
        respond_and_close(c, 503, "Service Unavailable", "agentd sandbox: busy\n");
    }
}

static void read_head(pconn_t *c)
{
    ssize_t n = recv(c->cfd, c->head + c->head_len, HEAD_MAX - c->head_len, 0);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    c->head_len += (size_t)n;
    c->head[c->head_len] = '\0';
    if (strstr(c->head, "\r\n\r\n") != NULL)
        on_head(c);
    else if (c->head_len == HEAD_MAX)
        respond_and_close(c, 431, "Request Header Fields Too Large",
                          "agentd sandbox: request head too large\n");
}

static void on_client(void *ud, int fd, unsigned revents, int status)
{
    pconn_t *c = ud;
    if (status < 0)
        conn_close(c);
    else if (c->st == ST_HEAD)
        read_head(c);
    else if (c->st == ST_TUNNEL)
        tunnel_step(c, 1, revents);
}

static void on_accept(void *ud, int fd, unsigned revents, int status)
{
    sbx_proxy_t *p = ud;
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    pconn_t *c = p->conn_count < MAX_CONNS ? calloc(1, sizeof *c) : NULL;
    if (c == NULL) {
        close(cfd);
        return;
    }
    c->proxy = p;
    c->cfd = cfd;
    c->ufd = -1;
    if (p->o.api->poll_start(p->o.host, cfd, AGENTD_POLL_READ, on_client, c, &c->cpoll) < 0) {
        close(cfd);
        free(c);
        return;
    }
    c->next = p->conns;
    if (p->conns != NULL)
        p->conns->prev = c;
    p->conns = c;
    p->conn_count++;
}

/* A unix socket's path must fit in sun_path (108 bytes), and a data_dir
 * deep in a home directory does not: bind through the directory's
 * /proc/self/fd entry, which names the same place in a few bytes. */
static int bind_path(int fd, const char *path, int *dirfd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    *dirfd = -1;
    if (strlen(path) < sizeof sa.sun_path) {
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        return bind(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    const char *slash = strrchr(path, '/');
    if (slash == NULL || strlen(slash + 1) > 64) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *dir = strndup(path, (size_t)(slash - path));
    if (dir == NULL)
        return -1;
    *dirfd = open(dir[0] != '\0' ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (*dirfd < 0)
        return -1;
    snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", *dirfd, slash + 1);
    return bind(fd, (struct sockaddr *)&sa, sizeof sa);
}

static int listen_unix(const char *path, agentd_err_t *err)
{
    unlink(path);
    int dirfd = -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind_path(fd, path, &dirfd) < 0 || listen(fd, 128) < 0 ||
        chmod(path, 0666) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (dirfd >= 0)
            close(dirfd);
        return agentd_err_set(err, AGENTD_EIO, "egress proxy: listen on %s: %s", path,
                              strerror(e));
    }
    if (dirfd >= 0)
        close(dirfd);
    return fd;
}

int sbx_proxy_start(const sbx_proxy_opts_t *opts, sbx_proxy_t **out, agentd_err_t *err)
{
    sbx_proxy_t *p = calloc(1, sizeof *p);
    if (p == NULL || (p->path = strdup(opts->socket_path)) == NULL) {
        free(p);
        return agentd_err_set(err, AGENTD_ENOMEM, "egress proxy: out of memory");
    }
    p->o = *opts;
    p->lfd = listen_unix(p->path, err);
    if (p->lfd < 0) {
        int rc = p->lfd;
        free(p->path);
        free(p);
        return rc;
    }
    int rc = opts->api->poll_start(opts->host, p->lfd, AGENTD_POLL_READ, on_accept, p,
                                   &p->lpoll);
    if (rc < 0) {
        close(p->lfd);
        unlink(p->path);
        free(p->path);
        free(p);
        return agentd_err_set(err, rc, "egress proxy: poll_start: %s", agentd_strerror(rc));
    }
    *out = p;
    return 0;
}

void sbx_proxy_stop(sbx_proxy_t *p)
{
    if (p == NULL)
        return;
    while (p->conns != NULL)
        conn_close(p->conns);
    p->o.api->poll_close(p->lpoll);
    close(p->lfd);
    unlink(p->path);
    free(p->path);
    free(p);
}
