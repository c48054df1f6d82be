#include "plugins/registry.h"

#include <dirent.h>
#include <errno.h>
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/context.h"

#define COMPONENT "plugins"

host_registry_t *host_registry_new(struct host_ctx *ctx)
{
    host_registry_t *reg = calloc(1, sizeof *reg);
    if (reg != NULL)
        reg->ctx = ctx;
    return reg;
}

static void plugin_free(host_plugin_t *p)
{
    if (p->status == HOST_PLUGIN_LOADED && p->desc.fini != NULL)
        p->desc.fini(p->self);
    if (p->dl != NULL)
        dlclose(p->dl);
    free(p->host.state_dir);
    free(p->file);
    free(p->id);
    free(p->version);
    free(p->description);
    free(p->limitations);
    free(p->reason);
    free(p->fix);
    free(p);
}

void host_registry_free(host_registry_t *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = reg->count; i-- > 0;) /* reverse load order */
        plugin_free(reg->items[i]);
    for (size_t i = 0; i < reg->dir_count; i++)
        free(reg->dirs[i]);
    free(reg->dirs);
    free(reg->items);
    free(reg);
}

host_plugin_t *host_registry_find(host_registry_t *reg, const char *id)
{
    for (size_t i = 0; i < reg->count; i++) {
        host_plugin_t *p = reg->items[i];
        if (p->status != HOST_PLUGIN_REFUSED && p->id != NULL && strcmp(p->id, id) == 0)
            return p;
    }
    return NULL;
}

size_t host_registry_dirs(host_registry_t *reg, const char *const **dirs)
{
    *dirs = (const char *const *)reg->dirs;
    return reg->dir_count;
}

static int push_plugin(host_registry_t *reg, host_plugin_t *p)
{
    if (reg->count == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 8;
        host_plugin_t **items = realloc(reg->items, cap * sizeof *items);
        if (items == NULL)
            return AGENTD_ENOMEM;
        reg->items = items;
        reg->cap = cap;
    }
    reg->items[reg->count++] = p;
    return 0;
}

static int push_dir(host_registry_t *reg, const char *dir)
{
    char **dirs = realloc(reg->dirs, (reg->dir_count + 1) * sizeof *dirs);
    if (dirs == NULL)
        return AGENTD_ENOMEM;
    reg->dirs = dirs;
    if ((dirs[reg->dir_count] = strdup(dir)) == NULL)
        return AGENTD_ENOMEM;
    reg->dir_count++;
    return 0;
}

static int set_dirs(host_registry_t *reg)
{
    const host_config_t *cfg = reg->ctx->config;
    for (size_t i = 0; i < cfg->plugin_dir_count; i++)
        if (push_dir(reg, cfg->plugin_dirs[i]) != 0)
            return AGENTD_ENOMEM;
    if (cfg->plugin_dir_count > 0 || reg->ctx->exe_dir == NULL)
        return 0;
    /* Default: beside the executable, which is right in the build tree and
     * in the install tree alike (bin/agentd, <libdir>/agentd/plugins). */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s/../%s", reg->ctx->exe_dir, AGENTD_PLUGIN_SUBDIR);
    char *real = realpath(buf, NULL);
    int rc = push_dir(reg, real != NULL ? real : buf);
    free(real);
    return rc;
}

static int has_so_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens one file and checks its descriptor; leaves it open only if valid. */
static void inspect(host_plugin_t *p)
{
    dlerror();
    p->dl = dlopen(p->file, RTLD_NOW | RTLD_LOCAL);
    if (p->dl == NULL) {
        const char *e = dlerror();
        host_plugin_refuse(p, AGENTD_EINVAL,
                           "check that it is a shared object built for this machine and that "
                           "the libraries it needs are installed (ldd FILE)",
                           "not a loadable plugin: %s", e != NULL ? e : "dlopen failed");
        return;
    }
    void *sym = dlsym(p->dl, AGENTD_PLUGIN_SYMBOL);
    if (sym == NULL) {
        host_plugin_refuse(p, AGENTD_EINVAL,
                           "export a const agentd_plugin_t named agentd_plugin with "
                           "AGENTD_EXPORT (docs/plugins.md)",
                           "not an agentd plugin: it exports no \"%s\" symbol",
                           AGENTD_PLUGIN_SYMBOL);
    } else {
        /* The symbol's size tells how many bytes can be read safely. */
        Dl_info info;
        const ElfW(Sym) *esym = NULL;
        size_t size = 0;
        if (dladdr1(sym, &info, (void **)&esym, RTLD_DL_SYMENT) != 0 && esym != NULL)
            size = esym->st_size;
        host_plugin_check_descriptor(sym, size, p);
    }
    if (p->status == HOST_PLUGIN_REFUSED) {
        dlclose(p->dl);
        p->dl = NULL;
    }
}

