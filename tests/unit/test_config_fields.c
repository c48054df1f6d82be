/* Phase 2 of the config: a plugin's section and a sandbox profile checked
 * against the plugin's agentd_config_field_t array: every type, INT bounds,
 * required fields, defaults from default_json, unknown keys with
 * suggestions, broken declarations (bad default_json, no name, bad type,
 * duplicates) as diagnostics rather than crashes, and the ABI stride rule
 * (a newer, larger field struct; an older, smaller one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/config.h"

#define FIELD_SIZE ((uint32_t)sizeof(agentd_config_field_t))

static const agentd_config_field_t fields[] = {
    {.size = FIELD_SIZE, .name = "image", .type = AGENTD_CONFIG_STRING, .required = 1,
     .description = "container image"},
    {.size = FIELD_SIZE, .name = "memory_mb", .type = AGENTD_CONFIG_INT, .default_json = "512",
     .min = 64, .max = 65536},
    {.size = FIELD_SIZE, .name = "cpus", .type = AGENTD_CONFIG_NUMBER, .default_json = "1.5"},
    {.size = FIELD_SIZE, .name = "privileged", .type = AGENTD_CONFIG_BOOL,
     .default_json = "false"},
    {.size = FIELD_SIZE, .name = "mounts", .type = AGENTD_CONFIG_STRING_LIST,
     .default_json = "[\"/tmp\"]"},
    {.size = FIELD_SIZE, .name = "labels", .type = AGENTD_CONFIG_OBJECT, .default_json = "{}"},
    {.size = FIELD_SIZE, .name = "token", .type = AGENTD_CONFIG_SECRET},
    /* min == max: no bounds. */
    {.size = FIELD_SIZE, .name = "retries", .type = AGENTD_CONFIG_INT, .default_json = "3"},
};
#define NFIELDS ((uint32_t)(sizeof fields / sizeof fields[0]))

static void dump(const host_diags_t *d)
{
    host_diags_print(d, stderr);
}

static host_config_t *load_ok(const char *text)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = host_config_load_text(text, strlen(text), "f.json", &cfg, &d);
    if (rc != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    host_diags_free(&d);
    return cfg;
}

/* Settings of plugin "p" from `section` (JSON text, or NULL for none). */
static host_config_t *with_section(const char *section)
{
    char text[4096];
    if (section != NULL)
        snprintf(text, sizeof text, "{\"plugins\": {\"settings\": {\n\"p\": %s}}}", section);
    else
        snprintf(text, sizeof text, "{}");
    return load_ok(text);
}

/* The plugin's JSON must equal `expected` (JSON text). */
static void assert_json_equal(const char *got, const char *expected)
{
    json_error_t e1, e2;
    json_t *a = json_loads(got, 0, &e1);
    json_t *b = json_loads(expected, 0, &e2);
    assert_non_null(a);
    assert_non_null(b);
    if (!json_equal(a, b))
        fail_msg("got %s\nwant %s", got, expected);
    json_decref(a);
    json_decref(b);
}

static char *settings_ok(const host_config_t *cfg, const agentd_config_field_t *f, uint32_t n)
{
    char *json = NULL;
    host_diags_t d = {0};
    int rc = host_config_plugin_settings(cfg, "p", f, n, &json, &d);
    if (rc != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.count, 0);
    assert_non_null(json);
    host_diags_free(&d);
    return json;
}

static host_diags_t settings_bad(const host_config_t *cfg, const agentd_config_field_t *f,
                                 uint32_t n)
{
    char *json = (char *)1;
    host_diags_t d = {0};
    int rc = host_config_plugin_settings(cfg, "p", f, n, &json, &d);
    if (rc != AGENTD_ECONFIG)
        dump(&d);
    assert_int_equal(rc, AGENTD_ECONFIG);
    assert_null(json);
    assert_true(d.count > 0);
    return d;
}

static const host_diag_t *diag_at(const host_diags_t *d, const char *path)
{
    for (size_t i = 0; i < d->count; i++)
        if (strcmp(d->items[i].path, path) == 0)
            return &d->items[i];
    dump(d);
    fail_msg("no diagnostic at %s", path);
    return NULL;
}

