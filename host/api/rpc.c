/* JSON-RPC 2.0 dispatch and the API's methods (docs/protocol.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "secrets/secrets.h"

typedef json_t *(*method_fn)(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e);

typedef struct method {
    const char *name;
    host_api_role_t role; /* the least role that may call it */
    method_fn fn;
} method_t;

static json_t *fail(rpc_err_t *e, int code, const char *field, const char *fmt, ...)
    AGENTD_PRINTF(4, 5);
static json_t *fail(rpc_err_t *e, int code, const char *field, const char *fmt, ...)
{
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field != NULL ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return NULL;
}

/* A session-layer error as a JSON-RPC error. */
static json_t *fail_host(rpc_err_t *e, int rc, const char *msg, const char *session)
{
    switch (rc) {
    case AGENTD_EINVAL:
        return fail(e, RPC_INVALID_PARAMS, NULL, "%s", msg);
    case AGENTD_ENOENT:
        if (session != NULL && strstr(msg, "session") != NULL)
            return fail(e, RPC_UNKNOWN_SESSION, "session", "%s", msg);
        return fail(e, RPC_INVALID_PARAMS, NULL, "%s", msg);
    case AGENTD_ELIMIT:
        return fail(e, RPC_LIMIT, NULL, "%s", msg);
    case AGENTD_EBUSY:
    case AGENTD_ESTATE:
        return fail(e, RPC_STATE, NULL, "%s", msg);
    default:
        return fail(e, RPC_FAILED, NULL, "%s (%s)", msg, agentd_strerror(rc));
    }
}

/* ---- parameters ---- */

static const char *want_string(json_t *params, const char *key, int required, rpc_err_t *e)
{
    json_t *v = params != NULL ? json_object_get(params, key) : NULL;
    if (v == NULL || json_is_null(v)) {
        if (required)
            fail(e, RPC_INVALID_PARAMS, key, "%s: missing (a string)", key);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        fail(e, RPC_INVALID_PARAMS, key, "%s: must be a non-empty string", key);
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        fail(e, RPC_INVALID_PARAMS, key, "%s: must not contain NUL", key);
        return NULL;
    }
    return json_string_value(v);
}

/* A known session id, else an error naming it. */
static const char *want_session(api_conn_t *c, json_t *params, rpc_err_t *e)
{
    const char *id = want_string(params, "session", 1, e);
    if (id == NULL)
        return NULL;
    if (strlen(id) >= HOST_SESSION_ID_MAX) {
        fail(e, RPC_UNKNOWN_SESSION, "session", "no session \"%.40s...\"", id);
        return NULL;
    }
    json_t *s = host_sessions_get(c->srv->rt->sessions, id);
    if (s == NULL) {
        fail(e, RPC_UNKNOWN_SESSION, "session", "no session \"%s\"", id);
        return NULL;
    }
    json_decref(s);
    return id;
}

static int want_bool(json_t *params, const char *key, int dflt, int *out, rpc_err_t *e)
{
    json_t *v = params != NULL ? json_object_get(params, key) : NULL;
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) {
        fail(e, RPC_INVALID_PARAMS, key, "%s: must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int check_keys(json_t *params, const char *const *keys, rpc_err_t *e)
{
    const char *k;
    json_t *v;
    if (params == NULL)
        return 0;
    json_object_foreach(params, k, v) {
        int known = 0;
        for (size_t i = 0; keys[i] != NULL; i++)
            known |= strcmp(keys[i], k) == 0;
        if (!known) {
            fail(e, RPC_INVALID_PARAMS, k, "%s: unknown parameter", k);
            return -1;
        }
    }
    return 0;
}

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- methods ---- */

static json_t *m_server_info(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e);

static json_t *m_auth(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("token"), e) != 0)
        return NULL;
    if (c->role != HOST_API_ROLE_NONE)
        return fail(e, RPC_STATE, NULL, "already authenticated (as %s)",
                    host_api_role_name(c->role));
    const char *tok = want_string(params, "token", 1, e);
    if (tok == NULL)
        return NULL;
    agentd_err_t err = {{0}};
    host_api_role_t role;
    char tid[HOST_API_TOKEN_ID_LEN + 1];
    if (host_api_token_verify(c->srv->rt->db, tok, strlen(tok), &role, tid, &err) != 0) {
        c->srv->m.auth_failures_total++;
        host_log(&c->srv->ctx->log, AGENTD_LOG_INFO, "api", "authentication failed from %s: %s",
                 c->peer, err.msg);
        return fail(e, RPC_AUTH_FAILED, "token", "authentication failed: %s", err.msg);
    }
    c->role = role;
    memcpy(c->token_id, tid, sizeof c->token_id);
    return json_pack("{s:s, s:s}", "role", host_api_role_name(role), "token_id", tid);
}

