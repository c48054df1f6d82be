/* JSON-preserving redaction (redact.h, host_redact_json). */
#include "secrets/redact.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <agentd/abi.h>

/* A copy of j with every string (and key) redacted; NULL on ENOMEM. */
static json_t *redact_tree(const host_redactor_t *r, json_t *j, int depth)
{
    if (depth > 256)
        return NULL;
    if (json_is_string(j)) {
        char *o = NULL;
        size_t n = 0;
        if (host_redact(r, json_string_value(j), json_string_length(j), &o, &n) != 0)
            return NULL;
        if (o == NULL)
            return json_incref(j);
        json_t *s = json_stringn_nocheck(o, n);
        free(o);
        return s;
    }
    if (json_is_array(j)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        if (a == NULL)
            return NULL;
        json_array_foreach(j, i, x) {
            json_t *c = redact_tree(r, x, depth + 1);
            /* append_new takes c, also when it fails */
            if (c == NULL || json_array_append_new(a, c) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (json_is_object(j)) {
        json_t *o = json_object();
        const char *k;
        size_t klen;
        json_t *x;
        if (o == NULL)
            return NULL;
        json_object_keylen_foreach(j, k, klen, x) {
            char *rk = NULL;
            size_t rklen = 0;
            json_t *c = redact_tree(r, x, depth + 1);
            if (c == NULL || host_redact(r, k, klen, &rk, &rklen) != 0) {
                json_decref(c);
                json_decref(o);
                return NULL;
            }
            /* setn_new takes c, also when it fails */
            int rc = json_object_setn_new_nocheck(o, rk != NULL ? rk : k,
                                                  rk != NULL ? rklen : klen, c);
            free(rk);
            if (rc != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    return json_incref(j);
}

int host_redact_json(const host_redactor_t *r, const char *json, size_t len, char **out,
                     size_t *out_len)
{
    char *o = NULL;
    size_t n = 0;
    int rc = host_redact(r, json, len, &o, &n);
    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (rc != 0 || o == NULL)
        return rc;
    json_t *check = json_loadb(o, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_t *orig = check == NULL ? json_loadb(json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                                 : NULL;
    json_decref(check);
    if (orig != NULL) {
        /* The text redaction broke the structure: string by string. */
        free(o);
        o = NULL;
        json_t *t = redact_tree(r, orig, 0);
        int object = json_is_object(orig);
        json_decref(orig);
        char *d = t != NULL ? json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII)
                            : NULL;
        json_decref(t);
        if (d == NULL)
            return AGENTD_ENOMEM;
        /* A value that spells JSON structure ("1,\"b\":") may survive string by
         * string: then nothing of the document is kept. */
        char *again = NULL;
        rc = host_redact(r, d, strlen(d), &again, NULL);
        int survived = again != NULL;
        free(again);
        if (rc != 0 || survived) {
            free(d);
            d = strdup(object ? "{\"redacted\":\"***\"}" : "\"***\"");
            if (d == NULL)
                return AGENTD_ENOMEM;
        }
        o = d;
        n = strlen(d);
    }
    *out = o;
    if (out_len != NULL)
        *out_len = n;
    return 0;
}

int host_redact_source_json(host_redact_source_t *src, const char *json, size_t len, char **out,
                            size_t *out_len)
{
    host_redactor_t *r = host_redact_source_get(src);
    int rc = host_redact_json(r, json, len, out, out_len);
    host_redactor_unref(r);
    return rc;
}