static void expect(const host_diags_t *d, const char *path, int line, int col, const char *text)
{
    const host_diag_t *it = diag_at(d, path);
    if (it->line != line || it->column != col || strstr(it->message, text) == NULL) {
        dump(d);
        fail_msg("at %s: got %d:%d \"%s\", want %d:%d with \"%s\"", path, it->line, it->column,
                 it->message, line, col, text);
    }
}

/* ---- values ---- */

static void test_every_type_accepted(void **state)
{
    (void)state;
    host_config_t *cfg = with_section(
        "{\"image\": \"debian:12\", \"memory_mb\": 2048, \"cpus\": 2, \"privileged\": true,\n"
        " \"mounts\": [\"/a\", \"/b\"], \"labels\": {\"team\": \"x\", \"n\": [1]},\n"
        " \"token\": \"${secret:DOCKER_TOKEN}\", \"retries\": -5, \"//\": \"a comment\"}");
    char *json = settings_ok(cfg, fields, NFIELDS);
    assert_json_equal(json, "{\"image\": \"debian:12\", \"memory_mb\": 2048, \"cpus\": 2, "
                            "\"privileged\": true, \"mounts\": [\"/a\", \"/b\"], "
                            "\"labels\": {\"team\": \"x\", \"n\": [1]}, "
                            "\"token\": \"${secret:DOCKER_TOKEN}\", \"retries\": -5}");
    free(json);
    host_config_free(cfg);
}

static void test_defaults_filled_in(void **state)
{
    (void)state;
    host_config_t *cfg = with_section("{\"image\": \"i\", \"cpus\": 0.25}");
    char *json = settings_ok(cfg, fields, NFIELDS);
    /* No default for token: absent. */
    assert_json_equal(json, "{\"image\": \"i\", \"memory_mb\": 512, \"cpus\": 0.25, "
                            "\"privileged\": false, \"mounts\": [\"/tmp\"], \"labels\": {}, "
                            "\"retries\": 3}");
    free(json);
    host_config_free(cfg);
}

static void test_wrong_types_with_positions(void **state)
{
    (void)state;
    host_config_t *cfg = with_section("{\"image\": 1, \"memory_mb\": \"1\", \"cpus\": \"2\",\n"
                                      " \"privileged\": 1, \"mounts\": [\"/a\", 2],\n"
                                      " \"labels\": [], \"token\": 5, \"retries\": 1.5}");
    host_diags_t d = settings_bad(cfg, fields, NFIELDS);
    expect(&d, "plugins.settings.p.image", 2, 7, "must be a string, not an integer");
    expect(&d, "plugins.settings.p.memory_mb", 2, 19, "must be an integer, not a string");
    expect(&d, "plugins.settings.p.cpus", 2, 37, "must be a number, not a string");
    expect(&d, "plugins.settings.p.privileged", 3, 2, "must be true or false");
    expect(&d, "plugins.settings.p.mounts[1]", 3, 36, "must be a string, not an integer");
    expect(&d, "plugins.settings.p.labels", 4, 2, "must be an object, not a list");
    expect(&d, "plugins.settings.p.token", 4, 16, "secret reference");
    expect(&d, "plugins.settings.p.retries", 4, 28, "must be an integer, not a number");
    assert_int_equal(d.count, 8);
    host_diags_free(&d);

    /* Not a list at all. */
    host_config_free(cfg);
    cfg = with_section("{\"image\": \"i\", \"mounts\": \"/a\"}");
    d = settings_bad(cfg, fields, NFIELDS);
    expect(&d, "plugins.settings.p.mounts", 2, 21, "must be a list of strings, not a string");
    host_diags_free(&d);
    host_config_free(cfg);
}

static void test_int_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int ok;
    } cases[] = {{"63", 0}, {"64", 1}, {"65536", 1}, {"65537", 0}, {"-1", 0},
                 {"9223372036854775807", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sec[128];
        snprintf(sec, sizeof sec, "{\"image\": \"i\", \"memory_mb\": %s}", cases[i].v);
        host_config_t *cfg = with_section(sec);
        if (cases[i].ok) {
            free(settings_ok(cfg, fields, NFIELDS));
        } else {
            host_diags_t d = settings_bad(cfg, fields, NFIELDS);
            char want[128];
            snprintf(want, sizeof want, "%s is out of range: allowed 64..65536", cases[i].v);
            expect(&d, "plugins.settings.p.memory_mb", 2, 21, want);
            host_diags_free(&d);
        }
        host_config_free(cfg);
    }
    /* min > max: no bounds either. */
    agentd_config_field_t inv[] = {{.size = FIELD_SIZE, .name = "n", .type = AGENTD_CONFIG_INT,
                                    .min = 10, .max = 1}};
    host_config_t *cfg = with_section("{\"n\": -100000}");
    free(settings_ok(cfg, inv, 1));
    host_config_free(cfg);
}

