/* The agent's control requests and the people who answer them.
 *
 * A `can_use_tool` request is decided by the permission engine from the
 * config's and the session's rules. "allow" and "deny" are answered at once;
 * "ask" (and every question the agent puts with AskUserQuestion) parks the
 * request here: the session waits, the idle watchdog is off, and an editor
 * answers over the API (permission.respond, question.answer) before the
 * approval timeout, which denies. Only an explicit, well-formed answer to a
 * request that is still pending allows; late, duplicate and malformed answers
 * are refused and change nothing. docs/permissions.md is the user's view. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "permissions/engine.h"
#include "sessions/session_internal.h"

#define COMPONENT "sessions"
#define ASK_QUESTION_TOOL "AskUserQuestion"
#define MESSAGE_MAX 4096u /* a person's deny message, in bytes */

static uint64_t wall_now_ms(void)
{
    uv_timeval64_t tv;
    return uv_gettimeofday(&tv) == 0 ? (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u
                                     : 0;
}

/* ---- answering the agent ------------------------------------------------------- */

static void write_control_response(host_session_t *s, const char *request_id, json_t *behaviour)
{
    json_t *resp = json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "control_response", "response",
                             "subtype", "success", "request_id", request_id, "response",
                             behaviour);
    char *line = resp != NULL ? json_dumps(resp, JSON_COMPACT) : NULL;
    if (line == NULL || s->runner == NULL ||
        host_runner_write_line(s->runner, line, strlen(line)) != 0)
        session_error(s, "could not answer the agent's request %s", request_id);
    free(line);
    json_decref(resp);
}

static void answer_allow(host_session_t *s, const char *request_id, json_t *input)
{
    write_control_response(s, request_id,
                           json_pack("{s:s, s:O}", "behavior", "allow", "updatedInput",
                                     input != NULL ? input : json_object()));
}

static void answer_deny(host_session_t *s, const char *request_id, const char *message)
{
    write_control_response(s, request_id,
                           json_pack("{s:s, s:s}", "behavior", "deny", "message", message));
}

/* `permission.decided`: who or which rule decided, and why. */
static void emit_decided(host_session_t *s, const char *request_id, const char *tool, int allow,
                         const char *rule, const char *by, const char *who, const char *reason)
{
    session_emit(s, "permission.decided",
                 json_pack("{s:s, s:s?, s:s, s:s?, s:s, s:s?, s:s}", "request_id", request_id,
                           "tool", tool, "decision", allow ? "allow" : "deny", "rule", rule, "by",
                           by, "who", who, "reason", reason),
                 NULL, 0);
}

static void write_control_response_error(host_session_t *s, const char *request_id,
                                         const char *msg);
static void follow_plan_exit(host_session_t *s, const char *tool, const char *who);

/* ---- pending requests -------------------------------------------------------------- */

static void pending_free(session_pending_t *p)
{
    if (p == NULL)
        return;
    free(p->request_id);
    free(p->tool);
    free(p->rule);
    json_decref(p->input);
    free(p);
}

static session_pending_t *pending_find(host_session_t *s, const char *request_id)
{
    for (session_pending_t *p = s->pending; p != NULL; p = p->next)
        if (strcmp(p->request_id, request_id) == 0)
            return p;
    return NULL;
}

