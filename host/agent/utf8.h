/*
 * UTF-8 checks and repair for text that came from outside (an agent's
 * stdout, a plugin's event). JSON must be valid UTF-8, so bytes that are not
 * are replaced before they go into an event, the way browsers do it: each
 * maximal ill-formed subpart becomes one U+FFFD (Unicode 15, section 3.9).
 *
 * Thread: any. No allocation except in host_utf8_repair.
 */
#ifndef AGENTD_HOST_UTF8_H
#define AGENTD_HOST_UTF8_H

#include <stddef.h>

/* Length (1..4) of the well-formed sequence at s[0..n), or 0 when it is
 * ill-formed or cut short; then *bad (if not NULL) receives the length of
 * its maximal ill-formed subpart (>= 1), which one U+FFFD replaces. */
size_t host_utf8_seq(const unsigned char *s, size_t n, size_t *bad);

/* 1 when s[0..n) is well-formed UTF-8 (NUL bytes allowed), else 0. */
int host_utf8_valid(const char *s, size_t n);

/* A malloc'd, NUL-terminated, well-formed copy of s[0..n) with every
 * ill-formed subpart replaced by U+FFFD; *out_len receives its length.
 * drop_cut_tail: a sequence cut short at the very end (a line truncated in
 * the middle of a character) is dropped instead of replaced. NULL when out
 * of memory. */
char *host_utf8_repair(const char *s, size_t n, int drop_cut_tail, size_t *out_len);

#endif /* AGENTD_HOST_UTF8_H */