static void test_secret_fields(void **state)
{
    (void)state;
    agentd_config_field_t f[] = {{.size = FIELD_SIZE, .name = "t", .type = AGENTD_CONFIG_SECRET}};
    static const char *const bad[] = {"\"plain-text-password\"", "\"${secret:}\"",
                                      "\"x${secret:A}\"", "\"${secret:A} \"",
                                      "\"${secret:A B}\"", "true"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char sec[128];
        snprintf(sec, sizeof sec, "{\"t\": %s}", bad[i]);
        host_config_t *cfg = with_section(sec);
        host_diags_t d = settings_bad(cfg, f, 1);
        expect(&d, "plugins.settings.p.t", 2, 7, "${secret:NAME}");
        /* Never the value. */
        assert_null(strstr(d.items[0].message, "plain-text-password"));
        host_diags_free(&d);
        host_config_free(cfg);
    }
    host_config_t *cfg = with_section("{\"t\": \"${secret:team/github.token}\"}");
    char *json = settings_ok(cfg, f, 1);
    assert_json_equal(json, "{\"t\": \"${secret:team/github.token}\"}");
    free(json);
    host_config_free(cfg);
}

static void test_required_missing(void **state)
{
    (void)state;
    /* Section present: points at it. */
    host_config_t *cfg = with_section("{\"cpus\": 1}");
    host_diags_t d = settings_bad(cfg, fields, NFIELDS);
    assert_int_equal(d.count, 1);
    expect(&d, "plugins.settings.p.image", 2, 1, "missing: plugin \"p\" requires this setting");
    assert_non_null(strstr(d.items[0].message, "container image"));
    host_diags_free(&d);
    host_config_free(cfg);
    /* No section at all: no position. */
    cfg = with_section(NULL);
    d = settings_bad(cfg, fields, NFIELDS);
    expect(&d, "plugins.settings.p.image", 0, 0, "missing");
    assert_string_equal(d.items[0].file, "f.json");
    host_diags_free(&d);
    host_config_free(cfg);
}

static void test_absent_section_gives_defaults(void **state)
{
    (void)state;
    host_config_t *cfg = with_section(NULL);
    char *json = settings_ok(cfg, fields + 1, NFIELDS - 1);
    assert_json_equal(json, "{\"memory_mb\": 512, \"cpus\": 1.5, \"privileged\": false, "
                            "\"mounts\": [\"/tmp\"], \"labels\": {}, \"retries\": 3}");
    free(json);
    /* No fields, no section: {}. */
    json = settings_ok(cfg, NULL, 0);
    assert_string_equal(json, "{}");
    free(json);
    host_config_free(cfg);
}

static void test_unknown_settings(void **state)
{
    (void)state;
    host_config_t *cfg = with_section("{\"image\": \"i\", \"imgae\": \"j\", \"memory\": 1,\n"
                                      " \"completely_else\": 2}");
    host_diags_t d = settings_bad(cfg, fields, NFIELDS);
    expect(&d, "plugins.settings.p.imgae", 2, 21, "unknown setting \"imgae\" of plugin \"p\"; did "
                                                   "you mean \"image\"?");
    expect(&d, "plugins.settings.p.memory", 2, 35, "did you mean \"memory_mb\"?");
    expect(&d, "plugins.settings.p.completely_else", 3, 2,
           "(its settings: image, memory_mb, cpus, privileged, mounts, labels, token, retries)");
    assert_int_equal(d.count, 3);
    host_diags_free(&d);
    host_config_free(cfg);

    cfg = with_section("{\"x\": 1}");
    d = settings_bad(cfg, NULL, 0);
    expect(&d, "plugins.settings.p.x", 2, 7, "plugin \"p\" takes no settings");
    host_diags_free(&d);
    host_config_free(cfg);
}