static void pending_unlink(host_session_t *s, session_pending_t *p)
{
    for (session_pending_t **pp = &s->pending; *pp != NULL; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

/* What became of a request, kept for a while so a late or second answer
 * is told what happened instead of "unknown". */
static void remember_settled(host_session_t *s, const char *request_id, const char *how)
{
    session_settled_t *e = &s->settled[s->settled_next++ % SESSION_SETTLED_KEEP];
    snprintf(e->request_id, sizeof e->request_id, "%s", request_id);
    snprintf(e->how, sizeof e->how, "%s", how);
}

static const char *settled_how(host_session_t *s, const char *request_id)
{
    for (unsigned i = 0; i < SESSION_SETTLED_KEEP; i++)
        if (s->settled[i].request_id[0] != '\0' &&
            strcmp(s->settled[i].request_id, request_id) == 0)
            return s->settled[i].how;
    return NULL;
}

static void arm_deadline(host_session_t *s)
{
    uint64_t next = 0;
    for (session_pending_t *p = s->pending; p != NULL; p = p->next)
        if (next == 0 || p->deadline_loop_ms < next)
            next = p->deadline_loop_ms;
    if (next == 0) {
        uv_timer_stop(&s->approval_timer);
        return;
    }
    uint64_t now = uv_now(&s->mgr->ctx->loop);
    uv_timer_start(&s->approval_timer, session_on_approval_timer, next > now ? next - now : 0, 0);
}

/* The session waits while anything is pending, and runs again after. */
static void update_waiting(host_session_t *s)
{
    arm_deadline(s);
    if (s->pending != NULL) {
        host_runner_turn(s->runner, 0); /* a person may take longer than the watchdog */
        if (s->state == HOST_SESSION_RUNNING || s->state == HOST_SESSION_PROVISIONING)
            session_set_state(s, HOST_SESSION_WAITING, s->pending->kind == SESSION_ASK_QUESTION
                                                           ? "a question for a person"
                                                           : "a permission request");
        return;
    }
    if (s->state == HOST_SESSION_WAITING) {
        session_set_state(s, HOST_SESSION_RUNNING, NULL);
        if (s->turn_running)
            host_runner_turn(s->runner, 1);
    }
}

static unsigned approval_timeout_s(host_session_t *s)
{
    host_config_t *cfg = s->mgr->ctx->config;
    return host_perm_approval_timeout_s(cfg->permissions, s->settings, cfg->approval_timeout_s);
}

static session_pending_t *park(host_session_t *s, session_ask_kind_t kind, const char *request_id,
                               const char *tool, json_t *input, const char *rule)
{
    session_pending_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->kind = kind;
    p->request_id = strdup(request_id);
    p->tool = tool != NULL ? strdup(tool) : NULL;
    p->rule = rule != NULL ? strdup(rule) : NULL;
    p->input = input != NULL ? json_deep_copy(input) : json_object();
    if (p->request_id == NULL || (tool != NULL && p->tool == NULL) ||
        (rule != NULL && p->rule == NULL) || p->input == NULL) {
        pending_free(p);
        return NULL;
    }
    unsigned t = approval_timeout_s(s);
    p->timeout_s = t;
    p->asked_ms = wall_now_ms();
    p->deadline_ms = p->asked_ms + (uint64_t)t * 1000u;
    p->deadline_loop_ms = uv_now(&s->mgr->ctx->loop) + (uint64_t)t * 1000u;
    p->next = s->pending;
    s->pending = p;
    return p;
}

/* Settles a pending request: answers the agent, records the decision, and
 * lets the session run again when nothing else is pending. Consumes p. */
static void settle(host_session_t *s, session_pending_t *p, int allow, json_t *updated_input,
                   const char *message, const char *rule, const char *by, const char *who,
                   const char *reason)
{
    pending_unlink(s, p);
    if (allow)
        answer_allow(s, p->request_id, updated_input != NULL ? updated_input : p->input);
    else
        answer_deny(s, p->request_id, message);
    char how[96];
    snprintf(how, sizeof how, "%s by %s%s%s", allow ? "allowed" : "denied", by,
             who != NULL ? " " : "", who != NULL ? who : "");
    remember_settled(s, p->request_id, how);
    emit_decided(s, p->request_id, p->tool, allow, rule, by, who, reason);
    if (allow)
        follow_plan_exit(s, p->tool, who != NULL ? who : by);
    pending_free(p);
    update_waiting(s);
}

void session_on_approval_timer(uv_timer_t *t)
{
    host_session_t *s = t->data;
    uint64_t now = uv_now(&s->mgr->ctx->loop);
    session_pending_t *p = s->pending;
    while (p != NULL) {
        session_pending_t *next = p->next;
        if (p->deadline_loop_ms <= now) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "denied by agentd: nobody answered within %u seconds "
                     "(permissions.approval_timeout_s)", p->timeout_s);
            settle(s, p, 0, NULL, msg, NULL, "timeout", NULL, msg);
            next = s->pending; /* settle changed the list */
        }
        p = next;
    }
    arm_deadline(s);
}

/* The agent withdrew a request (control_cancel_request), or went away. */
static void session_cancel_request(host_session_t *s, const char *request_id, const char *why)
{
    session_pending_t *p = request_id != NULL ? pending_find(s, request_id) : NULL;
    session_emit(s, "permission.cancelled",
                 json_pack("{s:s?, s:b, s:s}", "request_id", request_id, "was_pending", p != NULL,
                           "reason", why),
                 NULL, 0);
    if (p == NULL)
        return;
    pending_unlink(s, p);
    remember_settled(s, p->request_id, "withdrawn by the agent");
    pending_free(p);
    update_waiting(s);
}

