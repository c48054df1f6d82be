/*
 * agentd plugin SDK: versions, error codes and the rules every header follows.
 *
 * THE RULES (they hold for every function and struct in sdk/include/agentd/):
 *
 * Ownership  Inputs are borrowed for the duration of the call. Whatever the
 *            callee wants to keep after it returns, it copies. Handles
 *            (timers, polls, processes, streams, sandboxes, executions) are
 *            freed only by their own close/destroy function; the memory
 *            behind a handle belongs to whoever created it.
 * Threads    Every callback, in both directions, runs on the host's loop
 *            thread. Only agentd_host_api_t.post and .log may be called from
 *            any other thread. Blocking work goes through queue_work.
 * Errors     A function returns 0 or a negative AGENTD_E* code; human text,
 *            when there is some, goes to an agentd_err_t out-parameter that
 *            may be NULL. A call that fails never invokes its callback. An
 *            asynchronous request that was accepted completes exactly once,
 *            also when it is cancelled or times out.
 * Structs    Every struct that crosses the boundary starts with a uint32_t
 *            `size` and only ever grows at its end. Each field says the ABI
 *            minor that added it. A changed signature becomes a new field
 *            (`foo2`), never an edit of `foo`.
 * JSON       JSON crosses the boundary as UTF-8 text plus a length, so each
 *            side uses whatever JSON library it likes.
 * Names      Public names are agentd_ / AGENTD_; types are agentd_<thing>_t.
 *
 * This header depends on the C standard library only.
 */
#ifndef AGENTD_ABI_H
#define AGENTD_ABI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "AGTD" in ASCII: the first word of every plugin descriptor. */
#define AGENTD_PLUGIN_MAGIC 0x41475444u

/* A plugin built against major M, minor m loads in a host with the same
 * major M and a minor >= m. */
#define AGENTD_ABI_MAJOR 1
#define AGENTD_ABI_MINOR 0

/* The one symbol a plugin exports: a const agentd_plugin_t. */
#define AGENTD_PLUGIN_SYMBOL "agentd_plugin"

#if defined(__GNUC__)
#define AGENTD_EXPORT __attribute__((visibility("default")))
#define AGENTD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AGENTD_EXPORT
#define AGENTD_PRINTF(f, a)
#endif

/* Error codes (ABI: values never change; new codes are appended). */
typedef enum agentd_error_code {
    AGENTD_OK = 0,
    AGENTD_EINVAL = -1,     /* an argument or input is invalid */
    AGENTD_ENOMEM = -2,     /* out of memory */
    AGENTD_ENOTSUP = -3,    /* not supported by this plugin or host */
    AGENTD_ENOENT = -4,     /* no such thing (sandbox, secret, file, id) */
    AGENTD_EEXIST = -5,     /* already exists */
    AGENTD_EBUSY = -6,      /* resource busy; try later */
    AGENTD_ETIMEDOUT = -7,  /* a deadline passed */
    AGENTD_ECANCELED = -8,  /* cancelled before it completed */
    AGENTD_EIO = -9,        /* I/O error with the backend */
    AGENTD_EPERM = -10,     /* refused by policy or permissions */
    AGENTD_EAGAIN = -11,    /* not now: back off and retry (backpressure) */
    AGENTD_ECLOSED = -12,   /* the handle or stream is closed */
    AGENTD_EPROTO = -13,    /* the peer spoke the protocol wrongly */
    AGENTD_EVERSION = -14,  /* incompatible version */
    AGENTD_ECONFIG = -15,   /* invalid configuration */
    AGENTD_ESTATE = -16,    /* the operation is not valid in this state */
    AGENTD_ELIMIT = -17,    /* a configured limit was reached */
    AGENTD_EOF = -18,       /* end of stream (read callbacks only) */
    AGENTD_EUNAVAIL = -19   /* backend unavailable (transient) */
} agentd_error_code_t;

/* The text for an AGENTD_E* code; never NULL. Header-only so plugins need no
 * symbol from the daemon. */
static inline const char *agentd_strerror(int code)
{
    switch (code) {
    case AGENTD_OK: return "success";
    case AGENTD_EINVAL: return "invalid argument";
    case AGENTD_ENOMEM: return "out of memory";
    case AGENTD_ENOTSUP: return "not supported";
    case AGENTD_ENOENT: return "not found";
    case AGENTD_EEXIST: return "already exists";
    case AGENTD_EBUSY: return "busy";
    case AGENTD_ETIMEDOUT: return "timed out";
    case AGENTD_ECANCELED: return "cancelled";
    case AGENTD_EIO: return "I/O error";
    case AGENTD_EPERM: return "not permitted";
    case AGENTD_EAGAIN: return "try again";
    case AGENTD_ECLOSED: return "closed";
    case AGENTD_EPROTO: return "protocol error";
    case AGENTD_EVERSION: return "incompatible version";
    case AGENTD_ECONFIG: return "invalid configuration";
    case AGENTD_ESTATE: return "invalid state";
    case AGENTD_ELIMIT: return "limit reached";
    case AGENTD_EOF: return "end of stream";
    case AGENTD_EUNAVAIL: return "unavailable";
    default: return "unknown error";
    }
}

/* Human text for a failed call. The callee fills it (NUL-terminated, cut to
 * fit); the caller owns the buffer. Text never contains a secret's value. */
#define AGENTD_ERR_MAX 512
typedef struct agentd_err {
    char msg[AGENTD_ERR_MAX];
} agentd_err_t;

/* Sets err (if not NULL) and returns code, so a function can end with
 * `return agentd_err_set(err, AGENTD_EINVAL, "field %s ...", name);` */
static inline int agentd_err_set(agentd_err_t *err, int code, const char *fmt, ...)
    AGENTD_PRINTF(3, 4);
static inline int agentd_err_set(agentd_err_t *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Size of a struct up to and including `field`: what a struct of the ABI
 * minor that added `field` must at least declare in its `size`. */
#define AGENTD_SIZE_THROUGH(type, field) \
    (offsetof(type, field) + sizeof(((type *)0)->field))

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_ABI_H */
