/*
 * Reading a few fields out of a JSON text without building all of it.
 * Claude Code's lines carry much the host does not keep (message ids,
 * usage of every partial message, uuids); parsing all of that with jansson
 * costs more than everything else on an event's path together. A span is
 * the text of one value; the functions walk spans of text that
 * host_json_is_object (events/json_check.h) accepted, and only the values
 * an event keeps are handed to jansson.
 *
 * Keys are compared as written: a key spelled with escapes ("typ\u0065")
 * does not match. Every function stays within the span, whatever its text.
 *
 * Thread: any. No allocation except host_jspan_value.
 */
#ifndef AGENTD_HOST_JSON_SPAN_H
#define AGENTD_HOST_JSON_SPAN_H

#include <stddef.h>

#include <jansson.h>

typedef struct host_jspan {
    const char *p;  /* first byte of the value, or NULL: no value */
    size_t n;
} host_jspan_t;

typedef struct host_jspan_iter {
    host_jspan_t arr;
    size_t at;
} host_jspan_iter_t;

/* The value of key in the object obj; {NULL, 0} when obj is not an object
 * or has no such key (the first one counts). */
host_jspan_t host_jspan_get(host_jspan_t obj, const char *key);

/* host_jspan_get for several keys in one walk: out[k] receives the value
 * of keys[k] (the first one counts), or {NULL, 0}. The walk stops once
 * every key is found. */
void host_jspan_get_many(host_jspan_t obj, const char *const *keys, size_t nkeys,
                         host_jspan_t *out);

/* The first byte of the value ('{', '[', '"', 't', 'f', 'n', '-' or a
 * digit), or 0 for no value. */
char host_jspan_kind(host_jspan_t v);

/* 1 when v is a string equal to lit (written without escapes). */
int host_jspan_streq(host_jspan_t v, const char *lit);

/* Iterating an array: init, then next until it returns 0. */
void host_jspan_iter_init(host_jspan_iter_t *it, host_jspan_t arr);
int host_jspan_next(host_jspan_iter_t *it, host_jspan_t *elem);

/* The value as a new jansson value, or NULL (no value, out of memory, or
 * something jansson refuses: an integer beyond 64 bits, a lone surrogate).
 * The span must come from text host_json_is_object accepted: a string
 * without escapes is then taken as is, its UTF-8 already checked. */
json_t *host_jspan_value(host_jspan_t v);

#endif /* AGENTD_HOST_JSON_SPAN_H */