void session_drop_pending(host_session_t *s, const char *why)
{
    while (s->pending != NULL) {
        session_pending_t *p = s->pending;
        s->pending = p->next;
        session_emit(s, "permission.cancelled",
                     json_pack("{s:s, s:b, s:s}", "request_id", p->request_id, "was_pending", 1,
                               "reason", why),
                     NULL, 0);
        remember_settled(s, p->request_id, "cancelled: the agent went away");
        pending_free(p);
    }
    uv_timer_stop(&s->approval_timer);
}

void session_pending_release(host_session_t *s)
{
    while (s->pending != NULL) {
        session_pending_t *p = s->pending;
        s->pending = p->next;
        pending_free(p);
    }
}

json_t *session_pending_json(host_session_t *s)
{
    json_t *arr = json_array();
    for (session_pending_t *p = s->pending; arr != NULL && p != NULL; p = p->next)
        json_array_insert_new(
            arr, 0,
            json_pack("{s:s, s:s, s:s?, s:O, s:s?, s:I, s:I}", "request_id", p->request_id,
                      "kind", p->kind == SESSION_ASK_QUESTION ? "question" : "permission",
                      "tool", p->tool, "input", p->input, "rule", p->rule, "asked_ms",
                      (json_int_t)p->asked_ms, "deadline_ms", (json_int_t)p->deadline_ms));
    return arr;
}

/* ---- deciding a request ------------------------------------------------------------- */

static int build_policy(host_session_t *s, json_t *settings, host_perm_policy_t *pol,
                        host_perm_result_t *res)
{
    char why[256];
    int rc = host_perm_policy_build(s->mgr->ctx->config->permissions, settings, pol, why,
                                    sizeof why);
    if (rc != 0) {
        memset(res, 0, sizeof *res);
        res->decision = HOST_PERM_DENY;
        res->by = "limit";
        snprintf(res->reason, sizeof res->reason, "the session's permissions: %.200s", why);
    }
    return rc;
}

static void decide(host_session_t *s, const char *tool, json_t *input, host_perm_result_t *res)
{
    host_perm_policy_t pol;
    if (build_policy(s, s->settings, &pol, res) != 0)
        return;
    if (host_perm_evaluate(&pol, tool, input, s->workspace, res) != 0) {
        res->decision = HOST_PERM_DENY;
        res->by = "limit";
        snprintf(res->reason, sizeof res->reason, "out of memory");
    }
    host_perm_policy_free(&pol);
}

static void ask_person(host_session_t *s, session_ask_kind_t kind, const char *request_id,
                       const char *tool, json_t *input, json_t *request,
                       const host_perm_result_t *res)
{
    const char *rule = res->rule[0] != '\0' ? res->rule : NULL;
    if (pending_find(s, request_id) != NULL) {
        /* The same id twice: the first is what stands; this one is not
         * answered twice. */
        session_error(s, "the agent repeated request %s; the first stands", request_id);
        return;
    }
    size_t waiting = 0;
    for (session_pending_t *q = s->pending; q != NULL; q = q->next)
        waiting++;
    unsigned limit = s->mgr->ctx->config->limits.max_pending_requests;
    if (waiting >= limit) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "denied by agentd: %zu requests already wait for a person "
                 "(limits.max_pending_requests)", waiting);
        answer_deny(s, request_id, msg);
        remember_settled(s, request_id, "denied by limit");
        emit_decided(s, request_id, tool, 0, NULL, "limit", NULL, msg);
        return;
    }
    session_pending_t *p = park(s, kind, request_id, tool, input, rule);
    if (p == NULL) {
        answer_deny(s, request_id, "denied by agentd: out of memory");
        emit_decided(s, request_id, tool, 0, NULL, "limit", NULL, "out of memory");
        return;
    }
    json_t *desc = json_object_get(request, "description");
    if (kind == SESSION_ASK_QUESTION)
        session_emit(s, "question.asked",
                     json_pack("{s:s, s:O?, s:I, s:I}", "request_id", request_id, "questions",
                               json_object_get(input, "questions"), "timeout_s",
                               (json_int_t)p->timeout_s, "deadline_ms",
                               (json_int_t)p->deadline_ms),
                     NULL, 0);
    else
        session_emit(s, "permission.requested",
                     json_pack("{s:s, s:s?, s:O?, s:s?, s:s, s:O?, s:I, s:I}", "request_id",
                               request_id, "tool", tool, "input", input, "rule", rule, "reason",
                               res->reason, "description", json_is_string(desc) ? desc : NULL,
                               "timeout_s", (json_int_t)p->timeout_s, "deadline_ms",
                               (json_int_t)p->deadline_ms),
                     NULL, 0);
    update_waiting(s);
}

