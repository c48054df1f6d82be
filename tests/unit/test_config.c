/* The host configuration (host/config/): embedded defaults, the example
 * etc/agentd.json, every host key's type and range checks with their file
 * positions and key paths, unknown keys with suggestions, duplicate keys,
 * parse errors, and input that must never crash (empty, truncated, NUL
 * bytes, huge numbers, deep nesting, invalid UTF-8, missing, directory,
 * unreadable, too big). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"

#ifndef AGENTD_TEST_SOURCE_DIR
#define AGENTD_TEST_SOURCE_DIR "."
#endif

/* ---- helpers ---- */

static int load(const char *text, host_config_t **cfg, host_diags_t *d)
{
    return host_config_load_text(text, strlen(text), "test.json", cfg, d);
}

static void dump(const host_diags_t *d)
{
    host_diags_print(d, stderr);
}

/* The diagnostic at `path` (exactly), or NULL. */
static const host_diag_t *diag_at(const host_diags_t *d, const char *path)
{
    for (size_t i = 0; i < d->count; i++)
        if (strcmp(d->items[i].path, path) == 0)
            return &d->items[i];
    return NULL;
}

/* Asserts a diagnostic at path, line:col, whose message contains `text`. */
static void expect_diag(const host_diags_t *d, const char *path, int line, int col,
                        const char *text)
{
    const host_diag_t *it = diag_at(d, path);
    if (it == NULL) {
        dump(d);
        fail_msg("no diagnostic at path \"%s\"", path);
    }
    if (it->line != line || it->column != col || strstr(it->message, text) == NULL) {
        dump(d);
        fail_msg("diagnostic at %s: got %d:%d \"%s\", want %d:%d containing \"%s\"", path,
                 it->line, it->column, it->message, line, col, text);
    }
    assert_string_equal(it->file, "test.json");
}

/* Loads text that must fail, returning the diagnostics (caller frees). */
static host_diags_t load_bad(const char *text)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = load(text, &cfg, &d);
    if (rc != AGENTD_ECONFIG)
        dump(&d);
    assert_int_equal(rc, AGENTD_ECONFIG);
    assert_null(cfg);
    assert_true(d.count > 0);
    return d;
}

static host_config_t *load_ok(const char *text)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = load(text, &cfg, &d);
    if (rc != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.count, 0);
    assert_non_null(cfg);
    host_diags_free(&d);
    return cfg;
}

static void assert_is_defaults(const host_config_t *c)
{
    assert_string_equal(c->data_dir, "./var");
    assert_string_equal(c->listen_address, "127.0.0.1");
    assert_int_equal(c->listen_port, 7878);
    assert_int_equal(c->log_level, AGENTD_LOG_INFO);
    assert_int_equal(c->log_format, HOST_LOG_FORMAT_AUTO);
    assert_int_equal(c->plugin_dir_count, 0);
    assert_int_equal(c->plugin_load_all, 0);
    assert_int_equal(c->plugin_load_count, 1);
    assert_string_equal(c->plugin_load[0], "sandbox-seccomp");
    assert_int_equal(c->fatal_on_refusal, 1);
    assert_int_equal(c->profile_count, 1);
    assert_string_equal(c->profile_names[0], "local");
    assert_string_equal(c->profile_plugins[0], "sandbox-seccomp");
    assert_string_equal(c->default_sandbox, "local");
    assert_int_equal(c->limits.shutdown_timeout_ms, 10000);
    assert_int_equal(c->limits.plugin_stop_timeout_ms, 5000);
    assert_int_equal(c->limits.max_sessions, 64);
    assert_int_equal(c->limits.session_timeout_minutes, 60);
    assert_int_equal(c->limits.max_message_bytes, 1048576);
    assert_int_equal(c->limits.max_pending_requests, 32);
    assert_int_equal(c->limits.max_config_bytes, 4194304);
}

static char *write_temp(const char *content, size_t len)
{
    char *path = strdup("/tmp/agentd-config-test-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- defaults and the example ---- */

static void test_defaults_without_file(void **state)
{
    (void)state;
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_load(NULL, &cfg, &d), 0);
    assert_int_equal(d.count, 0);
    assert_string_equal(cfg->source, "<defaults>");
    assert_is_defaults(cfg);
    host_config_free(cfg);
}

static void test_empty_object_is_defaults(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok("{}");
    assert_is_defaults(cfg);
    assert_string_equal(cfg->source, "test.json");
    host_config_free(cfg);
}

static void test_default_text_is_pretty_json_of_the_defaults(void **state)
{
    (void)state;
    const char *text = host_config_default_text();
    assert_non_null(text);
    assert_non_null(strchr(text, '\n')); /* pretty, not one line */
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "data_dir")), "./var");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "listen"), "port")),
                     7878);
    assert_string_equal(json_string_value(json_object_get(j, "default_sandbox")), "local");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "limits"),
                                                        "max_config_bytes")),
                     4194304);
    json_decref(j);
    host_config_t *cfg = load_ok(text);
    assert_is_defaults(cfg);
    host_config_free(cfg);
}

static void test_example_config_loads_cleanly(void **state)
{
    (void)state;
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = host_config_load(AGENTD_TEST_SOURCE_DIR "/etc/agentd.json", &cfg, &d);
    if (rc != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.count, 0);
    assert_is_defaults(cfg);
    assert_string_equal(cfg->source, AGENTD_TEST_SOURCE_DIR "/etc/agentd.json");
    host_config_free(cfg);
}

