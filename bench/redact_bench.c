/* Redaction throughput (host/secrets/redact.h): MB/s of the one-shot call
 * and of a stream fed in 4 KiB chunks, on three kinds of text, for a few
 * sizes of secret set; and the time to build the automaton.
 *
 *   redact_bench [MiB]      (default 16 MiB of each kind of text)
 *
 * Texts: plain prose (no byte any decoding view reacts to: only the raw view
 * runs); Claude Code stream-json lines (\n and \" escapes, a URL with %XX);
 * and the same lines with every fourth character \u-escaped (the worst case:
 * the JSON views never sync back). One line in 64 holds a secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secrets/redact.h"

typedef struct text {
    char *p;
    size_t n, cap;
} text_t;

static int add(text_t *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1 << 20;
        while (cap < t->n + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL)
            return -1;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = '\0';
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t rnd(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 16;
}

enum { PLAIN, JSON, JSON_U };

static int make_text(int kind, size_t size, char vals[][64], size_t nvals, text_t *t)
{
    static const char prose[] =
        "The quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet, "
        "consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. ";
    static const char line[] =
        "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"content\":"
        "\"total 48\\ndrwxr-xr-x  5 agent agent 4096 Jan  1 12:00 .\\n-rw-r--r--  1 agent "
        "agent  220 Jan  1 12:00 README.md\\nsee https://example.com/a%20b?c=d+e for "
        "\\\"details\\\" ";
    for (size_t i = 0; t->n < size; i++) {
        int rc = 0;
        if (kind == PLAIN) {
            rc = add(t, prose, sizeof prose - 1);
        } else if (kind == JSON) {
            rc = add(t, line, sizeof line - 1);
        } else {
            for (size_t k = 0; k < sizeof line - 1 && rc == 0; k++) {
                char c = line[k];
                if (k % 4 == 0 && c >= 'a' && c <= 'z') {
                    char esc[8];
                    snprintf(esc, sizeof esc, "\\u%04x", (unsigned)c);
                    rc = add(t, esc, 6);
                } else {
                    rc = add(t, &c, 1);
                }
            }
        }
        if (rc == 0 && i % 64 == 0)
            rc = add(t, vals[i % nvals], strlen(vals[i % nvals]));
        if (rc == 0 && kind != PLAIN)
            rc = add(t, "\"}]}}\n", 6);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 16;
    if (mib == 0 || mib > 1024) {
        fprintf(stderr, "usage: redact_bench [MiB 1..1024]\n");
        return 2;
    }
    static const size_t counts[] = {1, 50, 500};
    static const char *const kinds[] = {"plain prose", "stream-json lines",
                                        "stream-json, \\u-escaped"};
    static char vals[500][64];
    uint32_t x = 42;
    for (size_t i = 0; i < 500; i++) {
        int len = 24 + (int)(i % 25);
        for (int k = 0; k < len; k++)
            vals[i][k] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
                [rnd(&x) & 63];
        vals[i][len] = '\0';
    }
    printf("redact_bench: %zu MiB of each text; secrets of 24-48 characters\n", mib);
    printf("%-8s %-9s %-10s %-26s %10s %12s %8s\n", "secrets", "patterns", "build ms", "text",
           "one-shot", "4K stream", "masked");
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        host_redact_value_t v[500];
        for (size_t i = 0; i < counts[c]; i++) {
            v[i].data = vals[i];
            v[i].len = strlen(vals[i]);
        }
        host_redactor_t *r;
        double t0 = now_s();
        if (host_redactor_new(v, counts[c], &r) != 0) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        double build = now_s() - t0;
        for (int kind = 0; kind < 3; kind++) {
            text_t t = {0};
            if (make_text(kind, mib << 20, vals, counts[c], &t) != 0) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            char *out = NULL;
            size_t out_len = 0;
            t0 = now_s();
            if (host_redact(r, t.p, t.n, &out, &out_len) != 0) {
                fprintf(stderr, "out of memory\n");
                return 1;
            }
            double one = now_s() - t0;
            size_t masked = 0;
            for (const char *p = out; p != NULL && (p = strstr(p, "***")) != NULL; p += 3)
                masked++;
            free(out);
            host_redact_stream_t *s = host_redact_stream_new_fixed(r);
            host_redact_buf_t b = {0};
            t0 = now_s();
            for (size_t at = 0; at < t.n && s != NULL; at += 4096) {
                size_t n = t.n - at < 4096 ? t.n - at : 4096;
                if (host_redact_stream_write(s, t.p + at, n, &b) != 0)
                    return 1;
                b.len = 0;
            }
            if (s == NULL || host_redact_stream_flush(s, &b) != 0)
                return 1;
            double streamed = now_s() - t0;
            host_redact_buf_free(&b);
            host_redact_stream_free(s);
            double m = (double)t.n / (1024.0 * 1024.0);
            printf("%-8zu %-9zu %-10.1f %-26s %6.0f MB/s %8.0f MB/s %8zu\n", counts[c],
                   host_redactor_patterns(r), build * 1e3, kinds[kind], m / one, m / streamed,
                   masked);
            free(t.p);
        }
        host_redactor_unref(r);
    }
    return 0;
}
