/* HTTP to the engine with libcurl, retries and version negotiation. */
#define _GNU_SOURCE
#include "engine.h"

#include "retry.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int dk_api_cmp(const char *a, const char *b)
{
    unsigned am = 0, an = 0, bm = 0, bn = 0;
    sscanf(a, "%u.%u", &am, &an);
    sscanf(b, "%u.%u", &bm, &bn);
    return am != bm ? (am < bm ? -1 : 1) : an != bn ? (an < bn ? -1 : 1) : 0;
}

static char *dup_opt(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

int dk_engine_init(dk_engine_t *e, const dk_engine_opts_t *o, agentd_err_t *err)
{
    memset(e, 0, sizeof *e);
    const char *ep = o->endpoint != NULL ? o->endpoint : "unix:///var/run/docker.sock";
    e->endpoint = strdup(ep);
    if (strncmp(ep, "unix://", 7) == 0 && ep[7] == '/') {
        e->socket_path = strdup(ep + 7);
        e->base_url = strdup("http://docker");
    } else if (strncmp(ep, "tcp://", 6) == 0 && ep[6] != '\0') {
        int tls = (o->tls_cert != NULL && o->tls_cert[0] != '\0') ||
                  (o->tls_ca != NULL && o->tls_ca[0] != '\0');
        if (asprintf(&e->base_url, "%s://%s", tls ? "https" : "http", ep + 6) < 0)
            e->base_url = NULL;
    } else {
        dk_engine_free(e);
        return agentd_err_set(err, AGENTD_ECONFIG,
                              "engine: \"%s\" is not unix:///path or tcp://host:port", ep);
    }
    e->tls_ca = dup_opt(o->tls_ca);
    e->tls_cert = dup_opt(o->tls_cert);
    e->tls_key = dup_opt(o->tls_key);
    e->tls_verify = o->tls_verify;
    e->timeout_s = o->timeout_s > 0 ? o->timeout_s : 30;
    e->retry_max = o->retry_max;
    e->retry_base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 200;
    const char *want = o->api_version != NULL ? o->api_version : "auto";
    unsigned maj, min;
    if (strcmp(want, "auto") != 0 && (sscanf(want, "%u.%u", &maj, &min) != 2 ||
                                      strlen(want) >= sizeof e->wanted)) {
        dk_engine_free(e);
        return agentd_err_set(err, AGENTD_ECONFIG,
                              "api_version: \"%s\" is not \"auto\" or a version like 1.41",
                              want);
    }
    snprintf(e->wanted, sizeof e->wanted, "%s", want);
    if (e->endpoint == NULL || e->base_url == NULL ||
        (strncmp(ep, "unix://", 7) == 0 && e->socket_path == NULL)) {
        dk_engine_free(e);
        return agentd_err_set(err, AGENTD_ENOMEM, "engine: out of memory");
    }
    pthread_mutex_init(&e->lock, NULL);
    return 0;
}

void dk_engine_free(dk_engine_t *e)
{
    if (e->endpoint != NULL && e->base_url != NULL)
        pthread_mutex_destroy(&e->lock);
    free(e->endpoint);
    free(e->socket_path);
    free(e->base_url);
    free(e->tls_ca);
    free(e->tls_cert);
    free(e->tls_key);
    memset(e, 0, sizeof *e);
}

/* ---- one transfer ---------------------------------------------------------- */

typedef struct sink {
    char *buf;
    size_t len, cap;
    int oom;
} sink_t;

#define DK_BODY_MAX (64u << 20) /* an answer larger than this is refused */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    sink_t *s = ud;
    size_t add = size * n;
    if (s->len + add + 1 > DK_BODY_MAX)
        return 0;
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (b == NULL) {
            s->oom = 1;
            return 0;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

static void setup_easy(dk_engine_t *e, CURL *c, const char *url)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    if (e->socket_path != NULL)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, e->socket_path);
    if (e->tls_ca != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, e->tls_ca);
    if (e->tls_cert != NULL)
        curl_easy_setopt(c, CURLOPT_SSLCERT, e->tls_cert);
    if (e->tls_key != NULL)
        curl_easy_setopt(c, CURLOPT_SSLKEY, e->tls_key);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, e->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, e->tls_verify ? 2L : 0L);
}