/* ---- valid non-default values ---- */

static void test_every_host_key_is_read(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok(
        "{\n"
        "  \"data_dir\": \"/srv/agentd\",\n"
        "  \"listen\": {\"address\": \"::1\", \"port\": 65535},\n"
        "  \"log\": {\"level\": \"debug\", \"format\": \"json\"},\n"
        "  \"plugins\": {\"dirs\": [\"/a\", \"/b\"], \"load\": [\"sandbox-docker\", \"vcs-github\"],\n"
        "              \"fatal_on_refusal\": false, \"settings\": {\"vcs-github\": {\"x\": 1}}},\n"
        "  \"sandboxes\": {\"docker\": {\"plugin\": \"sandbox-docker\", \"image\": \"i\"},\n"
        "                \"big\": {\"plugin\": \"sandbox-docker\"}},\n"
        "  \"default_sandbox\": \"big\",\n"
        "  \"limits\": {\"shutdown_timeout_ms\": 100, \"plugin_stop_timeout_ms\": 600000,\n"
        "             \"max_sessions\": 10000, \"session_timeout_minutes\": 240,\n"
        "             \"max_message_bytes\": 1024, \"max_config_bytes\": 67108864}\n"
        "}\n");
    assert_string_equal(cfg->data_dir, "/srv/agentd");
    assert_string_equal(cfg->listen_address, "::1");
    assert_int_equal(cfg->listen_port, 65535);
    assert_int_equal(cfg->log_level, AGENTD_LOG_DEBUG);
    assert_int_equal(cfg->log_format, HOST_LOG_FORMAT_JSON);
    assert_int_equal(cfg->plugin_dir_count, 2);
    assert_string_equal(cfg->plugin_dirs[0], "/a");
    assert_string_equal(cfg->plugin_dirs[1], "/b");
    assert_int_equal(cfg->plugin_load_count, 2);
    assert_string_equal(cfg->plugin_load[0], "sandbox-docker");
    assert_string_equal(cfg->plugin_load[1], "vcs-github");
    assert_int_equal(cfg->plugin_load_all, 0);
    assert_int_equal(cfg->fatal_on_refusal, 0);
    assert_int_equal(cfg->profile_count, 2);
    assert_string_equal(cfg->profile_names[0], "docker"); /* file order */
    assert_string_equal(cfg->profile_names[1], "big");
    assert_string_equal(cfg->profile_plugins[1], "sandbox-docker");
    assert_string_equal(cfg->default_sandbox, "big");
    assert_int_equal(cfg->limits.shutdown_timeout_ms, 100);
    /* Longer than the shutdown deadline is allowed: the deadline wins. */
    assert_int_equal(cfg->limits.plugin_stop_timeout_ms, 600000);
    assert_int_equal(cfg->limits.max_sessions, 10000);
    assert_int_equal(cfg->limits.session_timeout_minutes, 240);
    assert_int_equal(cfg->limits.max_message_bytes, 1024);
    assert_int_equal(cfg->limits.max_config_bytes, 67108864);
    host_config_free(cfg);
}

static void test_log_levels_and_formats(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        agentd_log_level_t level;
    } levels[] = {{"error", AGENTD_LOG_ERROR},
                  {"warn", AGENTD_LOG_WARN},
                  {"info", AGENTD_LOG_INFO},
                  {"debug", AGENTD_LOG_DEBUG}};
    static const struct {
        const char *name;
        host_log_format_t format;
    } formats[] = {{"auto", HOST_LOG_FORMAT_AUTO},
                   {"text", HOST_LOG_FORMAT_TEXT},
                   {"json", HOST_LOG_FORMAT_JSON}};
    char text[128];
    for (size_t i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "{\"log\": {\"level\": \"%s\", \"format\": \"%s\"}}",
                 levels[i].name, formats[i % 3].name);
        host_config_t *cfg = load_ok(text);
        assert_int_equal(cfg->log_level, levels[i].level);
        assert_int_equal(cfg->log_format, formats[i % 3].format);
        host_config_free(cfg);
    }
}

static void test_load_star_and_empty(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok("{\"plugins\": {\"load\": \"*\"}}");
    assert_int_equal(cfg->plugin_load_all, 1);
    assert_int_equal(cfg->plugin_load_count, 0);
    host_config_free(cfg);

    /* Nothing loaded and no profiles: valid. */
    cfg = load_ok("{\"plugins\": {\"load\": []}, \"sandboxes\": {}}");
    assert_int_equal(cfg->plugin_load_all, 0);
    assert_int_equal(cfg->plugin_load_count, 0);
    assert_int_equal(cfg->profile_count, 0);
    assert_null(cfg->default_sandbox);
    host_config_free(cfg);
}

static void test_default_sandbox_when_not_written(void **state)
{
    (void)state;
    /* The only profile. */
    host_config_t *cfg = load_ok(
        "{\"plugins\": {\"load\": \"*\"}, \"sandboxes\": {\"d\": {\"plugin\": \"sandbox-docker\"}}}");
    assert_string_equal(cfg->default_sandbox, "d");
    host_config_free(cfg);
    /* "local" among several. */
    cfg = load_ok("{\"plugins\": {\"load\": \"*\"}, \"sandboxes\": {\"d\": {\"plugin\": "
                  "\"sandbox-docker\"}, \"local\": {\"plugin\": \"sandbox-seccomp\"}}}");
    assert_string_equal(cfg->default_sandbox, "local");
    host_config_free(cfg);
    /* Several, none "local": the operator must choose. */
    host_diags_t d = load_bad(
        "{\"plugins\": {\"load\": \"*\"},\n \"sandboxes\": {\"a\": {\"plugin\": \"x\"}, \"b\": "
        "{\"plugin\": \"x\"}}}");
    expect_diag(&d, "default_sandbox", 0, 0, "several sandbox profiles");
    host_diags_free(&d);
}