/* ---- broken declarations ---- */

static void test_bad_default_json_is_a_diagnostic(void **state)
{
    (void)state;
    agentd_config_field_t f[] = {
        {.size = FIELD_SIZE, .name = "a", .type = AGENTD_CONFIG_INT, .default_json = "{not json"},
        {.size = FIELD_SIZE, .name = "b", .type = AGENTD_CONFIG_INT, .default_json = "\"abc\""},
        {.size = FIELD_SIZE, .name = "c", .type = AGENTD_CONFIG_INT, .default_json = "99",
         .min = 1, .max = 10},
        {.size = FIELD_SIZE, .name = "d", .type = AGENTD_CONFIG_SECRET,
         .default_json = "\"literal\""},
        {.size = FIELD_SIZE, .name = "e", .type = AGENTD_CONFIG_STRING_LIST,
         .default_json = "[1]"},
        {.size = FIELD_SIZE, .name = "ok", .type = AGENTD_CONFIG_STRING, .default_json = "\"y\""},
    };
    host_config_t *cfg = with_section(NULL);
    host_diags_t d = settings_bad(cfg, f, 6);
    expect(&d, "plugins.settings.p.a", 0, 0, "plugin \"p\" declares a default for this setting "
                                             "that is not valid JSON");
    expect(&d, "plugins.settings.p.b", 0, 0, "that is not an integer");
    expect(&d, "plugins.settings.p.c", 0, 0, "not an integer within its bounds");
    expect(&d, "plugins.settings.p.d", 0, 0, "not a secret reference");
    expect(&d, "plugins.settings.p.e", 0, 0, "not a list of strings");
    assert_int_equal(d.count, 5);
    host_diags_free(&d);
    host_config_free(cfg);
}

static void test_broken_declarations(void **state)
{
    (void)state;
    host_config_t *cfg = with_section("{}");
    agentd_config_field_t f[] = {
        {.size = FIELD_SIZE, .name = NULL, .type = AGENTD_CONFIG_INT},
        {.size = FIELD_SIZE, .name = "", .type = AGENTD_CONFIG_INT},
        {.size = FIELD_SIZE, .name = "t0", .type = (agentd_config_type_t)0},
        {.size = FIELD_SIZE, .name = "t99", .type = (agentd_config_type_t)99},
        {.size = FIELD_SIZE, .name = "dup", .type = AGENTD_CONFIG_INT},
        {.size = FIELD_SIZE, .name = "dup", .type = AGENTD_CONFIG_STRING},
    };
    host_diags_t d = settings_bad(cfg, f, 6);
    assert_int_equal(d.count, 5);
    assert_non_null(strstr(d.items[0].message, "setting #0 without a name"));
    assert_non_null(strstr(d.items[1].message, "setting #1 without a name"));
    expect(&d, "plugins.settings.p.t0", 0, 0, "unknown type 0");
    expect(&d, "plugins.settings.p.t99", 0, 0, "unknown type 99");
    expect(&d, "plugins.settings.p.dup", 0, 0, "declares this setting twice");
    host_diags_free(&d);

    /* A count with no array; an absurd count; an element size too small
     * to hold a name and a type, or absurdly large. */
    d = settings_bad(cfg, NULL, 2);
    assert_non_null(strstr(d.items[0].message, "no field array"));
    host_diags_free(&d);
    d = settings_bad(cfg, fields, 100000);
    assert_non_null(strstr(d.items[0].message, "more than 4096"));
    host_diags_free(&d);
    agentd_config_field_t tiny[] = {{.size = 8, .name = "x", .type = AGENTD_CONFIG_INT}};
    d = settings_bad(cfg, tiny, 1);
    assert_non_null(strstr(d.items[0].message, "element size 8"));
    host_diags_free(&d);
    agentd_config_field_t zero[] = {{.size = 0, .name = "x", .type = AGENTD_CONFIG_INT}};
    d = settings_bad(cfg, zero, 1);
    assert_non_null(strstr(d.items[0].message, "element size 0"));
    host_diags_free(&d);
    agentd_config_field_t huge[] = {{.size = 1u << 30, .name = "x", .type = AGENTD_CONFIG_INT}};
    d = settings_bad(cfg, huge, 1);
    host_diags_free(&d);
    host_config_free(cfg);
}

