/*
 * Redaction: replaces every known secret value with "***" in text on its way
 * out of the host (log lines, events, API messages, notifications).
 *
 * A redactor is built once from the set of secret values (the store rebuilds
 * it whenever a secret changes) and is then immutable and reference-counted,
 * so any thread may use it while the loop thread swaps in a new one.
 *
 * What is caught (docs/secrets.md has the operator's version):
 *   - the value itself;
 *   - the value as it appears inside a JSON string: any mix of \" \\ \/ \b
 *     \f \n \r \t and \uXXXX escapes (upper or lower case hex, surrogate
 *     pairs) for any of its characters, one level deep or two (JSON text
 *     inside a JSON string);
 *   - the value URL-encoded: any mix of %XX escapes (either case); a space
 *     written as '+' is caught too (the "+" form is one more pattern);
 *   - the value base64-encoded (standard and URL-safe alphabets), inside a
 *     longer base64 text at any of the 3 byte alignments: the characters that
 *     depend only on the value are matched, those that also depend on the
 *     neighbouring bytes are not needed (a 4-byte value at offset 1 leaves
 *     exactly 4 such characters; fewer than 4 are never used as a pattern);
 *   - the value interrupted by line breaks: within one text (or stream), CR
 *     and LF bytes, raw or JSON-escaped (\n, \r, \u000a, ...), between the
 *     parts of a value are ignored for matching, so "abc\ndef" is caught for
 *     "abcdef" (and a multi-line value is caught with its breaks changed);
 *     the masked span then includes the line break. Other characters between
 *     the parts (a prompt, indentation) are not ignored.
 *   - overlapping or adjacent values: the union of their spans becomes one
 *     "***".
 *
 * How: the text is read through a small tree of decoding "views" (raw; JSON-
 * unescaped; JSON-unescaped twice; URL-decoded raw and JSON-unescaped; line
 * breaks removed from the JSON-unescaped ones), each scanned by one shared
 * Aho-Corasick automaton holding every pattern (values, their variants and
 * base64 fragments), and each view byte carries the raw span it came from,
 * so a match anywhere maps back to the raw bytes to mask. A view follows the
 * raw one for free until its decoder meets a byte it transforms. A masked
 * span never ends inside a JSON escape sequence or a UTF-8 character (it is
 * widened), so redacting a JSON line keeps it valid JSON.
 *
 * Streams: a stream holds back only the bytes that could still be the start
 * of a secret in one of its forms (those the automata are in the middle of,
 * and an unfinished escape), so a value split across two writes is caught;
 * everything else is emitted at once. The hold is bounded by
 * host_redactor_max_hold() = 6 x the longest pattern + 16 (the widest form
 * is \uXXXX for every byte); beyond it bytes are let go, so a value whose
 * encoded form in a stream is longer than that (e.g. thousands of line
 * breaks inside it) may be masked only in part.
 *
 * Thread: a redactor and a source may be used from any thread; a stream by
 * one thread at a time. Ownership as everywhere in agentd: inputs borrowed;
 * results malloc'd for the caller. Errors: 0 or AGENTD_ENOMEM.
 */
#ifndef AGENTD_HOST_SECRETS_REDACT_H
#define AGENTD_HOST_SECRETS_REDACT_H

#include <stddef.h>
#include <stdint.h>

#define HOST_REDACT_MASK "***"
/* Values shorter than this are never patterns (and the store refuses them). */
#define HOST_REDACT_MIN_LEN 4

typedef struct host_redactor host_redactor_t;
typedef struct host_redact_source host_redact_source_t;
typedef struct host_redact_stream host_redact_stream_t;

typedef struct host_redact_value {
    const void *data;
    size_t len;
} host_redact_value_t;

/* Output of streams: bytes are appended; data is NUL-terminated when len > 0.
 * The caller frees data (free()). */
typedef struct host_redact_buf {
    char *data;
    size_t len, cap;
} host_redact_buf_t;

/* ---- redactors ------------------------------------------------------------ */

/* Builds a redactor over values (copied into the automaton; values shorter
 * than HOST_REDACT_MIN_LEN are skipped). count 0 gives a redactor that
 * changes nothing. *out has one reference. 0 or AGENTD_ENOMEM. */
