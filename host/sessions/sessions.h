/*
 * Sessions: conversations with a Claude Code agent about one workspace,
 * living for days. Messages go in, a stream of events comes out, and every
 * event is kept in the event log (events/event_log.h) before anyone sees it.
 *
 * States (every transition is a `session.state` event):
 *   pending       created, not started
 *   provisioning  its sandbox is being made and the agent started
 *   running       a turn is under way
 *   waiting       waiting for a person (an approval or an answer)
 *   idle          the agent finished its turn and waits for a message
 *   paused        frozen by request, or auto-paused after idle time; the
 *                 next message resumes it
 *   completed     a one-shot run ended with a successful result
 *   failed        the agent failed (crash, watchdog, timeout); a new
 *                 message continues the conversation
 *   stopped       stopped by request; a new message continues it
 *   interrupted   the host went away while it ran; a new message continues
 *                 it (the runner resumes the conversation)
 *
 * Settings of a session (JSON object, docs/sessions.md): prompt, sandbox,
 * workspace, model, allowed_tools, disallowed_tools, permission_default
 * ("deny" | "allow"), persona, append_system_prompt, context_files, env,
 * timeout_minutes (1..240), name, one_shot.
 *
 * Thread: loop thread. Ownership: inputs borrowed; JSON results are new
 * references for the caller.
 */
#ifndef AGENTD_HOST_SESSIONS_H
#define AGENTD_HOST_SESSIONS_H

#include <stdint.h>

#include <jansson.h>

#include "core/context.h"
#include "events/event_log.h"

#define HOST_SESSION_ID_MAX 40

typedef struct host_sessions host_sessions_t;
typedef struct host_session host_session_t;

typedef enum host_session_state {
    HOST_SESSION_PENDING = 0,
    HOST_SESSION_PROVISIONING,
    HOST_SESSION_RUNNING,
    HOST_SESSION_WAITING,
    HOST_SESSION_IDLE,
    HOST_SESSION_PAUSED,
    HOST_SESSION_COMPLETED,
    HOST_SESSION_FAILED,
    HOST_SESSION_STOPPED,
    HOST_SESSION_INTERRUPTED,
} host_session_state_t;

const char *host_session_state_name(host_session_state_t s);

/* Opens the session layer over ctx's database and event log: loads every
 * session, marks those that were running as interrupted, and reaps sandboxes
 * a previous host left behind. */
int host_sessions_open(host_ctx_t *ctx, host_db_t *db, host_event_log_t *log,
                       host_sessions_t **out, agentd_err_t *err);

/* Stops every running agent (with the stop escalation), then calls done. */
void host_sessions_shutdown(host_sessions_t *s, void (*done)(void *ud), void *ud);
void host_sessions_close(host_sessions_t *s);

/* Creates a session and, when the settings have a prompt, starts it.
 * Errors: AGENTD_EINVAL naming the field, AGENTD_ELIMIT (limits.max_sessions),
 * AGENTD_ENOENT (no such sandbox profile). */
int host_sessions_create(host_sessions_t *s, json_t *settings, char id[HOST_SESSION_ID_MAX],
                         agentd_err_t *err);

/* Accepts a user message (durably, as a `session.message` event) and
 * delivers it when the agent can take it. */
int host_sessions_send(host_sessions_t *s, const char *id, const char *text, agentd_err_t *err);

/* Stops the agent: interrupt, terminate, kill. done (may be NULL) runs once
 * the agent is gone: no more tokens are spent after that. */
int host_sessions_stop(host_sessions_t *s, const char *id, void (*done)(void *ud, int status),
                       void *ud, agentd_err_t *err);

int host_sessions_pause(host_sessions_t *s, const char *id, agentd_err_t *err);
int host_sessions_resume(host_sessions_t *s, const char *id, agentd_err_t *err);

/* A new session with the same settings; with_history also copies the
 * conversation (events and the agent's transcript) so it continues from
 * there. */
int host_sessions_clone(host_sessions_t *s, const char *id, int with_history,
                        char new_id[HOST_SESSION_ID_MAX], agentd_err_t *err);

/* Stops the session, destroys its sandbox, removes the directory agentd
 * made for it (never a workspace the user gave), and keeps or purges its
 * events. */
int host_sessions_delete(host_sessions_t *s, const char *id, int purge_events,
                         agentd_err_t *err);

/* {id, name, state, created_ms, updated_ms, workspace, sandbox, settings,
 *  cost_usd, input_tokens, output_tokens, turns, last_seq}; NULL if none. */
json_t *host_sessions_get(host_sessions_t *s, const char *id);
json_t *host_sessions_list(host_sessions_t *s);

int host_sessions_state(host_sessions_t *s, const char *id, host_session_state_t *out);

/* Live approvals (docs/permissions.md). A request the permission engine
 * answered "ask", or a question of the agent's, waits for a person until
 * the approval timeout. who (may be NULL) names the person for the record.
 * Errors: AGENTD_ENOENT (no such session), HOST_SESSIONS_ENOTPENDING (the
 * request is not pending: unknown, answered already, timed out, withdrawn;
 * the message says which), AGENTD_EINVAL naming the field; a refused answer
 * changes nothing. */
#define HOST_SESSIONS_ENOTPENDING AGENTD_ESTATE

/* decision: "allow" (once), "allow_always" (adds `rule`, or by default the
 * exact Bash command or the tool's name, to the session's allow list; it
 * must allow this request), "deny" (message, optional, goes to the agent). */
int host_sessions_permission_respond(host_sessions_t *s, const char *id, const char *request_id,
                                     const char *decision, const char *message, const char *rule,
                                     const char *who, agentd_err_t *err);

/* answers: {question text: string | [strings]} for every question asked
 * (borrowed); or decline with an optional message (answers NULL). */
int host_sessions_question_answer(host_sessions_t *s, const char *id, const char *request_id,
                                  json_t *answers, int decline, const char *message,
                                  const char *who, agentd_err_t *err);

/* mode: "default", "acceptEdits" or "plan". Kept in the settings (the next
 * run starts in it) and sent to a running agent as set_permission_mode. */
int host_sessions_set_permission_mode(host_sessions_t *s, const char *id, const char *mode,
                                      const char *who, agentd_err_t *err);

/* Sandbox start latency per profile: from asking for the sandbox to the
 * agent running in it (cumulative Prometheus-style buckets, seconds). */
#define HOST_START_BUCKETS 12
#define HOST_START_PROFILES_MAX 32
extern const double host_start_bucket_s[HOST_START_BUCKETS];
typedef struct host_start_hist {
    char profile[64];
    uint64_t buckets[HOST_START_BUCKETS]; /* starts that took <= bound */
    uint64_t count, failures;
    double sum_s;
} host_start_hist_t;

/* The histograms (borrowed, valid until the next loop turn); returns how many. */
size_t host_sessions_start_stats(host_sessions_t *s, const host_start_hist_t **out);

/* Requests and questions waiting for a person, in all sessions. */
size_t host_sessions_pending_count(host_sessions_t *s);

/* True while the session's agent process (or its sandbox) exists. */
int host_sessions_busy(host_sessions_t *s, const char *id);

#endif /* AGENTD_HOST_SESSIONS_H */