/* ---- type and range errors, with positions ---- */

static void test_type_errors_have_position_and_path(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\n"
                              "  \"data_dir\": 5,\n"
                              "  \"listen\": {\"address\": [], \"port\": \"7878\"},\n"
                              "  \"log\": {\"level\": 1, \"format\": null},\n"
                              "  \"plugins\": {\"dirs\": [\"/ok\", 3], \"load\": {},\n"
                              "    \"fatal_on_refusal\": \"yes\", \"settings\": []},\n"
                              "  \"sandboxes\": [],\n"
                              "  \"default_sandbox\": false,\n"
                              "  \"limits\": {\"max_sessions\": \"64\", \"max_message_bytes\": 1.5}\n"
                              "}\n");
    expect_diag(&d, "data_dir", 2, 3, "must be a string, not an integer");
    expect_diag(&d, "listen.address", 3, 14, "must be a string, not a list");
    expect_diag(&d, "listen.port", 3, 29, "must be an integer, not a string");
    expect_diag(&d, "log.level", 4, 11, "must be a string");
    expect_diag(&d, "log.format", 4, 23, "not null");
    expect_diag(&d, "plugins.dirs[1]", 5, 31, "must be a string");
    expect_diag(&d, "plugins.load", 5, 35, "list of plugin ids");
    expect_diag(&d, "plugins.fatal_on_refusal", 6, 5, "true or false");
    expect_diag(&d, "plugins.settings", 6, 32, "must be an object");
    expect_diag(&d, "sandboxes", 7, 3, "must be an object");
    expect_diag(&d, "default_sandbox", 8, 3, "must be a string, not a boolean");
    expect_diag(&d, "limits.max_sessions", 9, 14, "must be an integer, not a string");
    expect_diag(&d, "limits.max_message_bytes", 9, 36, "must be an integer, not a number");
    assert_int_equal(d.count, 13);
    host_diags_free(&d);

    d = load_bad("{\"listen\": 7878, \"log\": \"debug\", \"plugins\": true, \"limits\": 1}");
    expect_diag(&d, "listen", 1, 2, "must be an object");
    expect_diag(&d, "log", 1, 18, "must be an object");
    expect_diag(&d, "plugins", 1, 34, "must be an object");
    expect_diag(&d, "limits", 1, 51, "must be an object");
    host_diags_free(&d);
}

static void test_diagnostics_come_in_file_order(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"limits\": {\"max_sessions\": 0},\n"
                              " \"zzz\": 1,\n"
                              " \"listen\": {\"port\": 0}}");
    assert_int_equal(d.count, 3);
    assert_int_equal(d.items[0].line, 1);
    assert_int_equal(d.items[1].line, 2);
    assert_int_equal(d.items[2].line, 3);
    host_diags_free(&d);
}

static void test_limits_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        long long min, max;
    } keys[] = {
        {"shutdown_timeout_ms", 100, 600000},   {"plugin_stop_timeout_ms", 100, 600000},
        {"max_sessions", 1, 10000},             {"session_timeout_minutes", 1, 240},
        {"max_message_bytes", 1024, 67108864},  {"max_config_bytes", 1024, 67108864},
        {"max_pending_requests", 1, 1024},
    };
    char text[256], path[64], range[64];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        long long bad[] = {keys[i].min - 1, keys[i].max + 1, -1};
        snprintf(path, sizeof path, "limits.%s", keys[i].key);
        snprintf(range, sizeof range, "allowed %lld..%lld", keys[i].min, keys[i].max);
        for (size_t k = 0; k < 3; k++) {
            snprintf(text, sizeof text, "{\n  \"limits\": {\n    \"%s\": %lld\n  }\n}",
                     keys[i].key, bad[k]);
            host_diags_t d = load_bad(text);
            expect_diag(&d, path, 3, 5, range);
            char num[32];
            snprintf(num, sizeof num, "%lld is out of range", bad[k]);
            assert_non_null(strstr(d.items[0].message, num));
            assert_int_equal(d.count, 1);
            host_diags_free(&d);
        }
        /* Both ends are allowed (max_config_bytes: the text itself is
         * smaller than 1024 bytes either way). */
        long long good[] = {keys[i].min, keys[i].max};
        for (size_t k = 0; k < 2; k++) {
            snprintf(text, sizeof text, "{\"limits\": {\"%s\": %lld}}", keys[i].key, good[k]);
            host_config_t *cfg = load_ok(text);
            host_config_free(cfg);
        }
    }
}

static void test_wal_max_mb(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok("{}");
    assert_int_equal(cfg->events.wal_max_mb, 64);
    host_config_free(cfg);
    cfg = load_ok("{\"events\": {\"wal_max_mb\": 4}}");
    assert_int_equal(cfg->events.wal_max_mb, 4);
    host_config_free(cfg);
    host_diags_t d = load_bad("{\"events\": {\"wal_max_mb\": 3}}");
    expect_diag(&d, "events.wal_max_mb", 1, 13, "3 is out of range: allowed 4..65536");
    host_diags_free(&d);
    d = load_bad("{\"events\": {\"wal_max_mb\": 65537}}");
    expect_diag(&d, "events.wal_max_mb", 1, 13, "allowed 4..65536");
    host_diags_free(&d);
}

