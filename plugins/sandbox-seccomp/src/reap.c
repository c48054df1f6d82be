/*
 * Finding and removing sandboxes by their state directories: list() after a
 * restart, reap() of an orphan, and the teardown that destroy and reap share
 * (kill, wait until the cgroup is empty, remove it and the directory).
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include "state.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEARDOWN_TICK_MS 5
#define TEARDOWN_TICKS 2000 /* 10 s */

typedef struct teardown {
    struct teardown *next;
    sbx_plugin_t *pl;
    sbx_cgroup_t *cg;
    char *dir;
    agentd_done_cb cb;
    void *ud;
    agentd_timer_t *timer;
    unsigned ticks;
} teardown_t;

static void teardown_unlink(teardown_t *t)
{
    for (teardown_t **p = &t->pl->teardowns; *p != NULL; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            return;
        }
}

static void teardown_end(teardown_t *t, int status)
{
    teardown_unlink(t);
    t->pl->api->timer_close(t->timer);
    sbx_cgroup_free(t->cg);
    free(t->dir);
    agentd_done_cb cb = t->cb;
    void *cb_ud = t->ud;
    free(t);
    if (cb != NULL)
        cb(cb_ud, status);
}

void sbx_teardown_cancel_all(sbx_plugin_t *pl)
{
    while (pl->teardowns != NULL)
        teardown_end(pl->teardowns, AGENTD_ECANCELED);
}

static void teardown_tick(void *ud)
{
    teardown_t *t = ud;
    int empty = t->cg == NULL || sbx_cgroup_empty(t->cg);
    if (!empty && ++t->ticks % 20 == 0)
        sbx_cgroup_kill(t->cg); /* a helper that joined after the first kill */
    if (!empty && t->ticks < TEARDOWN_TICKS)
        return;
    int status = 0;
    if (empty && t->cg != NULL)
        status = sbx_cgroup_remove(t->cg) == 0 ? 0 : AGENTD_EBUSY;
    if (!empty) {
        status = AGENTD_ETIMEDOUT;
        t->pl->api->log(t->pl->host, AGENTD_LOG_ERROR,
                        "sandbox teardown: processes survive SIGKILL in %s",
                        t->cg->dirs[0]);
    }
    if (status == 0 && t->dir != NULL)
        sbx_state_remove(t->dir);
    teardown_end(t, status);
}

int sbx_teardown(sbx_plugin_t *pl, sbx_cgroup_t *cg, char *dir, agentd_done_cb cb, void *ud)
{
    teardown_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        sbx_cgroup_free(cg);
        free(dir);
        return AGENTD_ENOMEM;
    }
    *t = (teardown_t){NULL, pl, cg, dir, cb, ud, NULL, 0};
    if (cg != NULL)
        sbx_cgroup_kill(cg);
    int rc = pl->api->timer_start(pl->host, 0, TEARDOWN_TICK_MS, teardown_tick, t, &t->timer);
    if (rc < 0) {
        /* No timer (the host is going away): wait here, briefly. */
        for (int i = 0; i < 200 && cg != NULL && !sbx_cgroup_empty(cg); i++)
            usleep(TEARDOWN_TICK_MS * 1000);
        if (cg == NULL || sbx_cgroup_remove(cg) == 0)
            sbx_state_remove(dir);
        sbx_cgroup_free(cg);
        free(dir);
        free(t);
        return rc;
    }
    t->next = pl->teardowns;
    pl->teardowns = t;
    return 0;
}

/* list(): what the directories say, reported from the loop. */
typedef struct listing {
    sbx_plugin_t *pl;
    agentd_sandbox_list_cb cb;
    void *ud;
    sbx_meta_t *items;
    const char **states;
    size_t count;
} listing_t;

static const char *state_of(sbx_plugin_t *pl, const char *id)
{
    char name[96];
    snprintf(name, sizeof name, "agentd-sbx-%s", id);
    sbx_cgroup_t *cg = NULL;
    if (sbx_cgroup_open(pl->cgroup_parent, name, &cg, NULL) < 0)
        return "exited";
    const char *s = sbx_cgroup_frozen(cg) ? "paused" : sbx_cgroup_empty(cg) ? "exited"
                                                                            : "running";
    sbx_cgroup_free(cg);
    return s;
}

static void report_listing(void *ud)
{
    listing_t *l = ud;
    for (size_t i = 0; i < l->count; i++) {
        agentd_sandbox_info_t info = {sizeof info, l->items[i].id,
                                      l->items[i].has_session ? l->items[i].session_id : NULL,
                                      l->states[i], l->items[i].created_ms};
        l->cb(l->ud, &info, 0);
    }
    l->cb(l->ud, NULL, 0);
    free(l->items);
    free(l->states);
    free(l);
}

static int scan(listing_t *l)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sandboxes", l->pl->state_dir);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0; /* nothing created yet */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        sbx_meta_t m;
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", path, e->d_name);
        if (e->d_name[0] == '.' || sbx_state_read(dir, &m) < 0)
            continue;
        sbx_meta_t *items = realloc(l->items, (l->count + 1) * sizeof *items);
        const char **states = realloc(l->states, (l->count + 1) * sizeof *states);
        if (items != NULL)
            l->items = items;
        if (states != NULL)
            l->states = states;
        if (items == NULL || states == NULL) {
            closedir(d);
            return AGENTD_ENOMEM;
        }
        l->items[l->count] = m;
        l->states[l->count++] = state_of(l->pl, m.id);
    }
    closedir(d);
    return 0;
}

int sbx_list(sbx_plugin_t *pl, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err)
{
    listing_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return agentd_err_set(err, AGENTD_ENOMEM, "out of memory");
    *l = (listing_t){pl, cb, ud, NULL, NULL, 0};
    int rc = scan(l);
    if (rc == 0)
        rc = sbx_defer(pl, report_listing, l);
    if (rc < 0) {
        free(l->items);
        free(l->states);
        free(l);
        return agentd_err_set(err, rc, "list: %s", agentd_strerror(rc));
    }
    return 0;
}

int sbx_reap(sbx_plugin_t *pl, const char *id, agentd_done_cb cb, void *ud, agentd_err_t *err)
{
    for (agentd_sandbox_t *sb = pl->sandboxes; sb != NULL; sb = sb->next)
        if (strcmp(sb->id, id) == 0)
            return agentd_err_set(err, AGENTD_EBUSY,
                                  "sandbox %s is live in this daemon: destroy it", id);
    char *dir = NULL;
    if (strchr(id, '/') != NULL || id[0] == '.' ||
        asprintf(&dir, "%s/sandboxes/%s", pl->state_dir, id) < 0)
        return agentd_err_set(err, AGENTD_EINVAL, "bad sandbox id %s", id);
    char name[96];
    snprintf(name, sizeof name, "agentd-sbx-%s", id);
    sbx_cgroup_t *cg = NULL;
    sbx_meta_t m;
    int found_dir = sbx_state_read(dir, &m) == 0;
    if (sbx_cgroup_open(pl->cgroup_parent, name, &cg, NULL) < 0 && !found_dir) {
        free(dir);
        return agentd_err_set(err, AGENTD_ENOENT, "no sandbox %s", id);
    }
    int rc = sbx_teardown(pl, cg, dir, cb, ud);
    return rc < 0 ? agentd_err_set(err, rc, "reap: %s", agentd_strerror(rc)) : 0;
}