static void decide_tool_request(host_session_t *s, const char *request_id, json_t *r)
{
    const char *tool = json_string_value(json_object_get(r, "tool_name"));
    json_t *input = json_object_get(r, "input");
    host_perm_result_t res;
    decide(s, tool, input, &res);
    int question = tool != NULL && strcmp(tool, ASK_QUESTION_TOOL) == 0;
    /* Questions always go to a person, unless a rule denies the tool; a tool
     * the agent says needs a person (ExitPlanMode: approving a plan) is
     * allowed only by a rule that names it, never by a mode or phase. */
    if (res.decision != HOST_PERM_DENY &&
        (question || (json_is_true(json_object_get(r, "requires_user_interaction")) &&
                      res.decision == HOST_PERM_ALLOW && strcmp(res.by, "rule") != 0))) {
        if (!question)
            snprintf(res.reason, sizeof res.reason, "%s needs a person's approval",
                     tool != NULL ? tool : "this tool");
        res.decision = HOST_PERM_ASK;
    }
    if (res.decision == HOST_PERM_ASK) {
        ask_person(s, question ? SESSION_ASK_QUESTION : SESSION_ASK_PERMISSION, request_id, tool,
                   input, r, &res);
        return;
    }
    int allow = res.decision == HOST_PERM_ALLOW;
    char message[512];
    snprintf(message, sizeof message, "%s by agentd: %s", allow ? "allowed" : "denied",
             res.reason);
    if (allow)
        answer_allow(s, request_id, input);
    else
        answer_deny(s, request_id, message);
    remember_settled(s, request_id, allow ? "allowed by a rule" : "denied by a rule");
    emit_decided(s, request_id, tool, allow, res.rule[0] != '\0' ? res.rule : NULL, res.by, NULL,
                 res.reason);
    if (allow)
        follow_plan_exit(s, tool, res.by);
}

/* A control_response to a request of ours (set_permission_mode). */
static void on_control_response(host_session_t *s, json_t *line)
{
    json_t *r = json_object_get(line, "response");
    const char *subtype = json_string_value(json_object_get(r, "subtype"));
    const char *rid = json_string_value(json_object_get(r, "request_id"));
    if (subtype != NULL && strcmp(subtype, "error") == 0)
        session_error(s, "the agent refused agentd's request %s: %s", rid != NULL ? rid : "?",
                      json_string_value(json_object_get(r, "error")) != NULL
                          ? json_string_value(json_object_get(r, "error"))
                          : "no reason given");
}

void session_on_control(host_session_t *s, json_t *line)
{
    const char *type = json_string_value(json_object_get(line, "type"));
    if (type != NULL && strcmp(type, "control_response") == 0) {
        on_control_response(s, line);
        return;
    }
    if (type != NULL && strcmp(type, "control_cancel_request") == 0) {
        session_cancel_request(s, json_string_value(json_object_get(line, "request_id")),
                               "withdrawn by the agent");
        return;
    }
    const char *request_id = json_string_value(json_object_get(line, "request_id"));
    json_t *r = json_object_get(line, "request");
    const char *subtype = json_string_value(json_object_get(r, "subtype"));
    if (request_id != NULL && subtype != NULL && strcmp(subtype, "can_use_tool") == 0) {
        decide_tool_request(s, request_id, r);
        return;
    }
    session_emit(s, "agent.output", json_pack("{s:s, s:O}", "text", "unhandled control request",
                                              "json", line),
                 NULL, 0);
    /* Whatever it was, the agent must not wait on an answer forever. */
    if (request_id != NULL)
        write_control_response_error(s, request_id, "agentd does not handle this request");
}

static void write_control_response_error(host_session_t *s, const char *request_id,
                                         const char *msg)
{
    json_t *resp = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "control_response", "response",
                             "subtype", "error", "request_id", request_id, "error", msg);
    char *line = resp != NULL ? json_dumps(resp, JSON_COMPACT) : NULL;
    if (line != NULL && s->runner != NULL)
        host_runner_write_line(s->runner, line, strlen(line));
    free(line);
    json_decref(resp);
}

