/*
 * agentd plugin SDK: the services the host offers a plugin.
 *
 * The host hands each plugin a const agentd_host_api_t and an opaque
 * agentd_host_t (its context for that plugin) in init. The plugin keeps both
 * pointers; they stay valid until the plugin's fini returns. The daemon
 * exports no symbols: everything a plugin may call is in this table.
 *
 * Threads: every function here is loop-thread only, except post and log.
 * Errors and ownership: see abi.h.
 */
#ifndef AGENTD_HOST_H
#define AGENTD_HOST_H

#include "abi.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agentd_host agentd_host_t;       /* the host, per plugin */
typedef struct agentd_timer agentd_timer_t;     /* host-owned handles */
typedef struct agentd_poll agentd_poll_t;
typedef struct agentd_work agentd_work_t;
typedef struct agentd_process agentd_process_t;

typedef enum agentd_log_level {
    AGENTD_LOG_ERROR = 0,
    AGENTD_LOG_WARN = 1,
    AGENTD_LOG_INFO = 2,
    AGENTD_LOG_DEBUG = 3
} agentd_log_level_t;

typedef void (*agentd_timer_cb)(void *ud);
typedef void (*agentd_post_cb)(void *ud);
/* Runs on a worker thread: may block; must not call the host API except
 * post and log. */
typedef void (*agentd_work_cb)(void *ud);
/* Runs on the loop thread after work_cb, or with AGENTD_ECANCELED when the
 * work was cancelled before it started. Runs exactly once. */
typedef void (*agentd_after_work_cb)(void *ud, int status);

/* Poll events: readable, writable; reported also: error/hang-up. */
#define AGENTD_POLL_READ 0x1u
#define AGENTD_POLL_WRITE 0x2u
#define AGENTD_POLL_HUP 0x4u
typedef void (*agentd_poll_cb)(void *ud, int fd, unsigned revents, int status);

/* A spawned process ended: exit_status is its exit code, term_signal the
 * signal that ended it (0 if none). Runs once. */
typedef void (*agentd_exit_cb)(void *ud, int64_t exit_status, int term_signal);

/* Which stdio streams spawn creates as pipes; the others go to /dev/null. */
#define AGENTD_SPAWN_STDIN 0x1u
#define AGENTD_SPAWN_STDOUT 0x2u
#define AGENTD_SPAWN_STDERR 0x4u
/* Start the child in a new session and process group, so a signal to the
 * group reaches its whole tree. */
#define AGENTD_SPAWN_NEW_GROUP 0x8u

typedef struct agentd_spawn_opts {
    uint32_t size;                   /* sizeof(agentd_spawn_opts_t) */
    const char *file;                /* minor 0: program; PATH is searched */
    const char *const *argv;         /* minor 0: NULL-terminated; argv[0] first.
                                      * Never put a secret here: argv is
                                      * visible to every local user. */
    const char *const *env;          /* minor 0: "K=V", NULL-terminated; NULL
                                      * means an empty environment */
    const char *cwd;                 /* minor 0: NULL: the host's cwd */
    uint32_t flags;                  /* minor 0: AGENTD_SPAWN_* */
} agentd_spawn_opts_t;

/* What spawn gives back: the stdio streams asked for (ops NULL otherwise).
 * The streams are closed with their own close op; the process with
 * process_close. */
typedef struct agentd_spawn_io {
    uint32_t size;          /* sizeof(agentd_spawn_io_t), set by the caller */
    agentd_stream_t in;     /* minor 0: write to the child's stdin */
    agentd_stream_t out;    /* minor 0: read the child's stdout */
    agentd_stream_t err;    /* minor 0: read the child's stderr */
    int pid;                /* minor 0 */
} agentd_spawn_io_t;