int host_redactor_new(const host_redact_value_t *values, size_t count, host_redactor_t **out);
host_redactor_t *host_redactor_ref(host_redactor_t *r);
/* Drops a reference; the last one wipes and frees the automaton. NULL ok. */
void host_redactor_unref(host_redactor_t *r);

/* Number of patterns (values, variants, base64 fragments), longest pattern,
 * and the most a stream holds back. */
size_t host_redactor_patterns(const host_redactor_t *r);
size_t host_redactor_longest(const host_redactor_t *r);
size_t host_redactor_max_hold(const host_redactor_t *r);

/* One-shot: redacts text[0..len). *out is NULL when nothing had to change,
 * else a malloc'd NUL-terminated copy with the secrets masked (*out_len its
 * length; out_len may be NULL). r may be NULL (nothing to redact). */
int host_redact(const host_redactor_t *r, const char *text, size_t len, char **out,
                size_t *out_len);

/* One-shot for a JSON document (an event's data, an agent's raw line) that
 * must stay valid JSON. The text is redacted as text (which keeps escapes and
 * UTF-8 whole); if the result no longer parses (a value holding '"' matched
 * across the document's structure), the original is parsed and every string
 * (keys too) is redacted on its own, decoded, and the document re-encoded
 * (JSON_COMPACT): valid JSON in, valid JSON out. Text that is not JSON is
 * redacted as text. *out NULL: nothing to change. */
int host_redact_json(const host_redactor_t *r, const char *json, size_t len, char **out,
                     size_t *out_len);

/* ---- the current redactor, shared ----------------------------------------- */

/* A thread-safe holder of "the redactor for the secrets as they are now"; the
 * store owns one and swaps its redactor when a secret changes. */
host_redact_source_t *host_redact_source_new(void);
/* Frees it and drops its redactor. No stream created from it may remain. */
void host_redact_source_free(host_redact_source_t *src);
/* Replaces the current redactor, taking over the caller's reference to r
 * (NULL: none), and bumps the generation. Any thread. */
void host_redact_source_set(host_redact_source_t *src, host_redactor_t *r);
/* A new reference to the current redactor, or NULL. Any thread. */
host_redactor_t *host_redact_source_get(host_redact_source_t *src);
/* Counts the host_redact_source_set calls. Any thread. */
uint64_t host_redact_source_generation(const host_redact_source_t *src);
/* One-shot through the current redactor: as text, or as JSON. */
int host_redact_source_text(host_redact_source_t *src, const char *text, size_t len, char **out,
                            size_t *out_len);
int host_redact_source_json(host_redact_source_t *src, const char *json, size_t len, char **out,
                            size_t *out_len);

/* Matches host_log_redact_fn (core/log.h): ud is a host_redact_source_t.
 * Returns a malloc'd redacted copy of msg, or NULL to keep msg (nothing to
 * redact, or out of memory: then the line is dropped to "[redaction failed]"
 * rather than risk a leak - see the .c). Any thread. */
char *host_redact_log_hook(void *ud, const char *msg);

/* ---- streams ---------------------------------------------------------------- */

/* A stream that follows src: when the source's redactor changes, the bytes
 * still held are scanned again with the new one. NULL on ENOMEM. */
host_redact_stream_t *host_redact_stream_new(host_redact_source_t *src);
/* A stream over one fixed redactor (takes its own reference). */
host_redact_stream_t *host_redact_stream_new_fixed(host_redactor_t *r);
/* Redacts data[0..len) and appends to out what can be let go now; the rest
 * is held. 0 or AGENTD_ENOMEM (the stream is then unusable). */
int host_redact_stream_write(host_redact_stream_t *s, const void *data, size_t len,
                             host_redact_buf_t *out);
/* End of the text: appends everything held (redacted). The stream starts
 * afresh after it (the next write is a new text). */
int host_redact_stream_flush(host_redact_stream_t *s, host_redact_buf_t *out);
/* Bytes currently held back. */
size_t host_redact_stream_held(const host_redact_stream_t *s);
/* Wipes and frees (what is held is dropped). NULL ok. */
void host_redact_stream_free(host_redact_stream_t *s);

/* Appends to a buffer; 0 or AGENTD_ENOMEM. */
int host_redact_buf_add(host_redact_buf_t *b, const void *data, size_t len);
void host_redact_buf_free(host_redact_buf_t *b);

#endif /* AGENTD_HOST_SECRETS_REDACT_H */