static json_t *m_session_create(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (params == NULL)
        return fail(e, RPC_INVALID_PARAMS, NULL,
                    "params: the session's settings (an object, docs/sessions.md)");
    char sid[HOST_SESSION_ID_MAX];
    agentd_err_t err = {{0}};
    int rc = host_sessions_create(c->srv->rt->sessions, params, sid, &err);
    if (rc != 0)
        return fail_host(e, rc, err.msg, NULL);
    json_t *s = host_sessions_get(c->srv->rt->sessions, sid);
    return s != NULL ? s : json_pack("{s:s}", "id", sid);
}

static json_t *m_session_list(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("state"), e) != 0)
        return NULL;
    json_t *all = host_sessions_list(c->srv->rt->sessions);
    if (all == NULL)
        return fail(e, RPC_INTERNAL, NULL, "out of memory");
    return json_pack("{s:o}", "sessions", all);
}

static json_t *m_session_get(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session"), e) != 0)
        return NULL;
    const char *sid = want_string(params, "session", 1, e);
    if (sid == NULL)
        return NULL;
    json_t *s = host_sessions_get(c->srv->rt->sessions, sid);
    if (s == NULL)
        return fail(e, RPC_UNKNOWN_SESSION, "session", "no session \"%.40s\"", sid);
    return s;
}

static json_t *m_session_send(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session", "text"), e) != 0)
        return NULL;
    const char *sid = want_session(c, params, e);
    if (sid == NULL)
        return NULL;
    const char *text = want_string(params, "text", 1, e);
    if (text == NULL)
        return NULL;
    agentd_err_t err = {{0}};
    int rc = host_sessions_send(c->srv->rt->sessions, sid, text, &err);
    if (rc != 0)
        return fail_host(e, rc, err.msg, sid);
    return json_pack("{s:s, s:b}", "session", sid, "accepted", 1);
}

typedef int (*simple_op)(host_sessions_t *s, const char *id, agentd_err_t *err);

static int op_stop(host_sessions_t *s, const char *id, agentd_err_t *err)
{
    return host_sessions_stop(s, id, NULL, NULL, err);
}

static json_t *simple(api_conn_t *c, json_t *params, rpc_err_t *e, simple_op op)
{
    if (check_keys(params, KEYS("session"), e) != 0)
        return NULL;
    const char *sid = want_session(c, params, e);
    if (sid == NULL)
        return NULL;
    agentd_err_t err = {{0}};
    int rc = op(c->srv->rt->sessions, sid, &err);
    if (rc != 0)
        return fail_host(e, rc, err.msg, sid);
    json_t *s = host_sessions_get(c->srv->rt->sessions, sid);
    return s != NULL ? s : json_pack("{s:s}", "id", sid);
}

static json_t *m_session_stop(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    return simple(c, params, e, op_stop);
}

static json_t *m_session_pause(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    return simple(c, params, e, host_sessions_pause);
}

static json_t *m_session_resume(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    return simple(c, params, e, host_sessions_resume);
}

