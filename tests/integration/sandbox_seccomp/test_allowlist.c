/* sandbox-seccomp: allowlist patterns and proxy request parsing. Prints
 * "N passed, N failed" and exits non-zero on any failure. */
#define _GNU_SOURCE
#include "allowlist.h"
#include "http_head.h"

#include <stdio.h>
#include <string.h>

typedef struct tally {
    int passed, failed;
} tally_t;

static void check(tally_t *t, int ok, const char *what)
{
    if (ok) {
        t->passed++;
        return;
    }
    t->failed++;
    printf("FAIL: %s\n", what);
}

static void test_patterns(tally_t *t)
{
    sbx_allowlist_t al = {0};
    char msg[256];
    check(t, sbx_allowlist_add(&al, "api.example.com:443", msg, sizeof msg) == 0, "add name");
    check(t, sbx_allowlist_add(&al, "*.pkg.dev:443", msg, sizeof msg) == 0, "add wildcard");
    check(t, sbx_allowlist_add(&al, "10.0.0.5:*", msg, sizeof msg) == 0, "add any port");
    check(t, sbx_allowlist_add(&al, "[2001:db8::1]:8443", msg, sizeof msg) == 0, "add v6");
    check(t, sbx_allowlist_add_url(&al, "http://127.0.0.1:8080/x", msg, sizeof msg) == 0,
          "add url");
    check(t, sbx_allowlist_add_url(&al, "https://Models.Example.org", msg, sizeof msg) == 0,
          "add url default port");
    check(t, sbx_allowlist_match(&al, "api.example.com", 443) != NULL, "exact");
    check(t, sbx_allowlist_match(&al, "API.Example.COM", 443) != NULL, "case");
    check(t, sbx_allowlist_match(&al, "api.example.com", 80) == NULL, "other port");
    check(t, sbx_allowlist_match(&al, "x.api.example.com", 443) == NULL, "no implicit sub");
    check(t, sbx_allowlist_match(&al, "a.pkg.dev", 443) != NULL, "wildcard sub");
    check(t, sbx_allowlist_match(&al, "a.b.pkg.dev", 443) != NULL, "wildcard deep sub");
    check(t, sbx_allowlist_match(&al, "pkg.dev", 443) == NULL, "wildcard not apex");
    check(t, sbx_allowlist_match(&al, "evilpkg.dev", 443) == NULL, "wildcard suffix trick");
    check(t, sbx_allowlist_match(&al, "10.0.0.5", 1) != NULL, "any port");
    check(t, sbx_allowlist_match(&al, "2001:db8::1", 8443) != NULL, "v6");
    check(t, sbx_allowlist_match(&al, "127.0.0.1", 8080) != NULL, "url host");
    check(t, sbx_allowlist_match(&al, "models.example.org", 443) != NULL, "url https 443");
    check(t, sbx_allowlist_match(&al, "127.0.0.1", 8081) == NULL, "url other port");
    static const char *const bad[] = {"example.com", "example.com:0", "example.com:70000",
                                      ":443", "exa mple.com:443", "*.:443", "[::1:443"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check(t, sbx_allowlist_add(&al, bad[i], msg, sizeof msg) < 0, bad[i]);
    sbx_allowlist_free(&al);
    sbx_allowlist_t empty = {0};
    check(t, sbx_allowlist_match(&empty, "example.com", 443) == NULL, "empty list");
}

static void test_requests(tally_t *t)
{
    char msg[160];
    sbx_request_t r;
    const char *c = "CONNECT api.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\nEARLY";
    check(t, sbx_request_parse(c, strlen(c), &r, msg, sizeof msg) == 0, "connect parses");
    check(t, r.is_connect && strcmp(r.host, "api.example.com") == 0 && r.port == 443,
          "connect target");
    check(t, r.forward_len == 5 && memcmp(r.forward, "EARLY", 5) == 0, "connect early data");
    sbx_request_free(&r);
    const char *g = "GET http://h.test:8080/v1/x?y=1 HTTP/1.1\r\nHost: other.test\r\n"
                    "Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\n"
                    "Proxy-Authorization: Basic Zm9v\r\nX-A: 1\r\n\r\nBODY";
    check(t, sbx_request_parse(g, strlen(g), &r, msg, sizeof msg) == 0, "get parses");
    const char *want = "GET /v1/x?y=1 HTTP/1.1\r\nHost: h.test:8080\r\nX-A: 1\r\n"
                       "Connection: close\r\n\r\nBODY";
    check(t, !r.is_connect && r.port == 8080 && strcmp(r.host, "h.test") == 0, "get target");
    check(t, r.forward_len == strlen(want) && memcmp(r.forward, want, r.forward_len) == 0,
          "get rewritten to origin form, Host from the URL, no proxy headers");
    sbx_request_free(&r);
    const char *d = "GET http://h.test HTTP/1.0\r\n\r\n";
    check(t, sbx_request_parse(d, strlen(d), &r, msg, sizeof msg) == 0 && r.port == 80,
          "default port 80");
    sbx_request_free(&r);
    static const char *const bad[] = {"GET /relative HTTP/1.1\r\n\r\n",
                                      "GET https://h.test/ HTTP/1.1\r\n\r\n",
                                      "CONNECT h.test HTTP/1.1\r\n\r\n",
                                      "CONNECT h.test:* HTTP/1.1\r\n\r\n", "BROKEN\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        check(t, sbx_request_parse(bad[i], strlen(bad[i]), &r, msg, sizeof msg) < 0, bad[i]);
        sbx_request_free(&r);
    }
}

int main(void)
{
    tally_t t = {0, 0};
    test_patterns(&t);
    test_requests(&t);
    printf("%d passed, %d failed\n", t.passed, t.failed);
    return t.failed == 0 ? 0 : 1;
}
