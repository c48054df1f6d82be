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
    uv_timer_t idle_timer, timeout_timer;
    int timers_open;
};

struct host_sessions {
    host_ctx_t *ctx;
    host_db_t *db;
    host_event_log_t *log;
    host_session_t *head;
    size_t count;
    void (*shutdown_done)(void *ud);
    void *shutdown_ud;
    int shutting_down;
};

/* sessions.c */
host_session_t *session_find(host_sessions_t *m, const char *id);
void session_set_state(host_session_t *s, host_session_state_t st, const char *reason);
/* Appends an event for the session (data is consumed). */
void session_emit(host_session_t *s, const char *type, json_t *data, const char *raw,
                  size_t raw_len);
void session_error(host_session_t *s, const char *fmt, ...) AGENTD_PRINTF(2, 3);
void session_maybe_free(host_session_t *s);

/* session_run.c */
int session_start_run(host_session_t *s, agentd_err_t *err);
/* Writes queued messages when the agent can take one. */
void session_pump_queue(host_session_t *s);
void session_arm_idle(host_session_t *s, int on);

/* session_store.c */
int session_store_open(host_sessions_t *m, agentd_err_t *err);
int session_store_save(host_session_t *s);
int session_store_load_all(host_sessions_t *m, agentd_err_t *err);
int64_t session_store_add_message(host_session_t *s, const char *text);
void session_store_message_delivered(host_session_t *s, int64_t msg_id);
int session_store_delete(host_session_t *s);

#endif