typedef struct agentd_host_api {
    uint32_t size;          /* sizeof(agentd_host_api_t) of the host */
    uint16_t abi_major;     /* the host's ABI version */
    uint16_t abi_minor;

    /* minor 0: log a line, prefixed with the plugin's id. Any thread. The
     * host redacts known secret values, but never pass one on purpose. */
    void (*log)(agentd_host_t *host, agentd_log_level_t level, const char *fmt, ...)
        AGENTD_PRINTF(3, 4);

    /* minor 0: memory for the plugin (today the C library's allocator; use
     * these so the host can account for it later). free(NULL) is a no-op. */
    void *(*malloc)(agentd_host_t *host, size_t size);
    void *(*calloc)(agentd_host_t *host, size_t n, size_t size);
    void *(*realloc)(agentd_host_t *host, void *ptr, size_t size);
    void (*free)(agentd_host_t *host, void *ptr);

    /* minor 0: milliseconds on the loop's monotonic clock. */
    uint64_t (*now_ms)(agentd_host_t *host);

    /* minor 0: run cb after timeout_ms, then every repeat_ms if non-zero.
     * Errors: AGENTD_ENOMEM, AGENTD_ESTATE (host shutting down). */
    int (*timer_start)(agentd_host_t *host, uint64_t timeout_ms, uint64_t repeat_ms,
                       agentd_timer_cb cb, void *ud, agentd_timer_t **out);
    /* minor 0: cb never runs again once this returns; the host frees the
     * handle. NULL is a no-op. */
    void (*timer_close)(agentd_timer_t *timer);

    /* minor 0: run cb on the loop thread soon. Any thread. The only way a
     * plugin's own threads reach the loop. A pending post does not keep the
     * loop alive by itself: while a plugin's thread owes the loop an answer,
     * the plugin holds a timer, poll or process open (or uses queue_work).
     * Errors: AGENTD_ENOMEM, AGENTD_ESTATE (host has stopped: cb will not
     * run). */
    int (*post)(agentd_host_t *host, agentd_post_cb cb, void *ud);

    /* minor 0: run work_cb on the host's thread pool, then after_cb on the
     * loop thread. `out` (may be NULL) receives a handle for cancel_work,
     * valid until after_cb runs. */
    int (*queue_work)(agentd_host_t *host, agentd_work_cb work_cb,
                      agentd_after_work_cb after_cb, void *ud, agentd_work_t **out);
    /* minor 0: cancel work that has not started; after_cb still runs, with
     * AGENTD_ECANCELED. Errors: AGENTD_EBUSY (already running). */
    int (*cancel_work)(agentd_work_t *work);

    /* minor 0: watch a file descriptor the plugin owns (non-blocking).
     * events: AGENTD_POLL_READ | AGENTD_POLL_WRITE. */
    int (*poll_start)(agentd_host_t *host, int fd, unsigned events,
                      agentd_poll_cb cb, void *ud, agentd_poll_t **out);
    /* minor 0: change the events watched; 0 pauses the watch. */
    int (*poll_update)(agentd_poll_t *poll, unsigned events);
    /* minor 0: cb never runs again once this returns. The fd stays open:
     * the plugin closes it after this call. NULL is a no-op. */
    void (*poll_close)(agentd_poll_t *poll);

    /* minor 0: start a process. `io` (size set by the caller) receives the
     * streams asked for in opts->flags and the pid. exit_cb runs once when
     * the process ends. Errors: AGENTD_ENOENT (no such program),
     * AGENTD_EPERM, AGENTD_EINVAL, AGENTD_ENOMEM. */
    int (*spawn)(agentd_host_t *host, const agentd_spawn_opts_t *opts,
                 agentd_exit_cb exit_cb, void *ud, agentd_process_t **out,
                 agentd_spawn_io_t *io, agentd_err_t *err);
    /* minor 0: send a signal (to the whole group with
     * AGENTD_SPAWN_NEW_GROUP). Errors: AGENTD_ENOENT (already exited). */
    int (*process_kill)(agentd_process_t *proc, int signum);
    /* minor 0: release the handle. If the process still runs it is not
     * killed; exit_cb will not run after this returns. */
    void (*process_close)(agentd_process_t *proc);

    /* minor 0: record an event in a session's log, e.g. a refused network
     * connection. type is "<plugin-kind>.<what>" (sandbox.network_refused);
     * data is a JSON object. Errors: AGENTD_ENOENT (no such session),
     * AGENTD_EINVAL (not a JSON object). */
    int (*emit_event)(agentd_host_t *host, const char *session_id, const char *type,
                      const char *data_json, size_t data_len, agentd_err_t *err);

    /* minor 0: read a secret for use now. The read is audited (secret,
     * session, plugin). *value is allocated by the host and must be given
     * back with secret_release, which wipes it. session_id may be NULL for
     * a plugin-wide secret. Errors: AGENTD_ENOENT, AGENTD_EPERM. */
    int (*secret_get)(agentd_host_t *host, const char *name, const char *session_id,
                      char **value, size_t *len, agentd_err_t *err);
    void (*secret_release)(agentd_host_t *host, char *value, size_t len);

    /* minor 0: a directory the plugin may use for its own state
     * (<data dir>/plugins/<id>), created on first call. Borrowed: valid until
     * fini. */
    const char *(*state_dir)(agentd_host_t *host);
} agentd_host_api_t;

/* True when the host's table has `field`, i.e. the host is at least the ABI
 * minor that added it. Use it before calling a field newer than minor 0. */
#define AGENTD_HOST_HAS(api, field) \
    ((api)->size >= AGENTD_SIZE_THROUGH(agentd_host_api_t, field) && (api)->field != NULL)

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_HOST_H */