static json_t *m_session_clone(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session", "with_history"), e) != 0)
        return NULL;
    const char *sid = want_session(c, params, e);
    int hist;
    if (sid == NULL || want_bool(params, "with_history", 0, &hist, e) != 0)
        return NULL;
    char nid[HOST_SESSION_ID_MAX];
    agentd_err_t err = {{0}};
    int rc = host_sessions_clone(c->srv->rt->sessions, sid, hist, nid, &err);
    if (rc != 0)
        return fail_host(e, rc, err.msg, sid);
    json_t *s = host_sessions_get(c->srv->rt->sessions, nid);
    return s != NULL ? s : json_pack("{s:s}", "id", nid);
}

static json_t *m_session_delete(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session", "purge_events"), e) != 0)
        return NULL;
    const char *sid = want_session(c, params, e);
    int purge;
    if (sid == NULL || want_bool(params, "purge_events", 0, &purge, e) != 0)
        return NULL;
    char keep[HOST_SESSION_ID_MAX];
    snprintf(keep, sizeof keep, "%s", sid);
    agentd_err_t err = {{0}};
    int rc = host_sessions_delete(c->srv->rt->sessions, keep, purge, &err);
    if (rc != 0)
        return fail_host(e, rc, err.msg, keep);
    return json_pack("{s:s, s:b, s:b}", "session", keep, "deleted", 1, "purged_events", purge);
}

/* ---- people answering the agent (docs/permissions.md) ---- */

/* Who answered, for the record: the token (never its secret) and role. */
static void who_of(api_conn_t *c, char *buf, size_t n)
{
    snprintf(buf, n, "token:%s (%s)", c->token_id, host_api_role_name(c->role));
}

static json_t *fail_answer(rpc_err_t *e, int rc, const char *msg, const char *sid)
{
    if (rc == HOST_SESSIONS_ENOTPENDING)
        return fail(e, RPC_NOT_PENDING, "request_id", "%s", msg);
    if (rc == AGENTD_EINVAL) {
        /* the session layer's messages start with the field they name */
        char field[64] = "";
        size_t n = strcspn(msg, ":.[ ");
        if (n > 0 && n < sizeof field)
            memcpy(field, msg, n);
        return fail(e, RPC_INVALID_PARAMS, field, "%s", msg);
    }
    return fail_host(e, rc, msg, sid);
}

static json_t *m_permission_respond(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session", "request_id", "decision", "message", "rule"), e) != 0)
        return NULL;
    const char *sid = want_session(c, params, e);
    const char *rid = sid != NULL ? want_string(params, "request_id", 1, e) : NULL;
    const char *decision = rid != NULL ? want_string(params, "decision", 1, e) : NULL;
    if (decision == NULL)
        return NULL;
    const char *message = want_string(params, "message", 0, e);
    if (message == NULL && e->code != 0)
        return NULL;
    const char *rule = want_string(params, "rule", 0, e);
    if (rule == NULL && e->code != 0)
        return NULL;
    char who[96];
    who_of(c, who, sizeof who);
    agentd_err_t err = {{0}};
    int rc = host_sessions_permission_respond(c->srv->rt->sessions, sid, rid, decision, message,
                                              rule, who, &err);
    if (rc != 0)
        return fail_answer(e, rc, err.msg, sid);
    return json_pack("{s:s, s:s, s:s}", "session", sid, "request_id", rid, "decision", decision);
}

