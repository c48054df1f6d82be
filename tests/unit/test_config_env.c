/* ${ENV_VAR} substitution in config string values: set and unset variables
 * (with key path and position), the $${ escape, ${secret:NAME} left for the
 * secrets store, keys never substituted, one pass only, and no substituted
 * value ever shown in a diagnostic. */
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

#define SECRET_VALUE "hunter2-S3CR3T"

static int setup(void **state)
{
    (void)state;
    setenv("AGENTD_T_DIR", "/srv/data", 1);
    setenv("AGENTD_T_EMPTY", "", 1);
    setenv("AGENTD_T_SECRET", SECRET_VALUE, 1);
    setenv("AGENTD_T_NESTED", "${AGENTD_T_UNSET}", 1);
    setenv("AGENTD_T_PLUGIN", "sandbox-docker", 1);
    setenv("AGENTD_T_BADUTF8", "a\xff", 1);
    unsetenv("AGENTD_T_UNSET");
    unsetenv("AGENTD_T_UNSET2");
    return 0;
}

static void dump(const host_diags_t *d)
{
    host_diags_print(d, stderr);
}

static host_config_t *load_ok(const char *text)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = host_config_load_text(text, strlen(text), "env.json", &cfg, &d);
    if (rc != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    assert_int_equal(d.count, 0);
    host_diags_free(&d);
    return cfg;
}

static host_diags_t load_bad(const char *text)
{
    host_config_t *cfg = NULL;
    host_diags_t d = {0};
    int rc = host_config_load_text(text, strlen(text), "env.json", &cfg, &d);
    if (rc != AGENTD_ECONFIG)
        dump(&d);
    assert_int_equal(rc, AGENTD_ECONFIG);
    assert_null(cfg);
    return d;
}

/* No diagnostic mentions the secret value, in any field. */
static void assert_no_secret(const host_diags_t *d)
{
    for (size_t i = 0; i < d->count; i++) {
        assert_null(strstr(d->items[i].message, SECRET_VALUE));
        assert_null(strstr(d->items[i].path, SECRET_VALUE));
        assert_null(strstr(d->items[i].message, "hunter2"));
    }
    char buf[8192] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    host_diags_print(d, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
}

/* The JSON a plugin with one STRING field `name` would get. */
static char *plugin_string(const host_config_t *cfg, const char *plugin, const char *name)
{
    agentd_config_field_t f[] = {
        {.size = sizeof(agentd_config_field_t), .name = name, .type = AGENTD_CONFIG_STRING}};
    char *json = NULL;
    host_diags_t d = {0};
    int rc = host_config_plugin_settings(cfg, plugin, f, 1, &json, &d);
    if (rc != 0)
        dump(&d);
    assert_int_equal(rc, 0);
    host_diags_free(&d);
    json_error_t err;
    json_t *j = json_loads(json, 0, &err);
    assert_non_null(j);
    char *v = strdup(json_string_value(json_object_get(j, name)));
    json_decref(j);
    free(json);
    return v;
}

static void test_set_variables_are_substituted(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok(
        "{\"data_dir\": \"${AGENTD_T_DIR}/agentd\",\n"
        " \"listen\": {\"address\": \"${AGENTD_T_DIR}${AGENTD_T_EMPTY}-${AGENTD_T_DIR}\"},\n"
        " \"plugins\": {\"dirs\": [\"/a\", \"${AGENTD_T_DIR}/plugins\"],\n"
        "             \"settings\": {\"p\": {\"s\": \"x${AGENTD_T_DIR}y\"}}}}");
    assert_string_equal(cfg->data_dir, "/srv/data/agentd");
    assert_string_equal(cfg->listen_address, "/srv/data-/srv/data");
    assert_string_equal(cfg->plugin_dirs[1], "/srv/data/plugins");
    char *s = plugin_string(cfg, "p", "s");
    assert_string_equal(s, "x/srv/datay");
    free(s);
    host_config_free(cfg);
}

static void test_unset_variable_names_variable_path_and_position(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\n"
                              "  \"data_dir\": \"${AGENTD_T_UNSET}\",\n"
                              "  \"plugins\": {\"dirs\": [\"/ok\", \"${AGENTD_T_UNSET2}/x\"]}\n"
                              "}");
    assert_int_equal(d.count, 2);
    assert_string_equal(d.items[0].path, "data_dir");
    assert_int_equal(d.items[0].line, 2);
    assert_int_equal(d.items[0].column, 3);
    assert_non_null(strstr(d.items[0].message, "AGENTD_T_UNSET is not set"));
    assert_string_equal(d.items[1].path, "plugins.dirs[1]");
    assert_int_equal(d.items[1].line, 3);
    assert_int_equal(d.items[1].column, 31);
    assert_non_null(strstr(d.items[1].message, "AGENTD_T_UNSET2"));
    host_diags_free(&d);
}