/* ---- a person's answers --------------------------------------------------------------- */

static int live_session(host_sessions_t *m, const char *id, host_session_t **out,
                        agentd_err_t *err)
{
    host_session_t *s = session_find(m, id);
    if (s == NULL || s->deleting)
        return agentd_err_set(err, AGENTD_ENOENT, "no session \"%.40s\"", id);
    *out = s;
    return 0;
}

static int want_pending(host_sessions_t *m, const char *id, const char *request_id,
                        session_ask_kind_t kind, host_session_t **sp, session_pending_t **out,
                        agentd_err_t *err)
{
    host_session_t *s = NULL;
    int rc = live_session(m, id, &s, err);
    if (rc != 0)
        return rc;
    session_pending_t *p = pending_find(s, request_id);
    if (p == NULL) {
        const char *how = settled_how(s, request_id);
        if (how != NULL)
            return agentd_err_set(err, HOST_SESSIONS_ENOTPENDING,
                                  "request_id: \"%.80s\" is not pending: %s", request_id, how);
        return agentd_err_set(err, HOST_SESSIONS_ENOTPENDING,
                              "request_id: no pending request \"%.80s\" in this session",
                              request_id);
    }
    if (p->kind != kind)
        return agentd_err_set(err, AGENTD_EINVAL,
                              kind == SESSION_ASK_QUESTION
                                  ? "request_id: \"%.80s\" is a permission request; answer it "
                                    "with permission.respond"
                                  : "request_id: \"%.80s\" is a question; answer it with "
                                    "question.answer",
                              request_id);
    *sp = s;
    *out = p;
    return 0;
}

/* The rule "allow always" adds: the exact command for Bash, else the tool. */
static char *default_rule(const session_pending_t *p)
{
    const char *cmd = json_string_value(json_object_get(p->input, "command"));
    size_t n = (cmd != NULL ? strlen(cmd) : 0) + strlen(p->tool != NULL ? p->tool : "") + 3;
    char *rule = malloc(n);
    if (rule == NULL)
        return NULL;
    if (p->tool != NULL && strcmp(p->tool, "Bash") == 0 && cmd != NULL)
        snprintf(rule, n, "Bash(%s)", cmd);
    else
        snprintf(rule, n, "%s", p->tool != NULL ? p->tool : "");
    return rule;
}

/* Settings with one more allow rule; checks the rule parses and that it
 * would allow this very request (a deny or ask rule, or a system
 * restriction, would keep asking: then "allow always" is refused). */
