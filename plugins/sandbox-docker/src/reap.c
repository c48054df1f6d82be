/*
 * What a restarted host finds: the containers this installation made (label
 * io.agentd.owner), listed for the host to adopt the ones whose session can
 * continue and reap the orphans.
 */
#define _GNU_SOURCE
#include "dk.h"
#include "plugin_envfile.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct found {
    char *id, *session, *state;
    uint64_t created_ms;
} found_t;

typedef struct list_op {
    dk_op_t op;
    agentd_sandbox_list_cb cb;
    void *ud;
    found_t *items;
    size_t count;
} list_op_t;

static const char *label(json_t *labels, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, DK_LABEL "%s", key);
    return json_string_value(json_object_get(labels, k));
}

static const char *state_word(const char *engine_state)
{
    if (engine_state == NULL)
        return "exited";
    if (strcmp(engine_state, "running") == 0 || strcmp(engine_state, "paused") == 0)
        return engine_state;
    return "exited"; /* created, restarting, removing, exited, dead */
}

static void list_work(dk_op_t *op)
{
    list_op_t *l = (list_op_t *)op;
    char filter[200], enc[400], path[500];
    snprintf(filter, sizeof filter, "{\"label\":[\"" DK_LABEL "owner=%s\"]}", op->pl->owner);
    dk_urlencode(filter, enc, sizeof enc);
    snprintf(path, sizeof path, "/containers/json?all=1&filters=%s", enc);
    dk_resp_t r;
    op->rc = dk_request_json(&op->pl->engine, "GET", path, NULL, &r);
    json_t *arr = op->rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
    if (op->rc != 0)
        snprintf(op->msg, sizeof op->msg, "%s", r.msg);
    l->items = calloc(json_array_size(arr) + 1, sizeof *l->items);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c) {
        json_t *labels = json_object_get(c, "Labels");
        const char *id = label(labels, "sandbox");
        if (l->items == NULL || id == NULL)
            continue;
        found_t *f = &l->items[l->count];
        f->id = strdup(id);
        f->session = dk_strdup(label(labels, "session"));
        f->state = strdup(state_word(json_string_value(json_object_get(c, "State"))));
        f->created_ms = (uint64_t)json_integer_value(json_object_get(c, "Created")) * 1000u;
        if (f->id != NULL && f->state != NULL)
            l->count++;
    }
    json_decref(arr);
    dk_resp_free(&r);
}

static void list_done(dk_op_t *op)
{
    list_op_t *l = (list_op_t *)op;
    for (size_t i = 0; i < l->count && op->rc == 0; i++) {
        agentd_sandbox_info_t info = {sizeof info, l->items[i].id, l->items[i].session,
                                      l->items[i].state, l->items[i].created_ms};
        l->cb(l->ud, &info, 0);
    }
    if (op->rc != 0)
        op->pl->api->log(op->pl->host, AGENTD_LOG_WARN, "list: %s", op->msg);
    l->cb(l->ud, NULL, op->rc);
    for (size_t i = 0; l->items != NULL && i < l->count; i++) {
        free(l->items[i].id);
        free(l->items[i].session);
        free(l->items[i].state);
    }
    free(l->items);
    free(l);
}

int dk_list(dk_plugin_t *pl, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    if (cb == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "list needs a callback");
    list_op_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    l->cb = cb;
    l->ud = ud;
    l->op = (dk_op_t){.pl = pl, .work = list_work, .done = list_done};
    dk_op_submit(&l->op);
    return 0;
}

/* ---- one container: adopt or reap ---------------------------------------------------- */

typedef struct one_op {
    dk_op_t op;
    char *id, *name;
    int reap;
    agentd_sandbox_create_cb adopt_cb;
    agentd_done_cb reap_cb;
    void *ud;
    json_t *labels;
    int paused;
} one_op_t;

static void one_work(dk_op_t *op)
{
    one_op_t *o = (one_op_t *)op;
    char path[300];
    snprintf(path, sizeof path, "/containers/%s/json", o->name);
    dk_resp_t r;
    op->rc = dk_request_json(&op->pl->engine, "GET", path, NULL, &r);
    json_t *c = op->rc == 0 ? json_loads(r.body ? r.body : "", 0, NULL) : NULL;
    json_t *labels = json_object_get(json_object_get(c, "Config"), "Labels");
    json_t *state = json_object_get(c, "State");
    const char *owner = label(labels, "owner");
    if (op->rc == AGENTD_ENOENT || (op->rc == 0 && (owner == NULL ||
                                                     strcmp(owner, op->pl->owner) != 0))) {
        op->rc = AGENTD_ENOENT;
        snprintf(op->msg, sizeof op->msg, "no container of this agentd for sandbox %s", o->id);
    } else if (op->rc != 0) {
        snprintf(op->msg, sizeof op->msg, "%s", r.msg);
    } else if (!o->reap && !json_is_true(json_object_get(state, "Running"))) {
        op->rc = AGENTD_ESTATE;
        snprintf(op->msg, sizeof op->msg,
                 "container %s is not running (%s): its session cannot continue; reap it",
                 o->name, json_string_value(json_object_get(state, "Status")));
    } else if (!o->reap) {
        o->labels = json_incref(labels);
        o->paused = json_is_true(json_object_get(state, "Paused"));
    }
    /* reap: a volume's files go back to the workspace first, if it is there */
    char *volume = op->rc == 0 && o->reap ? dk_strdup(label(labels, "volume")) : NULL;
    char *ws = op->rc == 0 && o->reap ? dk_strdup(label(labels, "workspace")) : NULL;
    json_decref(c);
    dk_resp_free(&r);
    if (op->rc == 0 && o->reap)
        op->rc = dk_teardown(&op->pl->engine, o->name, volume, ws, op->msg, sizeof op->msg);
    free(volume);
    free(ws);
}