static json_t *m_question_answer(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session", "request_id", "answers", "decline", "message"), e) !=
        0)
        return NULL;
    const char *sid = want_session(c, params, e);
    const char *rid = sid != NULL ? want_string(params, "request_id", 1, e) : NULL;
    if (rid == NULL)
        return NULL;
    int decline = 0;
    if (want_bool(params, "decline", 0, &decline, e) != 0)
        return NULL;
    const char *message = want_string(params, "message", 0, e);
    if (message == NULL && e->code != 0)
        return NULL;
    json_t *answers = json_object_get(params, "answers");
    if (answers != NULL && json_is_null(answers))
        answers = NULL;
    char who[96];
    who_of(c, who, sizeof who);
    agentd_err_t err = {{0}};
    int rc = host_sessions_question_answer(c->srv->rt->sessions, sid, rid, answers, decline,
                                           message, who, &err);
    if (rc != 0)
        return fail_answer(e, rc, err.msg, sid);
    return json_pack("{s:s, s:s, s:s}", "session", sid, "request_id", rid, "outcome",
                     decline ? "declined" : "answered");
}

static json_t *m_set_permission_mode(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session", "mode"), e) != 0)
        return NULL;
    const char *sid = want_session(c, params, e);
    const char *mode = sid != NULL ? want_string(params, "mode", 1, e) : NULL;
    if (mode == NULL)
        return NULL;
    char who[96];
    who_of(c, who, sizeof who);
    agentd_err_t err = {{0}};
    int rc = host_sessions_set_permission_mode(c->srv->rt->sessions, sid, mode, who, &err);
    if (rc != 0)
        return fail_answer(e, rc, err.msg, sid);
    json_t *s = host_sessions_get(c->srv->rt->sessions, sid);
    return s != NULL ? s : json_pack("{s:s}", "id", sid);
}

static json_t *m_subscribe(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    if (check_keys(params, KEYS("session", "since", "batch"), e) != 0)
        return NULL;
    const char *sid = want_string(params, "session", 1, e);
    if (sid == NULL)
        return NULL;
    json_t *bv = json_object_get(params, "batch");
    if (bv != NULL && !json_is_boolean(bv))
        return fail(e, RPC_INVALID_PARAMS, "batch",
                    "batch: must be true or false (true: events may arrive as JSON-RPC "
                    "batches, arrays of event notifications)");
    if (strlen(sid) >= HOST_SESSION_ID_MAX)
        return fail(e, RPC_UNKNOWN_SESSION, "session", "no session \"%.40s...\"", sid);
    json_t *sv = json_object_get(params, "since");
    uint64_t since = 0;
    if (sv != NULL && !json_is_null(sv)) {
        if (!json_is_integer(sv) || json_integer_value(sv) < 0)
            return fail(e, RPC_INVALID_PARAMS, "since",
                        "since: must be an integer >= 0 (the last seq you have; 0: from the "
                        "start)");
        since = (uint64_t)json_integer_value(sv);
    }
    if (api_subscribe(c, sid, since, bv != NULL && json_is_true(bv), id != NULL ? id : json_null(), e) != 0)
        return NULL;
    e->answered = 1; /* the response went out ahead of the replayed events */
    return NULL;
}

static json_t *m_unsubscribe(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("session"), e) != 0)
        return NULL;
    const char *sid = want_string(params, "session", 1, e);
    if (sid == NULL)
        return NULL;
    if (api_unsubscribe(c, sid) != 0)
        return fail(e, RPC_STATE, "session", "not subscribed to \"%.40s\"", sid);
    return json_pack("{s:s, s:b}", "session", sid, "unsubscribed", 1);
}

static json_t *m_token_create(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("role", "name"), e) != 0)
        return NULL;
    const char *rs = want_string(params, "role", 1, e);
    if (rs == NULL)
        return NULL;
    host_api_role_t role;
    if (host_api_role_parse(rs, &role) != 0)
        return fail(e, RPC_INVALID_PARAMS, "role", "role: must be viewer, editor or admin");
    const char *name = want_string(params, "name", 0, e);
    if (name == NULL && e->code != 0)
        return NULL;
    char tok[HOST_API_TOKEN_MAX], tid[HOST_API_TOKEN_ID_LEN + 1];
    agentd_err_t err = {{0}};
    int rc = host_api_token_create(c->srv->rt->db, role, name, tok, tid, &err);
    if (rc != 0)
        return fail_host(e, rc, err.msg, NULL);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "id", tid, "token", tok, "role", rs, "name",
                          name != NULL ? name : "");
    memset(tok, 0, sizeof tok);
    return r;
}

