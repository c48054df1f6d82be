/* A session's sandbox between runs.
 *
 * With a provider that can adopt its sandboxes after a restart
 * (AGENTD_SANDBOX_CAP_ADOPT: containers, SSH hosts), a session keeps one
 * sandbox for its whole life: each run of the agent reuses it, an idle
 * session pauses it (AGENTD_SANDBOX_CAP_PAUSE), a restarted agentd adopts it
 * for the session that owns it, and deleting the session destroys it. So
 * what the agent installed or left in its environment is there the next
 * time, as a person's own machine would be. Other providers (the local
 * seccomp sandbox) make a fresh sandbox for each run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "sessions/session_internal.h"

#define COMPONENT "sessions"

int session_sandbox_keeps(const host_plugin_t *p)
{
    return p != NULL && (p->vt.sandbox.capabilities & AGENTD_SANDBOX_CAP_ADOPT) != 0;
}

static void forget(host_session_t *s)
{
    s->kept_sb = NULL;
    s->kept_plugin = NULL;
    s->kept_paused = 0;
    s->kept_id[0] = '\0';
}

/* Destroys and adopts in flight are tracked by the session layer, so that
 * one whose callback comes after the sessions were closed (the plugin ends
 * it while stopping) finds no session rather than a freed one. */
struct session_op {
    session_op_t *next, **prev;
    host_session_t *s;          /* NULL once detached */
};

static void op_track(host_session_t *s, session_op_t *op)
{
    host_sessions_t *m = s->mgr;
    op->s = s;
    op->next = m->ops;
    op->prev = &m->ops;
    if (m->ops != NULL)
        m->ops->prev = &op->next;
    m->ops = op;
    s->kept_ops++;
}

/* Returns the op's session (NULL if detached) and forgets the op. */
static host_session_t *op_untrack(session_op_t *op)
{
    host_session_t *s = op->s;
    if (s == NULL)
        return NULL;
    *op->prev = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    s->kept_ops--;
    return s;
}

void session_sandbox_detach_all(host_sessions_t *m)
{
    while (m->ops != NULL) {
        session_op_t *op = m->ops;
        m->ops = op->next;
        op->s->kept_ops--;
        op->s = NULL;
    }
}

typedef struct sb_op {
    session_op_t op;            /* first */
    void (*then)(host_session_t *s);
    char id[96];
} sb_op_t;

static void on_kept_destroyed(void *ud, int status)
{
    sb_op_t *op = ud;
    host_session_t *s = op_untrack(&op->op);
    if (s == NULL) { /* the sessions are gone */
        free(op);
        return;
    }
    if (status != 0)
        host_log(&s->mgr->ctx->log, AGENTD_LOG_WARN, COMPONENT,
                 "%s: destroying its sandbox failed: %s", s->id, agentd_strerror(status));
    session_emit(s, "sandbox.destroyed", json_pack("{s:s, s:b}", "sandbox", op->id, "ok",
                                                   status == 0),
                 NULL, 0);
    if (op->then != NULL)
        op->then(s);
    free(op);
    session_maybe_free(s);
}

void session_sandbox_destroy(host_session_t *s, void (*then)(host_session_t *s))
{
    if (s->kept_sb == NULL) {
        if (then != NULL)
            then(s);
        return;
    }
    host_plugin_t *p = s->kept_plugin;
    agentd_sandbox_t *sb = s->kept_sb;
    sb_op_t *op = calloc(1, sizeof *op);
    if (op != NULL)
        snprintf(op->id, sizeof op->id, "%s", s->kept_id);
    forget(s);
    agentd_err_t err = {{0}};
    if (op != NULL) {
        op->then = then;
        op_track(s, &op->op);
        if (p->vt.sandbox.destroy(p->self, sb, on_kept_destroyed, op, &err) == 0)
            return;
        op_untrack(&op->op);
        free(op);
    }
    host_log(&s->mgr->ctx->log, AGENTD_LOG_WARN, COMPONENT, "%s: cannot destroy its sandbox: %s",
             s->id, op == NULL ? "out of memory" : err.msg);
    if (then != NULL)
        then(s);
}

void session_sandbox_take(host_session_t *s, host_runner_t *r, host_plugin_t *p, const char *id)
{
    agentd_sandbox_t *sb = host_runner_kept_sandbox(r);
    if (sb == NULL)
        return;
    if (s->kept_sb != NULL) /* cannot happen: a run borrows the kept one */
        session_sandbox_destroy(s, NULL);
    s->kept_sb = sb;
    s->kept_plugin = p;
    snprintf(s->kept_id, sizeof s->kept_id, "%s", id);
}