/* ---- the ABI stride ---- */

/* What a newer SDK's field struct might look like: the 1.0 members, then
 * more. */
typedef struct future_field {
    agentd_config_field_t v1;
    uint64_t added_in_1_1;
    const char *also_added;
} future_field_t;

/* An older (hypothetical) prefix: just size, name and type. */
typedef struct small_field {
    uint32_t size;
    const char *name;
    agentd_config_type_t type;
} small_field_t;

static void test_larger_field_struct_uses_its_stride(void **state)
{
    (void)state;
    future_field_t f[] = {
        {{.size = sizeof(future_field_t), .name = "a", .type = AGENTD_CONFIG_INT,
          .default_json = "7", .min = 0, .max = 10},
         0xdeadbeefdeadbeefULL, "ignored"},
        {{.size = sizeof(future_field_t), .name = "b", .type = AGENTD_CONFIG_STRING,
          .default_json = "\"bee\""},
         1, "ignored"},
        {{.size = sizeof(future_field_t), .name = "c", .type = AGENTD_CONFIG_BOOL,
          .required = 1},
         2, NULL},
    };
    host_config_t *cfg = with_section("{\"c\": true}");
    char *json = settings_ok(cfg, (const agentd_config_field_t *)f, 3);
    assert_json_equal(json, "{\"a\": 7, \"b\": \"bee\", \"c\": true}");
    free(json);
    host_config_free(cfg);

    /* The bounds of the second element are read from the right place. */
    cfg = with_section("{\"a\": 11, \"c\": false}");
    host_diags_t d = settings_bad(cfg, (const agentd_config_field_t *)f, 3);
    expect(&d, "plugins.settings.p.a", 2, 7, "allowed 0..10");
    assert_int_equal(d.count, 1);
    host_diags_free(&d);
    host_config_free(cfg);
}

static void test_smaller_field_struct_is_zero_extended(void **state)
{
    (void)state;
    /* Static, like a real plugin's descriptor: its padding is zero too. */
    static const small_field_t f[] = {
        {.size = sizeof(small_field_t), .name = "s", .type = AGENTD_CONFIG_STRING},
        {.size = sizeof(small_field_t), .name = "n", .type = AGENTD_CONFIG_INT},
    };
    host_config_t *cfg = with_section("{\"n\": -3}");
    /* No default_json, no bounds, not required: read as zero. */
    char *json = settings_ok(cfg, (const agentd_config_field_t *)(const void *)f, 2);
    assert_json_equal(json, "{\"n\": -3}");
    free(json);
    host_config_free(cfg);
}

/* ---- profiles ---- */

static void test_profile_settings(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok(
        "{\"plugins\": {\"load\": \"*\"},\n"
        " \"sandboxes\": {\n"
        "  \"docker\": {\"plugin\": \"sandbox-docker\", \"image\": \"debian\", \"//\": \"c\"},\n"
        "  \"bad\": {\"plugin\": \"sandbox-docker\", \"image\": 5, \"imag\": \"x\"}\n"
        " },\n"
        " \"default_sandbox\": \"docker\"}");
    char *json = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_profile_settings(cfg, "docker", fields, NFIELDS, &json, &d), 0);
    assert_int_equal(d.count, 0);
    /* "plugin" and comments stripped, defaults filled. */
    assert_json_equal(json, "{\"image\": \"debian\", \"memory_mb\": 512, \"cpus\": 1.5, "
                            "\"privileged\": false, \"mounts\": [\"/tmp\"], \"labels\": {}, "
                            "\"retries\": 3}");
    free(json);

    assert_int_equal(host_config_profile_settings(cfg, "bad", fields, NFIELDS, &json, &d),
                     AGENTD_ECONFIG);
    assert_null(json);
    expect(&d, "sandboxes.bad.image", 4, 39, "must be a string");
    expect(&d, "sandboxes.bad.imag", 4, 51, "did you mean \"image\"?");
    host_diags_free(&d);

    /* No such profile. */
    json = (char *)1;
    assert_int_equal(host_config_profile_settings(cfg, "nope", fields, NFIELDS, &json, &d),
                     AGENTD_ENOENT);
    assert_null(json);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "no sandbox profile \"nope\""));
    host_diags_free(&d);

    /* A plugin that declares no profile fields gets {}. */
    assert_int_equal(host_config_profile_settings(cfg, "docker", NULL, 0, &json, &d),
                     AGENTD_ECONFIG);
    expect(&d, "sandboxes.docker.image", 3, 42, "takes no settings");
    host_diags_free(&d);
    host_config_free(cfg);
}

