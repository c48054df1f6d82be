/* Private to host/sessions: the session struct and the pieces that share it
 * (sessions.c: the operations; session_run.c: one run of the agent;
 * session_store.c: persistence). */
#ifndef AGENTD_HOST_SESSION_INTERNAL_H
#define AGENTD_HOST_SESSION_INTERNAL_H

#include <stdint.h>

#include "runner/runner.h"
#include "sessions/sessions.h"
#include "store/db.h"

typedef struct session_msg {
    struct session_msg *next;
    int64_t id;                 /* row in the messages table */
    char *text;
} session_msg_t;

typedef enum session_ask_kind { SESSION_ASK_PERMISSION, SESSION_ASK_QUESTION } session_ask_kind_t;

/* A request of the agent waiting for a person (session_approvals.c). */
typedef struct session_pending {
    struct session_pending *next;
    session_ask_kind_t kind;
    char *request_id;
    char *tool;
    json_t *input;              /* the tool's input, as the agent sent it */
    char *rule;                 /* the ask rule that matched, or NULL */
    unsigned timeout_s;
    uint64_t asked_ms, deadline_ms; /* wall clock */
    uint64_t deadline_loop_ms;      /* uv_now() clock */
} session_pending_t;

#define SESSION_SETTLED_KEEP 64u
typedef struct session_settled {
    char request_id[128];
    char how[96];               /* "allowed by person token:…", "denied by timeout" */
} session_settled_t;

typedef struct stop_waiter {
    struct stop_waiter *next;
    void (*done)(void *ud, int status);
    void *ud;
} stop_waiter_t;

struct host_session {
    host_sessions_t *mgr;
    struct host_session *next;
    char id[HOST_SESSION_ID_MAX];
    json_t *settings;
    host_session_state_t state;
    host_session_state_t state_before_pause;
    char *dir;                  /* <data>/sessions/<id> */
    char *workspace;
    int own_workspace;          /* agentd made it: delete removes it */
    char *claude_session_id;    /* the conversation, for --resume */
    uint64_t created_ms, updated_ms;
    double cost_usd;
    uint64_t input_tokens, output_tokens, turns;

    host_runner_t *runner;
    int runner_started, turn_running, saw_init, resumed, resume_failed_once;
    unsigned runs;
    session_msg_t *queue, *queue_tail;  /* accepted, not yet delivered */
    session_msg_t *unconfirmed;         /* written before the agent's init:
                                         * requeued if it never started */
    stop_waiter_t *stop_waiters;
    int stopping, deleting, purge_on_delete;
    const char *stop_reason;
    session_pending_t *pending;         /* waiting for a person, newest first */
    session_settled_t settled[SESSION_SETTLED_KEEP]; /* recent outcomes, a ring */
    unsigned settled_next, control_seq;
    uv_timer_t idle_timer, timeout_timer, approval_timer;
    agentd_sandbox_t *kept_sb;          /* the session's sandbox between runs
                                         * (session_sandbox.c), or NULL */
    host_plugin_t *kept_plugin;
    char kept_id[96];
    int kept_paused;
    unsigned kept_ops;                  /* destroys and adopts in flight */
    host_plugin_t *run_plugin;          /* the current run's provider */
    char run_sandbox_id[96];
    int run_reused;                     /* the run was given the kept sandbox */
    uint64_t start_began_ns;            /* uv_hrtime() when the run was asked for */
    char start_profile[64];
    int timers_open;
};

typedef struct session_op session_op_t; /* session_sandbox.c */

struct host_sessions {
    host_ctx_t *ctx;
    host_db_t *db;
    host_event_log_t *log;
    host_session_t *head;
    size_t count;
    void (*shutdown_done)(void *ud);
    void *shutdown_ud;
    int shutting_down;
    session_op_t *ops;                  /* sandbox destroys/adopts in flight */
    host_start_hist_t start_hist[HOST_START_PROFILES_MAX];
    size_t start_hist_count;
};

/* sessions.c */
host_session_t *session_find(host_sessions_t *m, const char *id);
void session_set_state(host_session_t *s, host_session_state_t st, const char *reason);
/* Appends an event for the session (data is consumed). */
void session_emit(host_session_t *s, const char *type, json_t *data, const char *raw,
                  size_t raw_len);
/* Appends an event whose data is JSON text the host wrote itself from an
 * object (host_agent_event_json_fn's): redacted, not checked again. */
void session_emit_json(host_session_t *s, const char *type, const char *json, size_t len,
                       const char *raw, size_t raw_len);
void session_error(host_session_t *s, const char *fmt, ...) AGENTD_PRINTF(2, 3);
void session_maybe_free(host_session_t *s);

/* session_run.c */
int session_start_run(host_session_t *s, agentd_err_t *err);
/* Writes queued messages when the agent can take one. */
void session_pump_queue(host_session_t *s);
void session_arm_idle(host_session_t *s, int on);
/* One line of the agent's stdout: its events (or a control request). The
 * runner's line callback; bench/line_path_bench.c drives it directly. */
void session_agent_line(host_session_t *s, const char *line, size_t len, int truncated);

/* session_approvals.c: the agent's control requests (can_use_tool, its
 * cancellations, answers to ours) and the requests waiting for a person. */
void session_on_control(host_session_t *s, json_t *line);
void session_on_approval_timer(uv_timer_t *t);
/* Cancels what is pending when the agent goes away. */
void session_drop_pending(host_session_t *s, const char *why);
/* Frees what is pending without a word (the session is being freed). */
void session_pending_release(host_session_t *s);
/* [{request_id, kind, tool, input, rule, asked_ms, deadline_ms}], oldest first */
json_t *session_pending_json(host_session_t *s);

/* session_sandbox.c: the sandbox a session keeps between runs, with a
 * provider that can adopt (containers, SSH hosts). */
int session_sandbox_keeps(const host_plugin_t *p);
/* In on_exit: takes the runner's kept sandbox (if any) as the session's. */
void session_sandbox_take(host_session_t *s, host_runner_t *r, host_plugin_t *p, const char *id);
/* The kept sandbox for a new run of plugin p (resumed if paused), handed to
 * the run with its id; NULL: make a new one. */
agentd_sandbox_t *session_sandbox_for_run(host_session_t *s, host_plugin_t *p, const char **id);
/* The session went idle: pause its kept sandbox. */
void session_sandbox_idle(host_session_t *s);
/* The sessions are being closed: callbacks of what is in flight will find
 * no session. */
void session_sandbox_detach_all(host_sessions_t *m);
/* Destroys the kept sandbox, then calls then(s) (at once if there is none). */
void session_sandbox_destroy(host_session_t *s, void (*then)(host_session_t *s));
/* After a restart: adopt a sandbox list() found for a live session (1), or
 * not (0: reap it). */
int session_sandbox_adopt(host_sessions_t *m, host_plugin_t *p, const agentd_sandbox_info_t *info);

/* session_stats.c: the sandbox started (ok) or could not be (!ok). */
void session_stats_started(host_session_t *s, int ok);

/* session_store.c */
int session_store_open(host_sessions_t *m, agentd_err_t *err);
int session_store_save(host_session_t *s);
int session_store_load_all(host_sessions_t *m, agentd_err_t *err);
int64_t session_store_add_message(host_session_t *s, const char *text);
void session_store_message_delivered(host_session_t *s, int64_t msg_id);
int session_store_delete(host_session_t *s);

#endif