static void test_port_bounds(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"listen\": {\"port\": 0}}");
    expect_diag(&d, "listen.port", 1, 13, "allowed 1..65535");
    host_diags_free(&d);
    d = load_bad("{\"listen\": {\"port\": 65536}}");
    expect_diag(&d, "listen.port", 1, 13, "65536 is out of range: allowed 1..65535");
    host_diags_free(&d);
    host_config_t *cfg = load_ok("{\"listen\": {\"port\": 1}}");
    assert_int_equal(cfg->listen_port, 1);
    host_config_free(cfg);
}

static void test_empty_strings_are_refused(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"data_dir\": \"\", \"listen\": {\"address\": \"\"}, "
                              "\"plugins\": {\"dirs\": [\"\"], \"load\": [\"\"]}}");
    expect_diag(&d, "data_dir", 1, 2, "must not be empty");
    expect_diag(&d, "listen.address", 1, 29, "must not be empty");
    expect_diag(&d, "plugins.dirs[0]", 1, 66, "must not be empty");
    expect_diag(&d, "plugins.load[0]", 1, 80, "must not be empty");
    host_diags_free(&d);
}

static void test_enum_values(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"log\": {\"level\": \"warning\", \"format\": \"yaml\"}}");
    expect_diag(&d, "log.level", 1, 10, "did you mean \"warn\"?");
    expect_diag(&d, "log.format", 1, 30, "must be one of \"auto\", \"text\", \"json\"");
    assert_null(strstr(diag_at(&d, "log.format")->message, "did you mean"));
    host_diags_free(&d);
    d = load_bad("{\"log\": {\"level\": \"INFO\"}}");
    expect_diag(&d, "log.level", 1, 10, "did you mean \"info\"?");
    host_diags_free(&d);
}

static void test_plugins_load_checks(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"plugins\": {\"load\": [\"sandbox-seccomp\", \"Sandbox_X\", 7,\n"
                              "  \"sandbox-seccomp\"]}}");
    expect_diag(&d, "plugins.load[1]", 1, 42, "is not a plugin id");
    expect_diag(&d, "plugins.load[2]", 1, 55, "must be a string, not an integer");
    expect_diag(&d, "plugins.load[3]", 2, 3, "listed twice (also at [0])");
    /* No cascade: the built-in profile is not blamed on a broken list. */
    assert_int_equal(d.count, 3);
    host_diags_free(&d);
    d = load_bad("{\"plugins\": {\"load\": \"all\"},\n"
                 " \"sandboxes\": {\"d\": {\"plugin\": \"sandbox-docker\"}}}");
    expect_diag(&d, "plugins.load", 1, 14, "or the string \"*\"");
    assert_int_equal(d.count, 1);
    host_diags_free(&d);
    d = load_bad("{\"plugins\": {\"settings\": {\"Not An Id\": {}}}}");
    expect_diag(&d, "plugins.settings[\"Not An Id\"]", 1, 27, "is not a plugin id");
    host_diags_free(&d);
}

static void test_settings_for_unloaded_plugins(void **state)
{
    (void)state;
    /* A plugin taken out of "load" keeps its settings. */
    host_config_t *cfg = load_ok("{\"plugins\": {\"load\": [\"sandbox-seccomp\"],\n"
                                 "  \"settings\": {\"notify-slack\": {\"channel\": \"x\"}}}}");
    host_config_free(cfg);
    /* A misspelt id of a loaded plugin would be silently ignored: error. */
    host_diags_t d = load_bad("{\"plugins\": {\"load\": [\"sandbox-seccomp\", \"vcs-github\"],\n"
                              "  \"settings\": {\"vcs-gihub\": {}}}}");
    expect_diag(&d, "plugins.settings.vcs-gihub", 2, 16,
                "which plugins.load does not load; did you mean \"vcs-github\"?");
    assert_int_equal(d.count, 1);
    host_diags_free(&d);
}

static void test_profiles_checks(void **state)
{
    (void)state;
    host_diags_t d = load_bad(
        "{\"plugins\": {\"load\": [\"sandbox-seccomp\"]},\n"
        " \"sandboxes\": {\n"
        "  \"nop\": {\"image\": \"x\"},\n"
        "  \"num\": {\"plugin\": 5},\n"
        "  \"arr\": [],\n"
        "  \"bad id\": {\"plugin\": \"sandbox-seccomp\"},\n"
        "  \"dock\": {\"plugin\": \"sandbox-docker\"},\n"
        "  \"caps\": {\"plugin\": \"Sandbox\"}\n"
        " },\n"
        " \"default_sandbox\": \"dok\"\n"
        "}");
    expect_diag(&d, "sandboxes.nop", 3, 3, "missing \"plugin\"");
    expect_diag(&d, "sandboxes.num.plugin", 4, 11, "must be a string");
    expect_diag(&d, "sandboxes.arr", 5, 3, "must be an object");
    expect_diag(&d, "sandboxes[\"bad id\"]", 6, 3, "not a valid profile name");
    expect_diag(&d, "sandboxes.dock.plugin", 7, 12, "\"sandbox-docker\" is not in plugins.load");
    expect_diag(&d, "sandboxes.caps.plugin", 8, 12, "is not a plugin id");
    expect_diag(&d, "default_sandbox", 10, 2, "no profile \"dok\" in \"sandboxes\"; did you mean \"dock\"?");
    host_diags_free(&d);

    d = load_bad("{\"sandboxes\": {}, \"default_sandbox\": \"local\"}");
    expect_diag(&d, "default_sandbox", 1, 19, "defines no profiles");
    host_diags_free(&d);
}

