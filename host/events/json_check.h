/*
 * A strict, allocation-free check that text is one JSON object (RFC 8259,
 * UTF-8). The event log stores data_json as given and the API splices it
 * into its messages unparsed, so what comes in, also from plugins, is
 * checked once here, at a fraction of the cost of parsing it.
 */
#ifndef AGENTD_HOST_JSON_CHECK_H
#define AGENTD_HOST_JSON_CHECK_H

#include <stddef.h>

/* Nesting deeper than this is refused (jansson's own limit is 2048). */
#define HOST_JSON_MAX_DEPTH 1024

/* 1 when s[0..n) is exactly one JSON object, with optional whitespace
 * around it; 0 otherwise (also for invalid UTF-8 in a string). */
int host_json_is_object(const char *s, size_t n);

#endif /* AGENTD_HOST_JSON_CHECK_H */
