/*
 * The Docker Engine API client: HTTP over the engine's unix socket, or TCP
 * with TLS client certificates for a remote engine, through libcurl.
 * Requests are blocking: they run on the host's worker threads (queue_work),
 * never on the loop. The API version is negotiated with GET /version on the
 * first request (or fixed by the api_version setting). Transient failures
 * (retry.h) are retried here with backoff and jitter, up to retry_max.
 *
 * Threads: every function but dk_engine_init/free may run on any thread;
 * the negotiated version is guarded by a mutex.
 */
#ifndef DK_ENGINE_H
#define DK_ENGINE_H

#include <agentd/abi.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DK_API_MIN "1.40" /* oldest engine API this client speaks */
#define DK_API_MAX "1.41" /* newest it asks for */

typedef struct dk_engine_opts {
    const char *endpoint;      /* unix:///path or tcp://host:port */
    const char *api_version;   /* "auto" or "1.41" */
    const char *tls_ca, *tls_cert, *tls_key;
    int tls_verify;
    long timeout_s;            /* one request's deadline */
    unsigned retry_max;
    uint32_t retry_base_ms;
} dk_engine_opts_t;

typedef struct dk_engine {
    char *endpoint;
    char *socket_path;         /* unix:// engines; NULL for tcp:// */
    char *base_url;            /* "http://docker" or "https://host:port" */
    char *tls_ca, *tls_cert, *tls_key;
    int tls_verify;
    long timeout_s;
    unsigned retry_max;
    uint32_t retry_base_ms;
    char wanted[16];           /* "auto" or a version */
    pthread_mutex_t lock;
    char api[16];              /* negotiated; "" until the first request */
    atomic_int stopping;       /* the plugin stops: no more retries */
} dk_engine_t;

typedef struct dk_resp {
    long status;               /* HTTP status; 0: no response */
    int curl_code;             /* CURLcode */
    char *body;                /* NUL-terminated */
    size_t len;
    char msg[AGENTD_ERR_MAX];  /* why it failed: the engine's message or curl's */
} dk_resp_t;

int dk_engine_init(dk_engine_t *e, const dk_engine_opts_t *o, agentd_err_t *err);
void dk_engine_free(dk_engine_t *e);

/* Send one request and wait for the whole answer, retrying transient
 * failures. path is without the version prefix ("/containers/json");
 * body may be NULL. timeout_s 0: the engine's request timeout; -1: none
 * (image builds). Returns 0 for a 1xx-3xx answer, else AGENTD_ENOENT (404),
 * AGENTD_ESTATE (409), AGENTD_EINVAL (400), AGENTD_EPERM (401/403),
 * AGENTD_EUNAVAIL (transient failures past retry_max), AGENTD_EIO (other),
 * with r->msg set. r is filled either way; free with dk_resp_free. */
int dk_request(dk_engine_t *e, const char *method, const char *path, const char *ctype,
               const void *body, size_t body_len, long timeout_s, dk_resp_t *r);
/* The same with a JSON body (may be NULL). */
int dk_request_json(dk_engine_t *e, const char *method, const char *path, const char *json,
                    dk_resp_t *r);
void dk_resp_free(dk_resp_t *r);

/* A curl handle set up for the engine (socket, TLS), for `path` (version
 * prefix added; negotiates first). NULL with err set on failure. */
CURL *dk_engine_easy(dk_engine_t *e, const char *path, agentd_err_t *err);

/* Compare API versions "1.41" < "1.9"? (numerically): <0, 0, >0. */
int dk_api_cmp(const char *a, const char *b);

#endif