static void once(dk_engine_t *e, const char *method, const char *url, const char *ctype,
                 const void *body, size_t body_len, long timeout_s, dk_resp_t *r)
{
    CURL *c = curl_easy_init();
    sink_t s = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    if (c == NULL) {
        r->curl_code = CURLE_OUT_OF_MEMORY;
        snprintf(r->msg, sizeof r->msg, "out of memory");
        return;
    }
    setup_easy(e, c, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (timeout_s >= 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : e->timeout_s);
    if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype != NULL ? ctype : "application/json");
    struct curl_slist *h2 = curl_slist_append(NULL, ct);
    if (h2 != NULL && (hdrs = curl_slist_append(h2, "Expect:")) == NULL)
        hdrs = h2;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(c);
    r->curl_code = (int)cc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (cc != CURLE_OK) {
        r->status = 0;
        snprintf(r->msg, sizeof r->msg, "engine %s: %s", e->endpoint,
                 s.oom ? "out of memory" : errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    free(r->body);
    r->body = s.buf;
    r->len = s.len;
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

/* The engine's own words for a failure: {"message": "..."} */
static void engine_message(dk_engine_t *e, dk_resp_t *r)
{
    json_t *o = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(o, "message"));
    if (m != NULL)
        snprintf(r->msg, sizeof r->msg, "%s", m);
    else
        snprintf(r->msg, sizeof r->msg, "engine %s answered HTTP %ld", e->endpoint, r->status);
    json_decref(o);
}

static void wait_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static uint32_t jitter(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint32_t x = (uint32_t)now.tv_nsec ^ (uint32_t)(uintptr_t)&now ^ (uint32_t)now.tv_sec;
    x ^= x << 13, x ^= x >> 17, x ^= x << 5; /* xorshift: spread the low bits */
    return x;
}

static int transfer(dk_engine_t *e, const char *method, const char *url, const char *ctype,
                    const void *body, size_t len, long timeout_s, dk_resp_t *r)
{
    for (unsigned attempt = 0;; attempt++) {
        r->status = 0;
        r->curl_code = 0;
        r->msg[0] = '\0';
        once(e, method, url, ctype, body, len, timeout_s, r);
        if (r->curl_code == CURLE_OK && r->status < 400)
            return 0;
        if (r->curl_code == CURLE_OK)
            engine_message(e, r);
        if (!dk_retry_transient(r->curl_code, r->status) || attempt >= e->retry_max ||
            atomic_load(&e->stopping))
            break;
        wait_ms(dk_retry_delay_ms(attempt, e->retry_base_ms, jitter()));
    }
    if (dk_retry_transient(r->curl_code, r->status))
        return AGENTD_EUNAVAIL;
    switch (r->status) {
    case 0: return r->curl_code == CURLE_OUT_OF_MEMORY ? AGENTD_ENOMEM : AGENTD_EIO;
    case 400: return AGENTD_EINVAL;
    case 401:
    case 403: return AGENTD_EPERM;
    case 404: return AGENTD_ENOENT;
    case 409: return AGENTD_ESTATE;
    default: return AGENTD_EIO;
    }
}

/* GET /version once, then every request speaks min(engine, DK_API_MAX). */
static int negotiate(dk_engine_t *e, char *out, size_t outlen, char *msg, size_t msglen)
{
    pthread_mutex_lock(&e->lock);
    if (e->api[0] == '\0' && strcmp(e->wanted, "auto") != 0)
        snprintf(e->api, sizeof e->api, "%s", e->wanted);
    snprintf(out, outlen, "%s", e->api);
    pthread_mutex_unlock(&e->lock);
    if (out[0] != '\0')
        return 0;
    char url[600];
    snprintf(url, sizeof url, "%s/version", e->base_url);
    dk_resp_t r = {0};
    int rc = transfer(e, "GET", url, NULL, NULL, 0, 0, &r);
    json_t *o = rc == 0 ? json_loads(r.body != NULL ? r.body : "", 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(o, "ApiVersion"));
    if (rc == 0 && v == NULL) {
        rc = AGENTD_EPROTO;
        snprintf(r.msg, sizeof r.msg, "engine %s: GET /version has no ApiVersion", e->endpoint);
    } else if (rc == 0 && dk_api_cmp(v, DK_API_MIN) < 0) {
        rc = AGENTD_EVERSION;
        snprintf(r.msg, sizeof r.msg,
                 "engine %s speaks API %s; agentd needs %s or newer (upgrade the engine)",
                 e->endpoint, v, DK_API_MIN);
    } else if (rc == 0) {
        snprintf(out, outlen, "%s", dk_api_cmp(v, DK_API_MAX) < 0 ? v : DK_API_MAX);
        pthread_mutex_lock(&e->lock);
        snprintf(e->api, sizeof e->api, "%s", out);
        pthread_mutex_unlock(&e->lock);
    }
    if (rc != 0)
        snprintf(msg, msglen, "%s", r.msg);
    json_decref(o);
    dk_resp_free(&r);
    return rc;
}

int dk_request(dk_engine_t *e, const char *method, const char *path, const char *ctype,
               const void *body, size_t body_len, long timeout_s, dk_resp_t *r)
{
    memset(r, 0, sizeof *r);
    char api[16];
    int rc = negotiate(e, api, sizeof api, r->msg, sizeof r->msg);
    if (rc != 0)
        return rc;
    char *url = NULL;
    if (asprintf(&url, "%s/v%s%s", e->base_url, api, path) < 0) {
        snprintf(r->msg, sizeof r->msg, "out of memory");
        return AGENTD_ENOMEM;
    }
    rc = transfer(e, method, url, ctype, body, body_len, timeout_s, r);
    free(url);
    return rc;
}

int dk_request_json(dk_engine_t *e, const char *method, const char *path, const char *json,
                    dk_resp_t *r)
{
    return dk_request(e, method, path, "application/json", json, json ? strlen(json) : 0, 0, r);
}

void dk_resp_free(dk_resp_t *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

CURL *dk_engine_easy(dk_engine_t *e, const char *path, agentd_err_t *err)
{
    char api[16], msg[AGENTD_ERR_MAX];
    int rc = negotiate(e, api, sizeof api, msg, sizeof msg);
    if (rc != 0) {
        agentd_err_set(err, rc, "%s", msg);
        return NULL;
    }
    char *url = NULL;
    CURL *c = curl_easy_init();
    if (c == NULL || asprintf(&url, "%s/v%s%s", e->base_url, api, path) < 0) {
        curl_easy_cleanup(c);
        agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
        return NULL;
    }
    setup_easy(e, c, url);
    free(url); /* curl copies the URL */
    return c;
}