static void scan_dir(host_registry_t *reg, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        host_log(&reg->ctx->log, AGENTD_LOG_WARN, COMPONENT,
                 "plugin directory %s: cannot be read (%s); no plugins from it", dir,
                 strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_so_suffix(e->d_name))
            continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (grown == NULL || (grown[n] = strdup(e->d_name)) == NULL) {
            names = grown != NULL ? grown : names;
            break;
        }
        names = grown;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        host_plugin_t *p = calloc(1, sizeof *p);
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        if (p != NULL && (p->file = malloc(len)) != NULL) {
            snprintf(p->file, len, "%s/%s", dir, names[i]);
            inspect(p);
            if (push_plugin(reg, p) == 0)
                p = NULL;
        }
        if (p != NULL)
            plugin_free(p);
        free(names[i]);
    }
    free(names);
}

static int is_requested(const host_config_t *cfg, const char *id)
{
    if (cfg->plugin_load_all)
        return 1;
    for (size_t i = 0; i < cfg->plugin_load_count; i++)
        if (strcmp(cfg->plugin_load[i], id) == 0)
            return 1;
    return 0;
}

static void refuse_duplicates(host_registry_t *reg)
{
    for (size_t i = 0; i < reg->count; i++) {
        host_plugin_t *p = reg->items[i];
        if (p->status == HOST_PLUGIN_REFUSED)
            continue;
        for (size_t j = 0; j < i; j++) {
            host_plugin_t *q = reg->items[j];
            if (q->status == HOST_PLUGIN_REFUSED || strcmp(p->id, q->id) != 0)
                continue;
            host_plugin_refuse(p, AGENTD_EEXIST,
                               "remove one of the two files from the plugin directories",
                               "duplicate id \"%s\": already provided by %s", p->id, q->file);
            dlclose(p->dl);
            p->dl = NULL;
            break;
        }
    }
}

/* Plugin settings validated against its fields, then init. */
static void load_one(host_registry_t *reg, host_plugin_t *p)
{
    host_diags_t diags = {0};
    char *settings = NULL;
    if (host_config_plugin_settings(reg->ctx->config, p->id, p->desc.config_fields,
                                    p->desc.config_field_count, &settings, &diags) != 0) {
        char first[768] = "invalid settings";
        if (diags.count > 0)
            snprintf(first, sizeof first, "%s%s%s", diags.items[0].path,
                     diags.items[0].path[0] ? ": " : "", diags.items[0].message);
        host_plugin_refuse(p, AGENTD_ECONFIG,
                           "fix plugins.settings in the config file; `agentd plugins "
                           "--verbose` lists the plugin's fields",
                           "bad config for this plugin: %s%s", first,
                           diags.count > 1 ? " (and more; see `agentd config check`)" : "");
        host_diags_free(&diags);
        dlclose(p->dl);
        p->dl = NULL;
        return;
    }
    p->host.ctx = reg->ctx;
    p->host.plugin = p;
    agentd_err_t err = {{0}};
    void *self = NULL;
    int rc = p->desc.init(host_api_table(), &p->host, settings, strlen(settings), &self, &err);
    free(settings);
    if (rc != 0) {
        host_plugin_refuse(p, rc < 0 ? rc : AGENTD_EIO,
                           "see the plugin's message; check its settings and what it needs "
                           "on this machine",
                           "init failed: %s%s%s", agentd_strerror(rc < 0 ? rc : AGENTD_EIO),
                           err.msg[0] ? ": " : "", err.msg);
        dlclose(p->dl);
        p->dl = NULL;
        return;
    }
    p->self = self;
    p->status = HOST_PLUGIN_LOADED;
    host_log(&reg->ctx->log, AGENTD_LOG_INFO, COMPONENT, "loaded %s %s (%s) from %s", p->id,
             p->version, host_plugin_kind_name(p->kind), p->file);
}

static int report_missing(host_registry_t *reg)
{
    const host_config_t *cfg = reg->ctx->config;
    int missing = 0;
    for (size_t i = 0; i < cfg->plugin_load_count; i++) {
        const char *id = cfg->plugin_load[i];
        int seen = 0;
        for (size_t j = 0; j < reg->count; j++)
            if (reg->items[j]->id != NULL && strcmp(reg->items[j]->id, id) == 0)
                seen = 1;
        if (seen)
            continue;
        missing = 1;
        host_log(&reg->ctx->log, AGENTD_LOG_ERROR, COMPONENT,
                 "plugin \"%s\" (plugins.load) was not found in %s%s (fix: install it, or "
                 "add its directory to plugins.dirs)",
                 id, reg->dir_count > 0 ? reg->dirs[0] : "(no directory)",
                 reg->dir_count > 1 ? " or the other plugins.dirs" : "");
    }
    return missing;
}