static json_t *m_token_list(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("x"), e) != 0)
        return NULL;
    agentd_err_t err = {{0}};
    json_t *l = host_api_token_list(c->srv->rt->db, &err);
    if (l == NULL)
        return fail(e, RPC_FAILED, NULL, "%s", err.msg);
    return json_pack("{s:o}", "tokens", l);
}

static json_t *m_token_revoke(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("id"), e) != 0)
        return NULL;
    const char *tid = want_string(params, "id", 1, e);
    if (tid == NULL)
        return NULL;
    agentd_err_t err = {{0}};
    int rc = host_api_token_revoke(c->srv->rt->db, tid, &err);
    if (rc == AGENTD_ENOENT)
        return fail(e, RPC_INVALID_PARAMS, "id", "%s", err.msg);
    if (rc != 0)
        return fail(e, RPC_FAILED, NULL, "%s", err.msg);
    size_t closed = 0;
    for (api_conn_t *o = c->srv->conns; o != NULL; o = o->next)
        if (o != c && o->role != HOST_API_ROLE_NONE && strcmp(o->token_id, tid) == 0) {
            api_kill(o, LWS_CLOSE_STATUS_POLICY_VIOLATION, "token revoked");
            c->srv->m.revoked_closed_total++;
            closed++;
        }
    int self = strcmp(c->token_id, tid) == 0;
    json_t *r = json_pack("{s:s, s:b, s:I}", "id", tid, "revoked", 1, "connections_closed",
                          (json_int_t)(closed + (size_t)self));
    if (self) {
        /* Answer first, then close this one too. */
        api_send_json(c, json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id", id, "result", r));
        json_decref(r);
        c->srv->m.revoked_closed_total++;
        c->role = HOST_API_ROLE_NONE;
        /* Let the answer go out before the close. */
        snprintf(c->kill_reason, sizeof c->kill_reason, "token revoked");
        out_msg_t *last = c->q.tail;
        if (last != NULL)
            last->close_after = 1;
        e->answered = 1;
        return NULL;
    }
    return r;
}

/* ---- secrets (admin, write-only: no method ever returns a value) ---- */

static json_t *m_secret_set(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("name", "value"), e) != 0)
        return NULL;
    const char *name = want_string(params, "name", 1, e);
    json_t *v = json_object_get(params, "value");
    if (name == NULL)
        return NULL;
    if (!json_is_string(v))
        return fail(e, RPC_INVALID_PARAMS, "value", "value: missing (a string)");
    if (c->srv->rt->secrets == NULL)
        return fail(e, RPC_FAILED, NULL, "the secret store is not open");
    int created = 0;
    agentd_err_t err = {{0}};
    size_t len = json_string_length(v);
    int rc = host_secrets_set(c->srv->rt->secrets, name, json_string_value(v), len, &created,
                              &err);
    /* Our parsed copy of the value goes now, not when the request is freed. */
    memset((char *)json_string_value(v), 0, len);
    if (rc == AGENTD_EINVAL)
        return fail(e, RPC_INVALID_PARAMS, strstr(err.msg, "name") ? "name" : "value", "%s",
                    err.msg);
    if (rc != 0)
        return fail(e, RPC_FAILED, NULL, "%s", err.msg);
    return json_pack("{s:s, s:b}", "name", name, "created", created);
}