static void test_builtin_profile_needs_its_plugin_loaded(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\n  \"plugins\": {\"load\": [\"sandbox-docker\"]}\n}");
    expect_diag(&d, "plugins.load", 2, 15, "built-in sandbox profile \"local\"");
    host_diags_free(&d);
}

/* ---- unknown keys ---- */

static void test_unknown_keys_suggest_the_nearest(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\n"
                              "  \"listne\": {\"port\": 1},\n"
                              "  \"listen\": {\"prot\": 1, \"adress\": \"x\"},\n"
                              "  \"plugins\": {\"fatal_on_refusl\": true},\n"
                              "  \"limits\": {\"max_session\": 1, \"session_timeout\": 5},\n"
                              "  \"port\": 1,\n"
                              "  \"completely_unrelated\": 1,\n"
                              "  \"Data_Dir\": \"x\"\n"
                              "}");
    expect_diag(&d, "listne", 2, 3, "unknown key \"listne\"; did you mean \"listen\"?");
    expect_diag(&d, "listen.prot", 3, 14, "did you mean \"port\"?");
    expect_diag(&d, "listen.adress", 3, 25, "did you mean \"address\"?");
    expect_diag(&d, "plugins.fatal_on_refusl", 4, 15, "did you mean \"fatal_on_refusal\"?");
    expect_diag(&d, "limits.max_session", 5, 14, "did you mean \"max_sessions\"?");
    expect_diag(&d, "limits.session_timeout", 5, 32,
                "did you mean \"session_timeout_minutes\"?");
    expect_diag(&d, "port", 6, 3, "did you mean \"listen.port\"?");
    expect_diag(&d, "completely_unrelated", 7, 3, "unknown key \"completely_unrelated\" (known keys here:");
    assert_null(strstr(diag_at(&d, "completely_unrelated")->message, "did you mean"));
    expect_diag(&d, "Data_Dir", 8, 3, "did you mean \"data_dir\"?");
    assert_int_equal(d.count, 9);
    host_diags_free(&d);
}

static void test_comment_keys_are_ignored(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok("{\"//\": \"top\", \"// listen\": 1,\n"
                                 " \"listen\": {\"//\": [1, 2], \"port\": 9000},\n"
                                 " \"sandboxes\": {\"//\": \"not a profile\", "
                                 "\"local\": {\"plugin\": \"sandbox-seccomp\"}}}");
    assert_int_equal(cfg->listen_port, 9000);
    assert_int_equal(cfg->profile_count, 1);
    host_config_free(cfg);
}

/* ---- duplicates and parse errors ---- */

static void test_duplicate_keys(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\n"
                              "  \"data_dir\": \"a\",\n"
                              "  \"listen\": {\"port\": 1, \"port\": 2},\n"
                              "  \"data_dir\": \"b\"\n"
                              "}");
    assert_int_equal(d.count, 2);
    expect_diag(&d, "listen.port", 3, 25, "duplicate key \"port\" (also at line 3, column 14)");
    expect_diag(&d, "data_dir", 4, 3, "duplicate key \"data_dir\" (also at line 2, column 3)");
    host_diags_free(&d);

    /* Three times: each repeat is reported against the one before. */
    d = load_bad("{\"a\": {\"x\": 1, \"x\": 2, \"x\": 3}}");
    size_t dups = 0;
    for (size_t i = 0; i < d.count; i++)
        if (strstr(d.items[i].message, "duplicate key \"x\"") != NULL)
            dups++;
    assert_int_equal(dups, 2);
    host_diags_free(&d);

    /* Inside arrays of objects, and in a large object (hashed check). */
    d = load_bad("{\"plugins\": {\"settings\": {\"p\": {\"l\": [{\"k\": 1, \"k\": 2}]}}}}");
    expect_diag(&d, "plugins.settings.p.l[0].k", 1, 48, "duplicate key \"k\"");
    host_diags_free(&d);

    char big[4096];
    size_t at = (size_t)snprintf(big, sizeof big, "{\"plugins\": {\"settings\": {\"p\": {");
    for (int i = 0; i < 40; i++)
        at += (size_t)snprintf(big + at, sizeof big - at, "\"k%d\": %d, ", i, i);
    snprintf(big + at, sizeof big - at, "\"k7\": 0}}}}");
    d = load_bad(big);
    expect_diag(&d, "plugins.settings.p.k7", 1, (int)at + 1, "also at line 1, column 96");
    host_diags_free(&d);
}

static void test_parse_errors_have_position(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\n  \"data_dir\": \"x\",\n  oops\n}\n");
    assert_int_equal(d.count, 1);
    assert_int_equal(d.items[0].line, 3);
    assert_int_equal(d.items[0].column, 3);
    assert_string_equal(d.items[0].path, "");
    assert_non_null(strstr(d.items[0].message, "invalid JSON"));
    host_diags_free(&d);

    /* Truncated. */
    d = load_bad("{\"listen\": {\"port\": 78");
    assert_int_equal(d.count, 1);
    assert_int_equal(d.items[0].line, 1);
    assert_true(d.items[0].column > 0);
    assert_non_null(strstr(d.items[0].message, "invalid JSON"));
    host_diags_free(&d);

    /* Trailing garbage, trailing comma. */
    d = load_bad("{} x");
    assert_int_equal(d.items[0].column, 4);
    host_diags_free(&d);
    d = load_bad("{\"a\": [1, 2,]}");
    assert_int_equal(d.items[0].line, 1);
    assert_int_equal(d.items[0].column, 13);
    host_diags_free(&d);
}

