/* The plugin registry against the fixture plugins: each refusal leaves the
 * registry consistent (file, reason, fix; nothing left open), the good
 * plugin loads with its settings, and stop() deadlines hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "plugins/registry.h"

typedef struct world {
    host_ctx_t ctx;
    char dir[64];
    FILE *log;
} world_t;

/* A registry over a fresh directory holding the given fixtures. */
static void open_world(world_t *w, const char *load_json, const char *extra_json,
                       const char *const *fixtures)
{
    strcpy(w->dir, "/tmp/agentd-loader-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    for (size_t i = 0; fixtures[i] != NULL; i++) {
        char src[512], dst[512];
        snprintf(src, sizeof src, "%s/%s.so", AGENTD_TEST_FIXTURE_DIR, fixtures[i]);
        snprintf(dst, sizeof dst, "%s/%s.so", w->dir, fixtures[i]);
        assert_int_equal(symlink(src, dst), 0);
    }
    char text[2048];
    snprintf(text, sizeof text,
             "{\"data_dir\": \"%s/var\", \"sandboxes\": {}, \"plugins\": {\"dirs\": [\"%s\"], "
             "\"load\": %s%s%s}}",
             w->dir, w->dir, load_json, extra_json[0] ? ", " : "", extra_json);
    host_config_t *cfg = NULL;
    host_diags_t diags = {0};
    int rc = host_config_load_text(text, strlen(text), "test.json", &cfg, &diags);
    if (rc != 0)
        host_diags_print(&diags, stderr);
    host_diags_free(&diags);
    assert_int_equal(rc, 0);
    w->log = fopen("/dev/null", "w");
    assert_int_equal(host_ctx_init(&w->ctx, cfg, w->log), 0);
}

static void close_world(world_t *w)
{
    char cmd[128];
    host_ctx_close(&w->ctx);
    fclose(w->log);
    snprintf(cmd, sizeof cmd, "rm -rf %s", w->dir);
    assert_int_equal(system(cmd), 0);
}

static host_plugin_t *by_file(world_t *w, const char *name)
{
    for (size_t i = 0; i < w->ctx.registry->count; i++) {
        host_plugin_t *p = w->ctx.registry->items[i];
        const char *base = strrchr(p->file, '/');
        if (strcmp(base + 1, name) == 0)
            return p;
    }
    fail_msg("no plugin file %s", name);
    return NULL;
}

static void test_good_plugin_loads(void **state)
{
    (void)state;
    world_t w;
    open_world(&w, "[\"fixture-good\"]", "", (const char *[]){"good", NULL});
    assert_int_equal(host_registry_load(w.ctx.registry), 0);
    host_plugin_t *p = by_file(&w, "good.so");
    assert_int_equal(p->status, HOST_PLUGIN_LOADED);
    assert_string_equal(p->id, "fixture-good");
    assert_int_equal(p->kind, AGENTD_KIND_NOTIFY);
    assert_non_null(p->vt.notify.on_event);
    assert_non_null(p->self);
    assert_ptr_equal(host_registry_find(w.ctx.registry, "fixture-good"), p);
    close_world(&w);
}

typedef struct refusal {
    const char *fixture;
    const char *reason;
} refusal_t;