static agentd_sandbox_t *adopted(one_op_t *o, agentd_err_t *err)
{
    agentd_sandbox_t *sb = calloc(1, sizeof *sb);
    if (sb == NULL) {
        agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
        return NULL;
    }
    sb->pl = o->op.pl;
    sb->id = strdup(o->id);
    sb->name = strdup(o->name);
    sb->session_id = dk_strdup(label(o->labels, "session"));
    sb->profile_name = dk_strdup(label(o->labels, "profile"));
    sb->workspace = dk_strdup(label(o->labels, "workspace"));
    sb->user = dk_strdup(label(o->labels, "user"));
    sb->volume = dk_strdup(label(o->labels, "volume"));
    sb->env = plugin_envfile_load(o->op.pl->api->state_dir(o->op.pl->host), o->id);
    const char *dl = label(o->labels, "deadline_ms"), *cr = label(o->labels, "created_ms");
    sb->deadline_ms = dl != NULL ? strtoull(dl, NULL, 10) : 0;
    sb->created_ms = cr != NULL ? strtoull(cr, NULL, 10) : 0;
    sb->timeout_s = sb->deadline_ms > sb->created_ms ? (sb->deadline_ms - sb->created_ms) / 1000 : 0;
    if (sb->id == NULL || sb->name == NULL || sb->user == NULL || sb->env == NULL ||
        sb->profile_name == NULL || sb->deadline_ms == 0) {
        dk_sandbox_free(sb);
        agentd_err_set(err, AGENTD_EPROTO, "container %s lacks agentd's labels", o->name);
        return NULL;
    }
    int rc = dk_sandbox_arm_timeout(sb); /* fires at once when already past */
    if (rc != 0) {
        dk_sandbox_free(sb);
        agentd_err_set(err, rc, "timeout timer: %s", agentd_strerror(rc));
        return NULL;
    }
    return sb;
}

static void one_done(dk_op_t *op)
{
    one_op_t *o = (one_op_t *)op;
    if (o->reap) {
        if (op->rc != 0)
            op->pl->api->log(op->pl->host, AGENTD_LOG_WARN, "reap %s: %s", o->id, op->msg);
        else
            op->pl->api->log(op->pl->host, AGENTD_LOG_INFO, "reaped container %s", o->name);
        if (op->rc == 0)
            plugin_envfile_remove(op->pl->api->state_dir(op->pl->host), o->id);
        o->reap_cb(o->ud, op->rc);
    } else {
        agentd_err_t err = {{0}};
        agentd_sandbox_t *sb = op->rc == 0 ? adopted(o, &err) : NULL;
        int rc = op->rc != 0 ? op->rc : sb == NULL ? AGENTD_EPROTO : 0;
        if (sb != NULL) {
            dk_sandbox_link(sb);
            op->pl->api->log(op->pl->host, AGENTD_LOG_INFO, "adopted container %s%s",
                             o->name, o->paused ? " (paused)" : "");
        }
        o->adopt_cb(o->ud, rc, sb, rc != 0 ? (op->rc != 0 ? op->msg : err.msg) : NULL);
    }
    json_decref(o->labels);
    free(o->id);
    free(o->name);
    free(o);
}

static int one(dk_plugin_t *pl, const char *id, int reap, agentd_sandbox_create_cb acb,
               agentd_done_cb rcb, void *ud, agentd_err_t *err)
{
    if (!dk_valid_id(id))
        return agentd_err_set(err, AGENTD_EINVAL, "bad sandbox id");
    for (agentd_sandbox_t *sb = pl->sandboxes; sb != NULL; sb = sb->next)
        if (strcmp(sb->id, id) == 0)
            return agentd_err_set(err, AGENTD_EBUSY, "sandbox %s is live in this agentd", id);
    one_op_t *o = calloc(1, sizeof *o);
    if (o == NULL || (o->id = strdup(id)) == NULL ||
        asprintf(&o->name, DK_NAME_PREFIX "%s", id) < 0) {
        if (o != NULL)
            free(o->id);
        free(o);
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    }
    o->reap = reap;
    o->adopt_cb = acb;
    o->reap_cb = rcb;
    o->ud = ud;
    o->op = (dk_op_t){.pl = pl, .work = one_work, .done = one_done};
    dk_op_submit(&o->op);
    return 0;
}

int dk_adopt(dk_plugin_t *pl, const char *id, agentd_sandbox_create_cb cb, void *ud,
             agentd_err_t *err)
{
    if (cb == NULL)
        return agentd_err_set(err, AGENTD_EINVAL, "adopt needs a callback");
    return one(pl, id, 0, cb, NULL, ud, err);
}

static void ignore_done(void *ud, int status)
{
    (void)ud, (void)status;
}

int dk_reap(dk_plugin_t *pl, const char *id, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    return one(pl, id, 1, NULL, cb != NULL ? cb : ignore_done, ud, err);
}