static json_t *m_secret_list(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("x"), e) != 0)
        return NULL;
    if (c->srv->rt->secrets == NULL)
        return fail(e, RPC_FAILED, NULL, "the secret store is not open");
    host_secret_info_t *items = NULL;
    size_t n = 0;
    agentd_err_t err = {{0}};
    if (host_secrets_list(c->srv->rt->secrets, &items, &n, &err) != 0)
        return fail(e, RPC_FAILED, NULL, "%s", err.msg);
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "name", items[i].name,
                                             "scope", items[i].scope, "created",
                                             items[i].created, "updated", items[i].updated));
    host_secrets_list_free(items, n);
    return arr != NULL ? json_pack("{s:o}", "secrets", arr) : NULL;
}

static json_t *m_secret_remove(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("name"), e) != 0)
        return NULL;
    const char *name = want_string(params, "name", 1, e);
    if (name == NULL)
        return NULL;
    if (c->srv->rt->secrets == NULL)
        return fail(e, RPC_FAILED, NULL, "the secret store is not open");
    agentd_err_t err = {{0}};
    int rc = host_secrets_remove(c->srv->rt->secrets, name, &err);
    if (rc == AGENTD_ENOENT || rc == AGENTD_EINVAL)
        return fail(e, RPC_INVALID_PARAMS, "name", "%s", err.msg);
    if (rc != 0)
        return fail(e, RPC_FAILED, NULL, "%s", err.msg);
    return json_pack("{s:s, s:b}", "name", name, "removed", 1);
}

static const method_t methods[] = {
    {"auth", HOST_API_ROLE_NONE, m_auth},
    {"server.info", HOST_API_ROLE_VIEWER, m_server_info},
    {"session.list", HOST_API_ROLE_VIEWER, m_session_list},
    {"session.get", HOST_API_ROLE_VIEWER, m_session_get},
    {"events.subscribe", HOST_API_ROLE_VIEWER, m_subscribe},
    {"events.unsubscribe", HOST_API_ROLE_VIEWER, m_unsubscribe},
    {"session.create", HOST_API_ROLE_EDITOR, m_session_create},
    {"session.send", HOST_API_ROLE_EDITOR, m_session_send},
    {"session.stop", HOST_API_ROLE_EDITOR, m_session_stop},
    {"session.pause", HOST_API_ROLE_EDITOR, m_session_pause},
    {"session.resume", HOST_API_ROLE_EDITOR, m_session_resume},
    {"session.clone", HOST_API_ROLE_EDITOR, m_session_clone},
    {"session.delete", HOST_API_ROLE_EDITOR, m_session_delete},
    {"session.set_permission_mode", HOST_API_ROLE_EDITOR, m_set_permission_mode},
    {"permission.respond", HOST_API_ROLE_EDITOR, m_permission_respond},
    {"question.answer", HOST_API_ROLE_EDITOR, m_question_answer},
    {"token.create", HOST_API_ROLE_ADMIN, m_token_create},
    {"token.list", HOST_API_ROLE_ADMIN, m_token_list},
    {"token.revoke", HOST_API_ROLE_ADMIN, m_token_revoke},
    {"secret.set", HOST_API_ROLE_ADMIN, m_secret_set},
    {"secret.list", HOST_API_ROLE_ADMIN, m_secret_list},
    {"secret.remove", HOST_API_ROLE_ADMIN, m_secret_remove},
    {NULL, HOST_API_ROLE_NONE, NULL},
};

static json_t *m_server_info(api_conn_t *c, json_t *params, json_t *id, rpc_err_t *e)
{
    (void)id;
    if (check_keys(params, KEYS("x"), e) != 0)
        return NULL;
    json_t *names = json_array();
    for (const method_t *m = methods; m->name != NULL && names != NULL; m++)
        if (m->role <= c->role)
            json_array_append_new(names, json_string(m->name));
    return json_pack("{s:s, s:s, s:i, s:s, s:s, s:o*}", "name", "agentd", "version",
                     AGENTD_VERSION, "protocol", 1, "role", host_api_role_name(c->role),
                     "token_id", c->token_id, "methods", names);
}