/* ---- bad input that must never crash ---- */

static void test_empty_and_blank_text(void **state)
{
    (void)state;
    const char *texts[] = {"", "   \n\t\r\n"};
    for (size_t i = 0; i < 2; i++) {
        host_diags_t d = load_bad(texts[i]);
        assert_int_equal(d.count, 1);
        assert_non_null(strstr(d.items[0].message, "empty"));
        assert_non_null(strstr(d.items[0].message, "{}"));
        host_diags_free(&d);
    }
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_load_text(NULL, 0, "n.json", &cfg, &d), AGENTD_ECONFIG);
    host_diags_free(&d);
    assert_int_equal(host_config_load_text(NULL, 5, "n.json", &cfg, &d), AGENTD_EINVAL);
    host_diags_free(&d);
}

static void test_non_object_root(void **state)
{
    (void)state;
    static const struct {
        const char *text, *what;
    } cases[] = {{"[1, 2]", "not a list"},
                 {"\n  \"x\"", "not a string"},
                 {"42", "not an integer"},
                 {"null", "not null"},
                 {"true", "not a boolean"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        host_diags_t d = load_bad(cases[i].text);
        assert_int_equal(d.count, 1);
        assert_non_null(strstr(d.items[0].message, "must be a JSON object"));
        assert_non_null(strstr(d.items[0].message, cases[i].what));
        if (i == 1) {
            assert_int_equal(d.items[0].line, 2);
            assert_int_equal(d.items[0].column, 3);
        }
        host_diags_free(&d);
    }
}

static void test_nul_bytes(void **state)
{
    (void)state;
    static const char text[] = "{\n  \"a\": \"x\0y\"\n}";
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_load_text(text, sizeof text - 1, "test.json", &cfg, &d),
                     AGENTD_ECONFIG);
    assert_null(cfg);
    assert_int_equal(d.count, 1);
    assert_int_equal(d.items[0].line, 2);
    assert_int_equal(d.items[0].column, 10);
    assert_non_null(strstr(d.items[0].message, "NUL byte"));
    host_diags_free(&d);

    /* Escaped NUL in a string, and in a key. */
    d = load_bad("{\"data_dir\": \"a\\u0000b\"}");
    assert_non_null(strstr(d.items[0].message, "NUL"));
    host_diags_free(&d);
    d = load_bad("{\"a\\u0000b\": 1}");
    assert_int_equal(d.count, 1);
    host_diags_free(&d);
}

static void test_huge_numbers(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"limits\": {\"max_sessions\": 99999999999999999999999999}}");
    assert_int_equal(d.count, 1);
    assert_int_equal(d.items[0].line, 1);
    assert_non_null(strstr(d.items[0].message, "too big integer"));
    host_diags_free(&d);
    d = load_bad("{\"limits\": {\"max_sessions\": 1e999}}");
    assert_non_null(strstr(d.items[0].message, "overflow"));
    host_diags_free(&d);
    /* Fits in 64 bits, out of range: a range error, not a wrap-around. */
    d = load_bad("{\"limits\": {\"max_sessions\": 9223372036854775807}}");
    expect_diag(&d, "limits.max_sessions", 1, 13, "9223372036854775807 is out of range");
    host_diags_free(&d);
    d = load_bad("{\"listen\": {\"port\": -9223372036854775808}}");
    expect_diag(&d, "listen.port", 1, 13, "out of range");
    host_diags_free(&d);
    d = load_bad("{\"listen\": {\"port\": 4294975174}}"); /* 7878 + 2^32 */
    expect_diag(&d, "listen.port", 1, 13, "out of range");
    host_diags_free(&d);
}

static char *nested(int depth, const char *inner)
{
    size_t n = (size_t)depth * 8 + strlen(inner) + 64;
    char *s = malloc(n);
    assert_non_null(s);
    size_t at = (size_t)snprintf(s, n, "{\"plugins\": {\"settings\": {\"p\": ");
    for (int i = 0; i < depth; i++)
        at += (size_t)snprintf(s + at, n - at, "{\"a\": ");
    at += (size_t)snprintf(s + at, n - at, "%s", inner);
    for (int i = 0; i < depth; i++)
        s[at++] = '}';
    snprintf(s + at, n - at, "}}}");
    return s;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* Deep but reasonable: fine. */
    char *s = nested(40, "1");
    host_config_t *cfg = load_ok(s);
    host_config_free(cfg);
    free(s);
    /* Beyond the host's limit. */
    s = nested(100, "1");
    host_diags_t d = load_bad(s);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "nested more than 64 levels"));
    assert_int_equal(d.items[0].line, 1);
    assert_true(d.items[0].column > 0);
    host_diags_free(&d);
    free(s);
    /* Beyond jansson's own limit (a parse error), arrays too. */
    s = nested(5000, "[[[[1]]]]");
    d = load_bad(s);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "nested too deeply"));
    host_diags_free(&d);
    free(s);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\n  \"data_dir\": \"a\xff\xfe\"\n}");
    assert_int_equal(d.count, 1);
    assert_int_equal(d.items[0].line, 2);
    assert_non_null(strstr(d.items[0].message, "UTF-8"));
    /* The message itself stays printable, valid text. */
    for (const char *p = d.items[0].message; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80);
    host_diags_free(&d);
    /* Overlong encoding, lone surrogate escape. */
    d = load_bad("{\"data_dir\": \"\xc0\xaf\"}");
    host_diags_free(&d);
    d = load_bad("{\"data_dir\": \"\\ud800\"}");
    host_diags_free(&d);
}