static void test_unset_variable_is_reported_once(void **state)
{
    (void)state;
    /* An enum whose substitution failed is not checked again. */
    host_diags_t d = load_bad("{\"log\": {\"level\": \"${AGENTD_T_UNSET}\"}}");
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].path, "log.level");
    host_diags_free(&d);
    /* Every unset variable of one string is reported. */
    d = load_bad("{\"data_dir\": \"${AGENTD_T_UNSET}/${AGENTD_T_UNSET2}\"}");
    assert_int_equal(d.count, 2);
    host_diags_free(&d);
}

static void test_escape_and_lone_dollars(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok(
        "{\"data_dir\": \"$${AGENTD_T_UNSET} costs $5, $$ and $ and $$$${x}\"}");
    /* Only "$${" is special: "$$$${x}" is "$$" then "$${x}". */
    assert_string_equal(cfg->data_dir, "${AGENTD_T_UNSET} costs $5, $$ and $ and $$${x}");
    host_config_free(cfg);
    cfg = load_ok("{\"data_dir\": \"end$\"}");
    assert_string_equal(cfg->data_dir, "end$");
    host_config_free(cfg);
}

static void test_secret_references_are_left_alone(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok(
        "{\"plugins\": {\"settings\": {\"p\": {\"a\": \"${secret:GITHUB_TOKEN}\"}}}}");
    char *a = plugin_string(cfg, "p", "a");
    assert_string_equal(a, "${secret:GITHUB_TOKEN}");
    free(a);
    host_config_free(cfg);

    cfg = load_ok("{\"plugins\": {\"settings\": {\"p\": {\"b\": \"Bearer ${secret:api/key} and "
                  "${AGENTD_T_DIR}\"}}}}");
    char *b = plugin_string(cfg, "p", "b");
    assert_string_equal(b, "Bearer ${secret:api/key} and /srv/data");
    free(b);
    host_config_free(cfg);
}

static void test_keys_are_not_substituted(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok("{\"plugins\": {\"settings\": {\"p\": {\"${AGENTD_T_DIR}\": "
                                 "\"${AGENTD_T_DIR}\"}}}}");
    char *v = plugin_string(cfg, "p", "${AGENTD_T_DIR}");
    assert_string_equal(v, "/srv/data");
    free(v);
    host_config_free(cfg);
}

static void test_one_pass_only(void **state)
{
    (void)state;
    /* AGENTD_T_NESTED's value is "${AGENTD_T_UNSET}": kept as text, not
     * expanded again (and so no error about AGENTD_T_UNSET). */
    host_config_t *cfg = load_ok("{\"data_dir\": \"${AGENTD_T_NESTED}\"}");
    assert_string_equal(cfg->data_dir, "${AGENTD_T_UNSET}");
    host_config_free(cfg);
}