agentd_sandbox_t *session_sandbox_for_run(host_session_t *s, host_plugin_t *p,
                                          const char **id)
{
    if (s->kept_sb == NULL)
        return NULL;
    if (s->kept_plugin != p) { /* the profile changed provider */
        session_sandbox_destroy(s, NULL);
        return NULL;
    }
    agentd_err_t err = {{0}};
    if (s->kept_paused &&
        p->vt.sandbox.signal(p->self, s->kept_sb, AGENTD_SIG_RESUME, &err) != 0) {
        host_log(&s->mgr->ctx->log, AGENTD_LOG_WARN, COMPONENT,
                 "%s: its sandbox %s does not resume (%s); making a new one", s->id, s->kept_id,
                 err.msg);
        session_sandbox_destroy(s, NULL);
        return NULL;
    }
    agentd_sandbox_t *sb = s->kept_sb;
    *id = s->kept_id;
    s->kept_sb = NULL; /* the run owns it now; session_sandbox_take gives it back */
    s->kept_plugin = NULL;
    s->kept_paused = 0;
    return sb;
}

void session_sandbox_idle(host_session_t *s)
{
    host_plugin_t *p = s->kept_plugin;
    if (s->kept_sb == NULL || s->kept_paused ||
        (p->vt.sandbox.capabilities & AGENTD_SANDBOX_CAP_PAUSE) == 0)
        return;
    agentd_err_t err = {{0}};
    if (p->vt.sandbox.signal(p->self, s->kept_sb, AGENTD_SIG_PAUSE, &err) == 0)
        s->kept_paused = 1;
    else
        host_log(&s->mgr->ctx->log, AGENTD_LOG_WARN, COMPONENT,
                 "%s: cannot pause its idle sandbox: %s", s->id, err.msg);
}

/* ---- after a restart ---------------------------------------------------------------- */

typedef struct adopt_op {
    session_op_t op;            /* first */
    host_sessions_t *m;
    host_plugin_t *p;
    char session[HOST_SESSION_ID_MAX];
    char id[96];
    int paused;
} adopt_op_t;

static void on_orphan_reaped(void *ud, int status)
{
    (void)ud;
    (void)status;
}

static void on_adopted(void *ud, int status, agentd_sandbox_t *sb, const char *msg)
{
    adopt_op_t *op = ud;
    host_session_t *s = op_untrack(&op->op);
    host_plugin_t *p = op->p;
    if (s == NULL) { /* the sessions are gone: the provider's stop cleans up */
        free(op);
        return;
    }
    if (status != 0) {
        host_log(&op->m->ctx->log, AGENTD_LOG_WARN, COMPONENT,
                 "sandbox %s of session %s cannot be adopted (%s); reaping it", op->id,
                 op->session, msg != NULL ? msg : agentd_strerror(status));
        p->vt.sandbox.reap(p->self, op->id, on_orphan_reaped, NULL, NULL);
    } else if (s->deleting || s->kept_sb != NULL || s->runner != NULL) {
        /* Nobody needs it any more (or a run already made its own). */
        p->vt.sandbox.destroy(p->self, sb, on_orphan_reaped, NULL, NULL);
    } else {
        /* Its agent was cut off with the previous agentd: SIGTERM ends it
         * (Claude Code exits on it), and the sandbox is frozen like any idle
         * session's; what is in it stays for the next run, which resumes the
         * conversation. */
        s->kept_sb = sb;
        s->kept_plugin = p;
        s->kept_paused = op->paused;
        snprintf(s->kept_id, sizeof s->kept_id, "%s", op->id);
        if (!op->paused)
            p->vt.sandbox.signal(p->self, sb, AGENTD_SIG_TERMINATE, NULL);
        session_sandbox_idle(s);
        session_emit(s, "sandbox.adopted", json_pack("{s:s, s:s}", "sandbox", op->id,
                                                     "provider", p->id),
                     NULL, 0);
    }
    free(op);
    session_maybe_free(s);
}

int session_sandbox_adopt(host_sessions_t *m, host_plugin_t *p, const agentd_sandbox_info_t *info)
{
    const char *sid = info->session_id;
    host_session_t *s = sid != NULL ? session_find(m, sid) : NULL;
    if (s == NULL || s->deleting || !session_sandbox_keeps(p) || p->vt.sandbox.adopt == NULL ||
        s->kept_sb != NULL || s->kept_ops > 0)
        return 0;
    adopt_op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return 0;
    op->m = m;
    op->p = p;
    snprintf(op->session, sizeof op->session, "%s", sid);
    snprintf(op->id, sizeof op->id, "%s", info->sandbox_id);
    op->paused = info->state != NULL && strcmp(info->state, "paused") == 0;
    agentd_err_t err = {{0}};
    op_track(s, &op->op);
    if (p->vt.sandbox.adopt(p->self, info->sandbox_id, on_adopted, op, &err) != 0) {
        op_untrack(&op->op);
        free(op);
        host_log(&m->ctx->log, AGENTD_LOG_WARN, COMPONENT, "sandbox %s: adopt: %s",
                 info->sandbox_id, err.msg);
        return 0;
    }
    host_log(&m->ctx->log, AGENTD_LOG_INFO, COMPONENT,
             "adopting sandbox %s of session %s, left by a previous agentd", info->sandbox_id,
             sid);
    return 1;
}