static void test_unicode_and_escapes_keep_columns_right(void **state)
{
    (void)state;
    /* Columns count characters: "é" and "日本" are one column each, an
     * escape \" is two. */
    host_diags_t d = load_bad("{\"data_dir\": \"é日本\\\"\\u00e9\", \"zz\": 1,\n"
                              "\t\"listen\": {\"port\": \"x\"}}");
    expect_diag(&d, "zz", 1, 29, "unknown key");
    expect_diag(&d, "listen.port", 2, 13, "must be an integer");
    host_diags_free(&d);
    /* A key with escapes and a dot is written quoted in paths. */
    d = load_bad("{\"sandboxes\": {\"a.\\\"b\\\"\": {}}}");
    assert_non_null(diag_at(&d, "sandboxes[\"a.\\\"b\\\"\"]"));
    host_diags_free(&d);
    /* Control characters in keys never reach the terminal raw. */
    d = load_bad("{\"\\u001b[31mred\": 1}");
    assert_null(strchr(d.items[0].message, 0x1b));
    assert_null(strchr(d.items[0].path, 0x1b));
    assert_non_null(strstr(d.items[0].message, "\\u001b"));
    host_diags_free(&d);
}

static void test_byte_order_mark_is_skipped(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok("\xEF\xBB\xBF{\"listen\": {\"port\": 8080}}");
    assert_int_equal(cfg->listen_port, 8080);
    host_config_free(cfg);
}

static void test_too_many_problems_are_capped(void **state)
{
    (void)state;
    size_t n = 300 * 16 + 16;
    char *s = malloc(n);
    assert_non_null(s);
    size_t at = (size_t)snprintf(s, n, "{");
    for (int i = 0; i < 300; i++)
        at += (size_t)snprintf(s + at, n - at, "%s\"bad%d\": 1", i ? ", " : "", i);
    snprintf(s + at, n - at, "}");
    host_diags_t d = load_bad(s);
    assert_int_equal(d.count, 101);
    assert_non_null(strstr(d.items[100].message, "too many problems"));
    host_diags_free(&d);
    free(s);
}

/* ---- files ---- */

static void test_missing_file(void **state)
{
    (void)state;
    host_config_t *cfg = (host_config_t *)1;
    host_diags_t d = {0};
    const char *path = "/nonexistent-agentd-dir/agentd.json";
    assert_int_equal(host_config_load(path, &cfg, &d), AGENTD_ENOENT);
    assert_null(cfg);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].file, path);
    assert_int_equal(d.items[0].line, 0);
    assert_non_null(strstr(d.items[0].message, "No such file"));
    char out[512] = {0};
    FILE *f = fmemopen(out, sizeof out - 1, "w");
    assert_non_null(f);
    host_diags_print(&d, f);
    fclose(f);
    assert_int_equal(strncmp(out, path, strlen(path)), 0);
    assert_non_null(strstr(out, ": cannot open the config file"));
    host_diags_free(&d);
}

static void test_directory_as_file(void **state)
{
    (void)state;
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_load("/tmp", &cfg, &d), AGENTD_ECONFIG);
    assert_null(cfg);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].file, "/tmp");
    assert_non_null(strstr(d.items[0].message, "is a directory"));
    host_diags_free(&d);
}

static void test_unreadable_file(void **state)
{
    (void)state;
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    /* Opens, but every read fails (EIO): works for root as well. */
    assert_int_equal(host_config_load("/proc/self/mem", &cfg, &d), AGENTD_ECONFIG);
    assert_null(cfg);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "cannot read the config file"));
    host_diags_free(&d);

    if (geteuid() != 0) {
        char *path = write_temp("{}", 2);
        assert_int_equal(chmod(path, 0), 0);
        assert_int_equal(host_config_load(path, &cfg, &d), AGENTD_ECONFIG);
        assert_non_null(strstr(d.items[0].message, "Permission denied"));
        host_diags_free(&d);
        unlink(path);
        free(path);
    }
}

static void test_file_size_limits(void **state)
{
    (void)state;
    /* Over the default 4 MiB: refused before it is parsed. */
    size_t n = (size_t)4 * 1024 * 1024 + 10;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    char *path = write_temp(big, n);
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_load(path, &cfg, &d), AGENTD_ECONFIG);
    assert_null(cfg);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "more than the limit of 4194304 bytes"));
    host_diags_free(&d);
    /* A caller may allow more (a reload under a raised limit)... */
    assert_int_equal(host_config_load_limited(path, 8 * 1024 * 1024, &cfg, &d), AGENTD_ECONFIG);
    /* ...but the file must fit in its own limit too. */
    assert_non_null(strstr(d.items[0].message, "more than this limit"));
    assert_string_equal(d.items[0].path, "limits.max_config_bytes");
    host_diags_free(&d);
    unlink(path);
    free(path);
    free(big);

    /* A small file over its own small limit. */
    char text[2048];
    memset(text, ' ', sizeof text);
    const char *body = "{\"limits\": {\"max_config_bytes\": 1024}}";
    memcpy(text, body, strlen(body));
    text[sizeof text - 1] = '\0';
    d = load_bad(text);
    expect_diag(&d, "limits.max_config_bytes", 1, 13, "the config itself is 2047 bytes");
    host_diags_free(&d);

    /* A device that never ends. */
    assert_int_equal(host_config_load_limited("/dev/zero", 2048, &cfg, &d), AGENTD_ECONFIG);
    assert_non_null(strstr(d.items[0].message, "more than the limit of 2048 bytes"));
    host_diags_free(&d);
}