static void test_bad_references(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"data_dir\": \"${AGENTD_T_DIR\",\n"
                              " \"listen\": {\"address\": \"${1BAD}\"},\n"
                              " \"plugins\": {\"dirs\": [\"${}\", \"${A-B}\"]}}");
    assert_int_equal(d.count, 4);
    assert_string_equal(d.items[0].path, "data_dir");
    assert_non_null(strstr(d.items[0].message, "unterminated ${"));
    assert_non_null(strstr(d.items[0].message, "$${"));
    assert_string_equal(d.items[1].path, "listen.address");
    assert_non_null(strstr(d.items[1].message, "invalid environment variable reference \"${1BAD}\""));
    assert_string_equal(d.items[2].path, "plugins.dirs[0]");
    assert_string_equal(d.items[3].path, "plugins.dirs[1]");
    host_diags_free(&d);
}

static void test_value_must_be_utf8(void **state)
{
    (void)state;
    host_diags_t d = load_bad("{\"data_dir\": \"${AGENTD_T_BADUTF8}\"}");
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(d.items[0].message, "AGENTD_T_BADUTF8 is not valid UTF-8"));
    host_diags_free(&d);
}

static void test_comments_are_not_substituted(void **state)
{
    (void)state;
    host_config_t *cfg = load_ok("{\"//\": \"write ${NAME} for a variable\", "
                                 "\"listen\": {\"// port\": \"${AGENTD_T_UNSET}\"}}");
    host_config_free(cfg);
}

static void test_substituted_values_never_appear_in_diagnostics(void **state)
{
    (void)state;
    /* An enum from the environment with a wrong value. */
    host_diags_t d = load_bad("{\"log\": {\"level\": \"${AGENTD_T_SECRET}\"},\n"
                              " \"default_sandbox\": \"${AGENTD_T_SECRET}\",\n"
                              " \"sandboxes\": {\"x\": {\"plugin\": \"${AGENTD_T_PLUGIN}\"}}}");
    assert_int_equal(d.count, 3);
    assert_string_equal(d.items[0].path, "log.level");
    assert_non_null(strstr(d.items[0].message, "from the environment"));
    assert_string_equal(d.items[1].path, "default_sandbox");
    assert_non_null(strstr(d.items[1].message, "from the environment"));
    assert_string_equal(d.items[2].path, "sandboxes.x.plugin");
    assert_null(strstr(d.items[2].message, "sandbox-docker"));
    assert_no_secret(&d);
    host_diags_free(&d);

    /* A SECRET field whose value came from the environment. */
    host_config_t *cfg = load_ok(
        "{\"plugins\": {\"settings\": {\"p\": {\"token\": \"${AGENTD_T_SECRET}\"}}}}");
    agentd_config_field_t f[] = {{.size = sizeof(agentd_config_field_t), .name = "token",
                                  .type = AGENTD_CONFIG_SECRET}};
    char *json = (char *)1;
    assert_int_equal(host_config_plugin_settings(cfg, "p", f, 1, &json, &d), AGENTD_ECONFIG);
    assert_null(json);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.items[0].path, "plugins.settings.p.token");
    assert_non_null(strstr(d.items[0].message, "environment variable"));
    assert_non_null(strstr(d.items[0].message, "${secret:NAME}"));
    assert_no_secret(&d);
    host_diags_free(&d);

    /* A plugin setting of the wrong type next to a secret: only the key. */
    agentd_config_field_t g[] = {{.size = sizeof(agentd_config_field_t), .name = "token",
                                  .type = AGENTD_CONFIG_INT}};
    assert_int_equal(host_config_plugin_settings(cfg, "p", g, 1, &json, &d), AGENTD_ECONFIG);
    assert_no_secret(&d);
    host_diags_free(&d);
    host_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_variables_are_substituted),
        cmocka_unit_test(test_unset_variable_names_variable_path_and_position),
        cmocka_unit_test(test_unset_variable_is_reported_once),
        cmocka_unit_test(test_escape_and_lone_dollars),
        cmocka_unit_test(test_secret_references_are_left_alone),
        cmocka_unit_test(test_keys_are_not_substituted),
        cmocka_unit_test(test_one_pass_only),
        cmocka_unit_test(test_bad_references),
        cmocka_unit_test(test_value_must_be_utf8),
        cmocka_unit_test(test_comments_are_not_substituted),
        cmocka_unit_test(test_substituted_values_never_appear_in_diagnostics),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