static int settings_with_rule(host_session_t *s, const session_pending_t *p, const char *rule,
                              json_t **out, agentd_err_t *err)
{
    json_t *st = json_deep_copy(s->settings);
    json_t *perm = st != NULL ? json_object_get(st, "permissions") : NULL;
    if (st != NULL && perm == NULL) {
        perm = json_object();
        json_object_set_new(st, "permissions", perm);
    }
    json_t *allow = perm != NULL ? json_object_get(perm, "allow") : NULL;
    if (perm != NULL && allow == NULL) {
        allow = json_array();
        json_object_set_new(perm, "allow", allow);
    }
    if (allow == NULL || json_array_append_new(allow, json_string(rule)) != 0) {
        json_decref(st);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    host_perm_policy_t pol;
    host_perm_result_t res;
    if (build_policy(s, st, &pol, &res) != 0) {
        json_decref(st);
        return agentd_err_set(err, AGENTD_EINVAL, "rule: %s", res.reason);
    }
    int rc = host_perm_evaluate(&pol, p->tool, p->input, s->workspace, &res);
    host_perm_policy_free(&pol);
    if (rc != 0 || res.decision != HOST_PERM_ALLOW) {
        json_decref(st);
        return agentd_err_set(err, AGENTD_EINVAL,
                              "rule: \"%.200s\" would not allow this request (%s); allow it "
                              "once, or give a rule that does",
                              rule, rc != 0 ? "out of memory" : res.reason);
    }
    *out = st;
    return 0;
}

int host_sessions_permission_respond(host_sessions_t *m, const char *id, const char *request_id,
                                     const char *decision, const char *message, const char *rule,
                                     const char *who, agentd_err_t *err)
{
    host_session_t *s = NULL;
    session_pending_t *p = NULL;
    int rc = want_pending(m, id, request_id, SESSION_ASK_PERMISSION, &s, &p, err);
    if (rc != 0)
        return rc;
    int once = strcmp(decision, "allow") == 0, always = strcmp(decision, "allow_always") == 0,
        deny = strcmp(decision, "deny") == 0;
    if (!once && !always && !deny)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "decision: \"allow\", \"allow_always\" or \"deny\"");
    if (message != NULL && (!deny || strlen(message) > MESSAGE_MAX))
        return agentd_err_set(err, AGENTD_EINVAL, deny ? "message: longer than %u bytes"
                                                       : "message: only with \"deny\"",
                              MESSAGE_MAX);
    if (rule != NULL && !always)
        return agentd_err_set(err, AGENTD_EINVAL, "rule: only with \"allow_always\"");
    if (deny) {
        char msg[MESSAGE_MAX + 64];
        snprintf(msg, sizeof msg, "denied by a person%s%s", message != NULL ? ": " : "",
                 message != NULL ? message : "");
        settle(s, p, 0, NULL, msg, NULL, "person", who, msg);
        return 0;
    }
    char *added = NULL;
    if (always) {
        added = rule != NULL ? strdup(rule) : default_rule(p);
        json_t *st = NULL;
        rc = added != NULL ? settings_with_rule(s, p, added, &st, err)
                           : agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
        if (rc != 0) {
            free(added);
            return rc;
        }
        json_decref(s->settings);
        s->settings = st;
        session_store_save(s);
        session_emit(s, "permission.rule_added",
                     json_pack("{s:s, s:s, s:s, s:s?}", "list", "allow", "rule", added,
                               "request_id", request_id, "who", who),
                     NULL, 0);
    }
    settle(s, p, 1, NULL, NULL, added, "person", who,
           always ? "allowed by a person, always for this session" : "allowed once by a person");
    free(added);
    return 0;
}

/* {question text: answer} for every question of the request; an answer is
 * a string (a label or free text) or, for multiSelect, an array of them. */
static int check_answers(const session_pending_t *p, json_t *answers, json_t **result,
                         agentd_err_t *err)
{
    json_t *qs = json_object_get(p->input, "questions");
    if (!json_is_object(answers))
        return agentd_err_set(err, AGENTD_EINVAL,
                              "answers: expected an object {question: answer}");
    json_t *out = json_object();
    if (out == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(answers, k, v) {
        int known = 0;
        size_t i;
        json_t *q;
        json_array_foreach(qs, i, q)
            known |= json_is_string(json_object_get(q, "question")) &&
                     strcmp(json_string_value(json_object_get(q, "question")), k) == 0;
        if (!known) {
            json_decref(out);
            return agentd_err_set(err, AGENTD_EINVAL,
                                  "answers.%.80s: the agent asked no such question", k);
        }
        char joined[MESSAGE_MAX];
        size_t used = 0;
        joined[0] = '\0';
        if (json_is_string(v) && json_string_length(v) > 0 &&
            json_string_length(v) < sizeof joined) {
            snprintf(joined, sizeof joined, "%s", json_string_value(v));
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            json_t *item;
            json_array_foreach(v, i, item) {
                if (!json_is_string(item) || json_string_length(item) == 0 ||
                    used + json_string_length(item) + 3 >= sizeof joined) {
                    used = 0;
                    joined[0] = '\0';
                    break;
                }
                used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%s",
                                         i > 0 ? ", " : "", json_string_value(item));
            }
        }
        if (joined[0] == '\0') {
            json_decref(out);
            return agentd_err_set(err, AGENTD_EINVAL,
                                  "answers.%.80s: a non-empty string, or an array of them (at "
                                  "most %u bytes)", k, MESSAGE_MAX);
        }
        json_object_set_new(out, k, json_string(joined));
    }
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
        const char *text = json_string_value(json_object_get(q, "question"));
        if (text != NULL && json_object_get(out, text) == NULL) {
            json_decref(out);
            return agentd_err_set(err, AGENTD_EINVAL,
                                  "answers: question %zu (\"%.80s\") has no answer", i, text);
        }
    }
    *result = out;
    return 0;
}