static void test_builtin_profile_settings(void **state)
{
    (void)state;
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    assert_int_equal(host_config_load(NULL, &cfg, &d), 0);
    char *json = NULL;
    assert_int_equal(host_config_profile_settings(cfg, "local", NULL, 0, &json, &d), 0);
    assert_string_equal(json, "{}");
    free(json);
    assert_int_equal(
        host_config_profile_settings(cfg, "local", fields + 1, NFIELDS - 1, &json, &d), 0);
    assert_json_equal(json, "{\"memory_mb\": 512, \"cpus\": 1.5, \"privileged\": false, "
                            "\"mounts\": [\"/tmp\"], \"labels\": {}, \"retries\": 3}");
    free(json);
    /* A required field the built-in profile cannot have. */
    assert_int_equal(host_config_profile_settings(cfg, "local", fields, NFIELDS, &json, &d),
                     AGENTD_ECONFIG);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].path, "sandboxes.local.image");
    assert_string_equal(d.items[0].file, "<defaults>");
    host_diags_free(&d);
    host_config_free(cfg);
}

static void test_diags_accumulate_and_null_arguments(void **state)
{
    (void)state;
    host_config_t *cfg = with_section("{\"bogus\": 1}");
    host_diags_t d = {0};
    char *json = NULL;
    assert_int_equal(host_config_plugin_settings(cfg, "p", NULL, 0, &json, &d), AGENTD_ECONFIG);
    assert_int_equal(host_config_plugin_settings(cfg, "p", NULL, 0, &json, &d), AGENTD_ECONFIG);
    assert_int_equal(d.count, 2);
    host_diags_free(&d);
    /* No diagnostics list: still a clean answer. */
    assert_int_equal(host_config_plugin_settings(cfg, "p", NULL, 0, &json, NULL),
                     AGENTD_ECONFIG);
    assert_null(json);

    assert_int_equal(host_config_plugin_settings(NULL, "p", NULL, 0, &json, &d), AGENTD_EINVAL);
    assert_int_equal(host_config_plugin_settings(cfg, NULL, NULL, 0, &json, &d), AGENTD_EINVAL);
    assert_int_equal(host_config_plugin_settings(cfg, "p", NULL, 0, NULL, &d), AGENTD_EINVAL);
    assert_int_equal(host_config_profile_settings(NULL, "x", NULL, 0, &json, &d), AGENTD_EINVAL);
    assert_int_equal(host_config_profile_settings(cfg, NULL, NULL, 0, &json, &d), AGENTD_EINVAL);
    host_diags_free(&d);

    /* Another plugin's section is not this one's. */
    assert_int_equal(host_config_plugin_settings(cfg, "q", NULL, 0, &json, &d), 0);
    assert_int_equal(d.count, 0);
    assert_string_equal(json, "{}");
    free(json);
    host_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_accepted),
        cmocka_unit_test(test_defaults_filled_in),
        cmocka_unit_test(test_wrong_types_with_positions),
        cmocka_unit_test(test_int_bounds),
        cmocka_unit_test(test_secret_fields),
        cmocka_unit_test(test_required_missing),
        cmocka_unit_test(test_absent_section_gives_defaults),
        cmocka_unit_test(test_unknown_settings),
        cmocka_unit_test(test_bad_default_json_is_a_diagnostic),
        cmocka_unit_test(test_broken_declarations),
        cmocka_unit_test(test_larger_field_struct_uses_its_stride),
        cmocka_unit_test(test_smaller_field_struct_is_zero_extended),
        cmocka_unit_test(test_profile_settings),
        cmocka_unit_test(test_builtin_profile_settings),
        cmocka_unit_test(test_diags_accumulate_and_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
