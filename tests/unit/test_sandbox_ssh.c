/*
 * sandbox-ssh's pure parts, compiled in from the plugin's sources: quoting
 * for the remote shell (checked by running /bin/sh on the result), the
 * placement policy, what an ssh failure means, the backoff, and the
 * settings' errors naming their field. The remote behaviour is tested
 * against real sshd in tests/integration/sandbox_ssh/.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../plugins/sandbox-ssh/src/config.c"
#include "../../plugins/sandbox-ssh/src/failure.c"
#include "../../plugins/sandbox-ssh/src/placement.c"
#include "../../plugins/sandbox-ssh/src/shell.c"

/* What /bin/sh makes of `printf %s <quoted>` after the prelude. */
static char *shell_roundtrip(const char *text)
{
    ssh_str_t b = {0};
    ssh_str_add(&b, SSH_SCRIPT_PRELUDE "printf %s ");
    ssh_str_quote(&b, text);
    assert_false(b.failed);
    char path[] = "/tmp/test_sandbox_ssh_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b.s, b.len), (ssize_t)b.len);
    close(fd);
    ssh_str_free(&b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "/bin/sh %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, 4096);
    size_t n = fread(out, 1, 4095, p);
    out[n] = '\0';
    pclose(p);
    unlink(path);
    return out;
}

static void quoting_survives_the_shell(void **state)
{
    (void)state;
    const char *cases[] = {"plain", "with space", "it's", "'", "''", "a\nb\n", "\n",
                           "$HOME `id` $(id) \\ \" ; & | * ? ~ # !", "", "-n", "%s %d"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = shell_roundtrip(cases[i]);
        assert_string_equal(out, cases[i]);
        free(out);
    }
}

static void hash_is_stable(void **state)
{
    (void)state;
    char a[17], b[17], c[17];
    ssh_hash_hex("https://example.com/a.git", a);
    ssh_hash_hex("https://example.com/a.git", b);
    ssh_hash_hex("https://example.com/b.git", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 16);
}

static ssh_host_t *host(ssh_plugin_t *pl, const char *name, unsigned cap, unsigned load,
                        const char *label)
{
    ssh_host_t *h = calloc(1, sizeof *h);
    h->pl = pl;
    h->index = (unsigned)pl->nhosts;
    h->name = strdup(name);
    h->capacity = cap;
    h->load = load;
    h->enabled = 1;
    h->labels = calloc(2, sizeof *h->labels);
    if (label != NULL)
        h->labels[0] = strdup(label);
    pl->hosts = realloc(pl->hosts, (pl->nhosts + 1) * sizeof *pl->hosts);
    pl->hosts[pl->nhosts++] = h;
    return h;
}

static void placement_least_loaded_with_labels(void **state)
{
    (void)state;
    ssh_plugin_t pl = {0};
    ssh_host_t *a = host(&pl, "a", 4, 2, "gpu"); /* 1/2 loaded */
    ssh_host_t *b = host(&pl, "b", 2, 0, NULL);  /* empty */
    ssh_host_t *c = host(&pl, "c", 1, 1, "gpu"); /* full */
    char *no_labels[] = {NULL}, *gpu[] = {"gpu", NULL}, *only_c[] = {"c", NULL};
    ssh_profile_t any = {.hosts = no_labels, .labels = no_labels};
    ssh_profile_t want_gpu = {.hosts = no_labels, .labels = gpu};
    ssh_profile_t want_c = {.hosts = only_c, .labels = no_labels};
    char msg[200];
    assert_ptr_equal(ssh_place(&pl, &any, 0, msg, sizeof msg), b);
    assert_ptr_equal(ssh_place(&pl, &want_gpu, 0, msg, sizeof msg), a);
    /* Already tried b: a. */
    assert_ptr_equal(ssh_place(&pl, &any, 1ull << b->index, msg, sizeof msg), a);
    /* c is full. */
    assert_int_equal(c->load, c->capacity);
    assert_null(ssh_place(&pl, &want_c, 0, msg, sizeof msg));
    assert_non_null(strstr(msg, "capacity"));
    /* A host whose last connection failed comes after the others. */
    snprintf(b->reason, sizeof b->reason, "cannot connect");
    assert_ptr_equal(ssh_place(&pl, &any, 0, msg, sizeof msg), a);
    /* Refused and disabled hosts are never chosen. */
    a->state = SSH_HOST_REFUSED;
    b->enabled = 0;
    assert_null(ssh_place(&pl, &any, 0, msg, sizeof msg));
    /* Ties: more free slots, then configuration order. */
    a->state = SSH_HOST_UP;
    b->enabled = 1;
    b->reason[0] = '\0';
    a->load = 1;
    b->load = 0;
    a->capacity = 2;
    b->capacity = 1;
    assert_ptr_equal(ssh_place(&pl, &any, 0, msg, sizeof msg), b); /* 0/1 < 1/2 */
    b->load = 1;
    assert_ptr_equal(ssh_place(&pl, &any, 0, msg, sizeof msg), a); /* 1/2 < 1/1 */
    ssh_hosts_free(&pl);
}

static void failures_are_classified(void **state)
{
    (void)state;
    char why[300];
    assert_true(ssh_classify_refusal(
        "@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
        "Host key for [127.0.0.1]:2222 has changed and you have requested strict checking.\r\n"
        "Host key verification failed.\r\n", why, sizeof why));
    assert_non_null(strstr(why, "changed"));
    assert_true(ssh_classify_refusal("No ED25519 host key is known for [127.0.0.1]:2222 and "
                                     "you have requested strict checking.\r\nHost key "
                                     "verification failed.\r\n", why, sizeof why));
    assert_non_null(strstr(why, "not in known_hosts"));
    assert_true(ssh_classify_refusal("agent@127.0.0.1: Permission denied (publickey).\r\n", why,
                                     sizeof why));
    assert_non_null(strstr(why, "authentication"));
    assert_false(ssh_classify_refusal("ssh: connect to host 127.0.0.1 port 2222: Connection "
                                      "refused\r\n", why, sizeof why));
    assert_false(ssh_classify_refusal("Connection timed out during banner exchange", why,
                                      sizeof why));
}

static void backoff_doubles_up_to_the_limit(void **state)
{
    (void)state;
    ssh_plugin_t pl = {.backoff_base_ms = 200, .backoff_max_ms = 1000};
    assert_int_equal(ssh_backoff_ms(&pl, 1), 200);
    assert_int_equal(ssh_backoff_ms(&pl, 2), 400);
    assert_int_equal(ssh_backoff_ms(&pl, 3), 800);
    assert_int_equal(ssh_backoff_ms(&pl, 4), 1000);
    assert_int_equal(ssh_backoff_ms(&pl, 20), 1000);
}

static int read_config(const char *json, agentd_err_t *err)
{
    ssh_plugin_t pl = {.state_dir = "/tmp/state"};
    memset(err, 0, sizeof *err);
    int rc = ssh_config_read(&pl, json, strlen(json), err);
    ssh_hosts_free(&pl);
    free(pl.known_hosts);
    free(pl.key_secret);
    free(pl.key_file);
    return rc;
}

static void settings_errors_name_the_field(void **state)
{
    (void)state;
    agentd_err_t err;
    const char *ok = "{\"known_hosts\": \"/etc/kh\", \"key\": \"${secret:K}\", \"hosts\": "
                     "{\"h1\": {\"address\": \"10.0.0.1\", \"user\": \"u\", \"root\": \"/srv\"}}}";
    assert_int_equal(read_config(ok, &err), 0);
    struct {
        const char *json, *want;
    } bad[] = {
        {"{\"key\": \"${secret:K}\", \"hosts\": {\"h1\": {\"address\": \"a\", \"user\": \"u\", "
         "\"root\": \"/srv\"}}}", "known_hosts is required"},
        {"{\"known_hosts\": \"/kh\", \"hosts\": {\"h1\": {\"address\": \"a\", \"user\": \"u\", "
         "\"root\": \"/srv\"}}}", "hosts.h1 has no key"},
        {"{\"known_hosts\": \"/kh\", \"key\": \"${secret:K}\", \"hosts\": {\"h1\": {\"user\": "
         "\"u\", \"root\": \"/srv\"}}}", "hosts.h1.address is required"},
        {"{\"known_hosts\": \"/kh\", \"key\": \"${secret:K}\", \"hosts\": {\"h1\": {\"address\": "
         "\"a\", \"user\": \"u\", \"root\": \"/\"}}}", "hosts.h1.root must be"},
        {"{\"known_hosts\": \"/kh\", \"key\": \"${secret:K}\", \"hosts\": {\"h1\": {\"address\": "
         "\"a\", \"user\": \"u\", \"root\": \"/srv\", \"port\": 70000}}}", "hosts.h1.port"},
        {"{\"known_hosts\": \"/kh\", \"key\": \"${secret:K}\", \"hosts\": {\"h1\": {\"address\": "
         "\"a\", \"user\": \"u\", \"root\": \"/srv\", \"colour\": 1}}}", "hosts.h1.colour: unknown"},
        {"{\"known_hosts\": \"/kh\", \"key\": \"${secret:K}\", \"hosts\": {\"h1\": {\"address\": "
         "\"a\", \"user\": \"u\", \"root\": \"/srv\", \"key\": \"plain text\"}}}",
         "hosts.h1.key must be a secret reference"},
        {"{\"known_hosts\": \"/kh\", \"key\": \"${secret:K}\", \"hosts\": {\"h1\": {\"address\": "
         "\"a; rm -rf /\", \"user\": \"u\", \"root\": \"/srv\"}}}", "hosts.h1.address"},
        {"{\"known_hosts\": \"relative\"}", "known_hosts must be an absolute path"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_not_equal(read_config(bad[i].json, &err), 0);
        if (strstr(err.msg, bad[i].want) == NULL)
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err.msg, bad[i].want);
        /* A secret's value is never echoed. */
        assert_null(strstr(err.msg, "plain text"));
    }
}

static void profiles_and_secret_references(void **state)
{
    (void)state;
    ssh_profile_t p;
    agentd_err_t err = {{0}};
    const char *json = "{\"hosts\": [\"a\"], \"labels\": [\"gpu\"], \"env\": [\"A=1\"], "
                       "\"timeout_minutes\": 5, \"repository\": \"file:///r.git\"}";
    assert_int_equal(ssh_profile_read(&p, json, strlen(json), &err), 0);
    assert_string_equal(p.hosts[0], "a");
    assert_string_equal(p.labels[0], "gpu");
    assert_string_equal(p.repository, "file:///r.git");
    assert_int_equal(p.timeout_minutes, 5);
    ssh_profile_clear(&p);
    const char *bad = "{\"env\": [\"NOEQUALS\"]}";
    assert_int_not_equal(ssh_profile_read(&p, bad, strlen(bad), &err), 0);
    assert_non_null(strstr(err.msg, "env[0]"));
    char *name = ssh_secret_ref_name("${secret:GH_TOKEN}");
    assert_string_equal(name, "GH_TOKEN");
    free(name);
    assert_null(ssh_secret_ref_name("x${secret:GH_TOKEN}"));
    assert_null(ssh_secret_ref_name("${secret:}"));
    assert_null(ssh_secret_ref_name("plain"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quoting_survives_the_shell),
        cmocka_unit_test(hash_is_stable),
        cmocka_unit_test(placement_least_loaded_with_labels),
        cmocka_unit_test(failures_are_classified),
        cmocka_unit_test(backoff_doubles_up_to_the_limit),
        cmocka_unit_test(settings_errors_name_the_field),
        cmocka_unit_test(profiles_and_secret_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