int host_sessions_question_answer(host_sessions_t *m, const char *id, const char *request_id,
                                  json_t *answers, int decline, const char *message,
                                  const char *who, agentd_err_t *err)
{
    host_session_t *s = NULL;
    session_pending_t *p = NULL;
    int rc = want_pending(m, id, request_id, SESSION_ASK_QUESTION, &s, &p, err);
    if (rc != 0)
        return rc;
    if (decline != (answers == NULL))
        return agentd_err_set(err, AGENTD_EINVAL, "answers: give the answers, or decline: true");
    if (message != NULL && (!decline || strlen(message) > MESSAGE_MAX))
        return agentd_err_set(err, AGENTD_EINVAL, decline ? "message: longer than %u bytes"
                                                          : "message: only with decline",
                              MESSAGE_MAX);
    if (decline) {
        char msg[MESSAGE_MAX + 64];
        snprintf(msg, sizeof msg, "the person declined to answer%s%s",
                 message != NULL ? ": " : "", message != NULL ? message : "");
        settle(s, p, 0, NULL, msg, NULL, "person", who, msg);
        return 0;
    }
    json_t *checked = NULL;
    rc = check_answers(p, answers, &checked, err);
    if (rc != 0)
        return rc;
    json_t *input = json_deep_copy(p->input);
    if (input == NULL || json_object_set(input, "answers", checked) != 0) {
        json_decref(input);
        json_decref(checked);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    session_emit(s, "question.answered",
                 json_pack("{s:s, s:O, s:s?}", "request_id", request_id, "answers", checked,
                           "who", who),
                 NULL, 0);
    json_decref(checked);
    settle(s, p, 1, input, NULL, NULL, "person", who, "answered by a person");
    json_decref(input);
    return 0;
}

/* ---- permission mode ------------------------------------------------------------------- */

/* Records a mode in the settings (the next run starts in it), tells a
 * running agent when asked to, and says so in a `session.permission_mode`
 * event. */
static int apply_mode(host_session_t *s, const char *mode, const char *who, int tell_agent,
                      agentd_err_t *err)
{
    const char *prev = json_string_value(json_object_get(s->settings, "permission_mode"));
    char previous[16];
    snprintf(previous, sizeof previous, "%s", prev != NULL ? prev : "default");
    json_t *st = json_deep_copy(s->settings);
    if (st == NULL || json_object_set_new(st, "permission_mode", json_string(mode)) != 0) {
        json_decref(st);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    json_decref(s->settings);
    s->settings = st;
    session_store_save(s);
    int told = 0;
    if (tell_agent && s->runner != NULL && s->runner_started && host_runner_running(s->runner)) {
        char line[160];
        int n = snprintf(line, sizeof line,
                         "{\"type\":\"control_request\",\"request_id\":\"agentd-mode-%u\","
                         "\"request\":{\"subtype\":\"set_permission_mode\",\"mode\":\"%s\"}}",
                         ++s->control_seq, mode);
        told = host_runner_write_line(s->runner, line, (size_t)n) == 0;
    }
    session_emit(s, "session.permission_mode",
                 json_pack("{s:s, s:s, s:b, s:s?}", "mode", mode, "previous", previous,
                           "agent_told", told, "who", who),
                 NULL, 0);
    return 0;
}

/* Claude Code leaves plan mode by itself once ExitPlanMode is allowed (it
 * then runs in the default mode): agentd follows, so the plan phase's rules
 * stop applying too. */
static void follow_plan_exit(host_session_t *s, const char *tool, const char *who)
{
    const char *pm = json_string_value(json_object_get(s->settings, "permission_mode"));
    agentd_err_t err = {{0}};
    if (tool != NULL && strcmp(tool, "ExitPlanMode") == 0 && pm != NULL &&
        strcmp(pm, "plan") == 0 && apply_mode(s, "default", who, 0, &err) != 0)
        session_error(s, "could not record the end of plan mode: %s", err.msg);
}

int host_sessions_set_permission_mode(host_sessions_t *m, const char *id, const char *mode,
                                      const char *who, agentd_err_t *err)
{
    host_session_t *s = NULL;
    int rc = live_session(m, id, &s, err);
    if (rc != 0)
        return rc;
    if (strcmp(mode, "default") != 0 && strcmp(mode, "acceptEdits") != 0 &&
        strcmp(mode, "plan") != 0)
        return agentd_err_set(err, AGENTD_EINVAL,
                              "mode: \"default\", \"acceptEdits\" or \"plan\"");
    return apply_mode(s, mode, who, 1, err);
}