int host_registry_scan(host_registry_t *reg)
{
    if (reg->dir_count == 0 && set_dirs(reg) != 0)
        return AGENTD_ENOMEM;
    for (size_t i = 0; i < reg->dir_count; i++)
        scan_dir(reg, reg->dirs[i]);
    refuse_duplicates(reg);
    return 0;
}

int host_registry_load(host_registry_t *reg)
{
    if (host_registry_scan(reg) != 0)
        return AGENTD_ENOMEM;
    const host_config_t *cfg = reg->ctx->config;
    int fatal = 0;
    for (size_t i = 0; i < reg->count; i++) {
        host_plugin_t *p = reg->items[i];
        int wanted = p->id != NULL && is_requested(cfg, p->id);
        /* An available plugin stays open (not initialised) so that its
         * declared fields can be listed. */
        if (p->status != HOST_PLUGIN_REFUSED && wanted)
            load_one(reg, p);
        if (p->status == HOST_PLUGIN_REFUSED) {
            host_log(&reg->ctx->log, wanted ? AGENTD_LOG_ERROR : AGENTD_LOG_WARN, COMPONENT,
                     "%s: refused: %s (fix: %s)", p->file, p->reason, p->fix);
            /* With load "*" every refusal counts: the refused file may be
             * one the operator meant to load. */
            if (wanted || cfg->plugin_load_all)
                fatal = 1;
        }
    }
    if (report_missing(reg))
        fatal = 1;
    return fatal && cfg->fatal_on_refusal ? AGENTD_ECONFIG : 0;
}

int host_registry_is_requested(const host_registry_t *reg, const char *id)
{
    return id != NULL && is_requested(reg->ctx->config, id);
}

/* ---- graceful stop ------------------------------------------------------ */

struct host_registry_stop {
    host_registry_t *reg;
    size_t pending;
    uv_timer_t timer;
    void (*done)(void *ud);
    void *ud;
};

static void stop_free(uv_handle_t *h)
{
    free(h->data);
}

static void stop_finish(struct host_registry_stop *st)
{
    st->reg->stop = NULL; /* late done callbacks find nothing to count */
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, stop_free);
    st->done(st->ud);
}

static void on_plugin_stopped(void *ud, int status)
{
    host_plugin_t *p = ud;
    host_registry_t *reg = p->host.ctx->registry;
    if (p->stopped)
        return; /* a second done from a plugin breaking the contract */
    p->stopped = 1;
    if (status != 0)
        host_log(&reg->ctx->log, AGENTD_LOG_WARN, COMPONENT, "%s stopped with an error: %s",
                 p->id, agentd_strerror(status));
    if (reg->stop != NULL && --reg->stop->pending == 0)
        stop_finish(reg->stop);
}

static void on_stop_timeout(uv_timer_t *t)
{
    struct host_registry_stop *st = t->data;
    for (size_t i = 0; i < st->reg->count; i++) {
        host_plugin_t *p = st->reg->items[i];
        if (p->status == HOST_PLUGIN_LOADED && !p->stopped)
            host_log(&st->reg->ctx->log, AGENTD_LOG_WARN, COMPONENT,
                     "%s did not finish stopping within the deadline; unloading it anyway",
                     p->id);
    }
    stop_finish(st);
}

void host_registry_stop(host_registry_t *reg, unsigned timeout_ms,
                        void (*done)(void *ud), void *ud)
{
    struct host_registry_stop *st = calloc(1, sizeof *st);
    if (st == NULL || reg->stop != NULL) {
        free(st);
        done(ud); /* nothing to wait for that we could track */
        return;
    }
    st->reg = reg;
    st->done = done;
    st->ud = ud;
    st->pending = 1; /* held until every stop() has been called */
    uv_timer_init(&reg->ctx->loop, &st->timer);
    st->timer.data = st;
    reg->stop = st;
    for (size_t i = reg->count; i-- > 0;) {
        host_plugin_t *p = reg->items[i];
        if (p->status != HOST_PLUGIN_LOADED || p->stopped)
            continue;
        if (p->desc.stop == NULL) {
            p->stopped = 1;
            continue;
        }
        st->pending++;
        p->desc.stop(p->self, on_plugin_stopped, p);
        if (reg->stop == NULL)
            return; /* cannot happen while pending holds one; defensive */
    }
    if (--st->pending == 0) {
        stop_finish(st);
        return;
    }
    uv_timer_start(&st->timer, on_stop_timeout, timeout_ms, 0);
}