static void test_every_refusal(void **state)
{
    (void)state;
    static const refusal_t cases[] = {
        {"garbage", "not a loadable plugin"},
        {"undefined-symbol", "not a loadable plugin"},
        {"no-symbol", "exports no \"agentd_plugin\" symbol"},
        {"tiny-symbol", "descriptor too small: the symbol is 4 bytes"},
        {"bad-magic", "wrong magic 0x7f454c46"},
        {"abi-major-2", "built for plugin ABI 2.0"},
        {"abi-minor-newer", "newer than this agentd's 1.0"},
        {"struct-too-small", "declares 16 bytes"},
        {"no-init", "required callback missing: init"},
        {"no-on-event", "required callback missing: notify.on_event"},
        {"init-fails", "init failed: unavailable"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        world_t w;
        open_world(&w, "\"*\"", "\"fatal_on_refusal\": true",
                   (const char *[]){cases[i].fixture, NULL});
        assert_int_equal(host_registry_load(w.ctx.registry), AGENTD_ECONFIG);
        assert_int_equal(w.ctx.registry->count, 1);
        host_plugin_t *p = w.ctx.registry->items[0];
        assert_int_equal(p->status, HOST_PLUGIN_REFUSED);
        if (strstr(p->reason, cases[i].reason) == NULL)
            fail_msg("%s: reason \"%s\" lacks \"%s\"", cases[i].fixture, p->reason,
                     cases[i].reason);
        assert_non_null(p->fix);
        assert_true(strlen(p->fix) > 10);
        assert_null(p->dl); /* nothing half-loaded */
        assert_null(p->self);
        close_world(&w);
    }
}

static void test_not_fatal_when_configured(void **state)
{
    (void)state;
    world_t w;
    open_world(&w, "\"*\"", "\"fatal_on_refusal\": false",
               (const char *[]){"bad-magic", "good", NULL});
    assert_int_equal(host_registry_load(w.ctx.registry), 0);
    assert_int_equal(by_file(&w, "good.so")->status, HOST_PLUGIN_LOADED);
    assert_int_equal(by_file(&w, "bad-magic.so")->status, HOST_PLUGIN_REFUSED);
    close_world(&w);
}

static void test_duplicate_id(void **state)
{
    (void)state;
    world_t w;
    open_world(&w, "[\"fixture-dup\"]", "", (const char *[]){"dup-a", "dup-b", NULL});
    assert_int_equal(host_registry_load(w.ctx.registry), AGENTD_ECONFIG);
    assert_int_equal(by_file(&w, "dup-a.so")->status, HOST_PLUGIN_LOADED);
    host_plugin_t *b = by_file(&w, "dup-b.so");
    assert_int_equal(b->status, HOST_PLUGIN_REFUSED);
    assert_non_null(strstr(b->reason, "duplicate id \"fixture-dup\""));
    close_world(&w);
}

static void test_missing_requested_plugin_is_fatal(void **state)
{
    (void)state;
    world_t w;
    open_world(&w, "[\"no-such-plugin\"]", "", (const char *[]){"good", NULL});
    assert_int_equal(host_registry_load(w.ctx.registry), AGENTD_ECONFIG);
    assert_int_equal(by_file(&w, "good.so")->status, HOST_PLUGIN_AVAILABLE);
    close_world(&w);
}

static void on_stopped(void *ud)
{
    *(int *)ud = 1;
}

static void test_stop_deadline(void **state)
{
    (void)state;
    world_t w;
    open_world(&w, "[\"fixture-stop-hangs\", \"fixture-good\"]", "",
               (const char *[]){"stop-hangs", "good", NULL});
    assert_int_equal(host_registry_load(w.ctx.registry), 0);
    int stopped = 0;
    uint64_t t0 = uv_hrtime();
    host_registry_stop(w.ctx.registry, 50, on_stopped, &stopped);
    assert_int_equal(stopped, 0);
    while (!stopped && uv_run(&w.ctx.loop, UV_RUN_ONCE) != 0)
        ;
    assert_int_equal(stopped, 1);
    assert_true(uv_hrtime() - t0 >= 45 * 1000000ull);
    assert_int_equal(by_file(&w, "good.so")->stopped, 1);
    assert_int_equal(by_file(&w, "stop-hangs.so")->stopped, 0);
    close_world(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_plugin_loads),
        cmocka_unit_test(test_every_refusal),
        cmocka_unit_test(test_not_fatal_when_configured),
        cmocka_unit_test(test_duplicate_id),
        cmocka_unit_test(test_missing_requested_plugin_is_fatal),
        cmocka_unit_test(test_stop_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