/* ---- dispatch ---- */

static void send_error(api_conn_t *c, json_t *id, const rpc_err_t *e)
{
    c->srv->m.errors_total++;
    json_t *err = json_pack("{s:i, s:s}", "code", e->code, "message", e->msg);
    if (err != NULL && e->field[0] != '\0')
        json_object_set_new(err, "data", json_pack("{s:s}", "field", e->field));
    api_send_json(c, json_pack("{s:s, s:O, s:o*}", "jsonrpc", "2.0", "id",
                               id != NULL ? id : json_null(), "error", err));
}

void api_rpc_message(api_conn_t *c, const char *text, size_t len)
{
    rpc_err_t e = {0};
    json_error_t je;
    c->srv->m.requests_total++;
    json_t *req = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (req == NULL) {
        fail(&e, RPC_PARSE_ERROR, NULL, "parse error at line %d column %d: %s", je.line,
             je.column, je.text);
        send_error(c, NULL, &e);
        return;
    }
    if (!json_is_object(req)) {
        fail(&e, RPC_INVALID_REQUEST, NULL,
             json_is_array(req) ? "batches are not supported: send one request per message"
                                : "a request must be a JSON object");
        send_error(c, NULL, &e);
        json_decref(req);
        return;
    }
    json_t *id = json_object_get(req, "id");
    int notification = id == NULL;
    if (id != NULL && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
        fail(&e, RPC_INVALID_REQUEST, "id", "id: must be a string, an integer or null");
        send_error(c, NULL, &e);
        json_decref(req);
        return;
    }
    json_t *ver = json_object_get(req, "jsonrpc");
    json_t *mv = json_object_get(req, "method");
    json_t *params = json_object_get(req, "params");
    const char *name = json_string_value(mv);
    const method_t *m = NULL;
    json_t *result = NULL;
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0) {
        fail(&e, RPC_INVALID_REQUEST, "jsonrpc", "jsonrpc: must be \"2.0\"");
    } else if (name == NULL) {
        fail(&e, RPC_INVALID_REQUEST, "method", "method: missing (a string)");
    } else if (params != NULL && !json_is_object(params)) {
        fail(&e, RPC_INVALID_PARAMS, "params", "params: must be an object (named parameters)");
    } else {
        for (const method_t *k = methods; k->name != NULL; k++)
            if (strcmp(k->name, name) == 0)
                m = k;
        if (m == NULL)
            fail(&e, RPC_METHOD_NOT_FOUND, "method", "unknown method \"%.64s\"", name);
        else if (c->role == HOST_API_ROLE_NONE && m->role != HOST_API_ROLE_NONE)
            fail(&e, RPC_NOT_AUTHENTICATED, NULL,
                 "not authenticated: call \"auth\" with a token first (or send "
                 "Authorization: Bearer on the upgrade)");
        else if (m->role > c->role)
            fail(&e, RPC_FORBIDDEN, "method", "%s needs role %s; this token is %s", name,
                 host_api_role_name(m->role), host_api_role_name(c->role));
        else
            result = m->fn(c, params, id, &e);
    }
    if (result == NULL && e.answered) {
        json_decref(req);
        return;
    }
    if (result == NULL) {
        if (e.code == 0)
            fail(&e, RPC_INTERNAL, NULL, "internal error (out of memory?)");
        if (!notification || e.code == RPC_INVALID_REQUEST)
            send_error(c, id, &e);
        if (m != NULL && m->fn == m_auth && e.code == RPC_AUTH_FAILED) {
            /* A wrong token: answer, then close. */
            snprintf(c->kill_reason, sizeof c->kill_reason, "authentication failed");
            out_msg_t *last = c->q.tail;
            if (last != NULL)
                last->close_after = 1;
        }
    } else if (!notification) {
        api_send_json(c, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result",
                                   result));
    } else {
        json_decref(result);
    }
    json_decref(req);
}