static void test_file_positions_and_pipe(void **state)
{
    (void)state;
    const char *text = "{\n  \"log\": {\"level\": \"loud\"}\n}\n";
    char *path = write_temp(text, strlen(text));
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_load(path, &cfg, &d), AGENTD_ECONFIG);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].file, path);
    assert_int_equal(d.items[0].line, 2);
    assert_int_equal(d.items[0].column, 11);
    assert_string_equal(d.items[0].path, "log.level");
    host_diags_free(&d);
    unlink(path);
    free(path);

    /* A pipe (e.g. --config <(generate)) is read like a file. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *good = "{\"listen\": {\"port\": 4242}}";
    assert_int_equal(write(fds[1], good, strlen(good)), (ssize_t)strlen(good));
    close(fds[1]);
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/dev/fd/%d", fds[0]);
    assert_int_equal(host_config_load(fdpath, &cfg, &d), 0);
    assert_int_equal(cfg->listen_port, 4242);
    host_config_free(cfg);
    close(fds[0]);
}

/* ---- printing ---- */

static void test_diags_print_format(void **state)
{
    (void)state;
    host_diags_t d = {0};
    assert_int_equal(host_diags_add(&d, "a.json", 3, 7, "listen.port", "bad %d", 1),
                     AGENTD_ECONFIG);
    assert_int_equal(host_diags_add(&d, "a.json", 0, 0, "", "whole file"), AGENTD_ECONFIG);
    assert_int_equal(host_diags_add(&d, "a.json", 0, 0, "limits", "no position"),
                     AGENTD_ECONFIG);
    assert_int_equal(host_diags_add(&d, "a.json", 4, 0, "", "line only"), AGENTD_ECONFIG);
    assert_int_equal(host_diags_add(&d, NULL, 0, 0, NULL, "no file"), AGENTD_ECONFIG);
    assert_int_equal(d.count, 5);
    char out[512] = {0};
    FILE *f = fmemopen(out, sizeof out - 1, "w");
    assert_non_null(f);
    host_diags_print(&d, f);
    fclose(f);
    assert_string_equal(out, "a.json:3:7: listen.port: bad 1\n"
                             "a.json: whole file\n"
                             "a.json: limits: no position\n"
                             "a.json:4: line only\n"
                             "<config>: no file\n");
    host_diags_free(&d);
    assert_int_equal(d.count, 0);
    assert_null(d.items);
    host_diags_free(&d); /* twice is fine */
    host_diags_print(NULL, stderr);
    assert_int_equal(host_diags_add(NULL, "x", 0, 0, "", "nowhere"), AGENTD_ECONFIG);
}

static void test_null_arguments(void **state)
{
    (void)state;
    host_diags_t d = {0};
    assert_int_equal(host_config_load_text("{}", 2, "x", NULL, &d), AGENTD_EINVAL);
    host_diags_free(&d);
    host_config_t *cfg = NULL;
    /* No diagnostics list: still a clean failure. */
    assert_int_equal(host_config_load_text("[", 1, NULL, &cfg, NULL), AGENTD_ECONFIG);
    assert_null(cfg);
    host_config_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_without_file),
        cmocka_unit_test(test_empty_object_is_defaults),
        cmocka_unit_test(test_default_text_is_pretty_json_of_the_defaults),
        cmocka_unit_test(test_example_config_loads_cleanly),
        cmocka_unit_test(test_every_host_key_is_read),
        cmocka_unit_test(test_log_levels_and_formats),
        cmocka_unit_test(test_load_star_and_empty),
        cmocka_unit_test(test_default_sandbox_when_not_written),
        cmocka_unit_test(test_type_errors_have_position_and_path),
        cmocka_unit_test(test_diagnostics_come_in_file_order),
        cmocka_unit_test(test_limits_bounds),
        cmocka_unit_test(test_port_bounds),
        cmocka_unit_test(test_wal_max_mb),
        cmocka_unit_test(test_empty_strings_are_refused),
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_plugins_load_checks),
        cmocka_unit_test(test_settings_for_unloaded_plugins),
        cmocka_unit_test(test_profiles_checks),
        cmocka_unit_test(test_builtin_profile_needs_its_plugin_loaded),
        cmocka_unit_test(test_unknown_keys_suggest_the_nearest),
        cmocka_unit_test(test_comment_keys_are_ignored),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_parse_errors_have_position),
        cmocka_unit_test(test_empty_and_blank_text),
        cmocka_unit_test(test_non_object_root),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_unicode_and_escapes_keep_columns_right),
        cmocka_unit_test(test_byte_order_mark_is_skipped),
        cmocka_unit_test(test_too_many_problems_are_capped),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_directory_as_file),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_file_size_limits),
        cmocka_unit_test(test_file_positions_and_pipe),
        cmocka_unit_test(test_diags_print_format),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
