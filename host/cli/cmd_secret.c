/* `agentd secret ...`: set, list, remove and check secrets; rotate the master
 * key. Values come from stdin or a no-echo prompt, never from argv, and are
 * never printed. docs/secrets.md is the operator's guide. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "secrets/crypto.h"
#include "secrets/secrets.h"
#include "store/db.h"

#define PROG "agentd secret"

static const char usage_text[] =
    "usage: agentd [--config FILE] secret COMMAND [ARGS]\n"
    "\n"
    "Secrets are encrypted at rest (AES-256-GCM) in <data_dir>/agentd.db, under a\n"
    "master key from $AGENTD_MASTER_KEY or <data_dir>/master.key (created 0600 on\n"
    "first use). Config files and sessions refer to them as ${secret:NAME}.\n"
    "\n"
    "Commands:\n"
    "  set NAME        store or replace NAME; the value is read from stdin (all of\n"
    "                  it, minus one trailing newline), or prompted for without echo\n"
    "                  on a terminal; never give it as an argument\n"
    "  ls [--json]     list the secrets: name, scope, created, updated (never values)\n"
    "  rm NAME         remove NAME\n"
    "  check NAME      decrypt NAME and print \"ok\" (never the value)\n"
    "  rotate-key      replace the master key; the secrets stay readable and a running\n"
    "                  daemon keeps working (with $AGENTD_MASTER_KEY, give the new key\n"
    "                  in $AGENTD_NEW_MASTER_KEY)\n"
    "\n"
    "Names: letters, digits and _, not starting with a digit, at most 128.\n"
    "Values: 4 bytes to 64 KiB. Exit status: 0 ok, 1 failed, 2 usage.\n";

static int usage_error(const char *fmt, ...) AGENTD_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n`agentd secret --help` for usage\n");
    va_end(ap);
    return CLI_USAGE;
}

typedef struct secret_cli {
    host_config_t *cfg;
    host_log_t log;
    int log_ok;
    host_db_t *db;
    host_secrets_t *store;
} secret_cli_t;

static void cli_close(secret_cli_t *c)
{
    if (c->log_ok) {
        c->log.redact = NULL;
        c->log.redact_ud = NULL;
    }
    host_secrets_close(c->store);
    host_db_close(c->db);
    if (c->log_ok)
        host_log_close(&c->log);
    host_config_free(c->cfg);
}

static int cli_open(const cli_global_t *g, int with_redactor, secret_cli_t *c)
{
    memset(c, 0, sizeof *c);
    if (cli_load_config(g, &c->cfg) != 0)
        return CLI_FAILED;
    if (host_log_init(&c->log, c->cfg->log_level, c->cfg->log_format, stderr) != 0) {
        host_config_free(c->cfg);
        fprintf(stderr, PROG ": out of memory\n");
        return CLI_FAILED;
    }
    c->log_ok = 1;
    int rc = host_mkdir_p(c->cfg->data_dir, 0700);
    if (rc != 0) {
        fprintf(stderr, PROG ": data_dir %s cannot be created: %s\n", c->cfg->data_dir,
                strerror(-rc));
        cli_close(c);
        return CLI_FAILED;
    }
    size_t n = strlen(c->cfg->data_dir) + sizeof "/agentd.db";
    char *path = malloc(n);
    if (path == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        cli_close(c);
        return CLI_FAILED;
    }
    snprintf(path, n, "%s/agentd.db", c->cfg->data_dir);
    agentd_err_t err = {{0}};
    rc = host_db_open(path, &c->db, &err);
    free(path);
    if (rc == 0) {
        host_secrets_opts_t o = {
            .data_dir = c->cfg->data_dir,
            .master_key_file = host_secrets_config_master_key_file(c->cfg),
            .master_key_env = getenv(HOST_SECRETS_ENV_MASTER_KEY),
            .log = &c->log,
            .no_redactor = !with_redactor,
        };
        if (o.master_key_env != NULL && o.master_key_env[0] == '\0')
            o.master_key_env = NULL;
        rc = host_secrets_open(c->db, &o, &c->store, &err);
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        cli_close(c);
        return CLI_FAILED;
    }
    if (with_redactor) {
        c->log.redact = host_redact_log_hook;
        c->log.redact_ud = host_secrets_redact_source(c->store);
    }
    return 0;
}

/* ---- reading the value ------------------------------------------------------------- */

/* Reads all of fd into buf (capacity cap); *len is what was read, and
 * *more is set if there was more than cap. */
static int read_all(int fd, char *buf, size_t cap, size_t *len, int *more)
{
    *len = 0;
    *more = 0;
    for (;;) {
        char extra;
        char *dst = *len < cap ? buf + *len : &extra;
        size_t room = *len < cap ? cap - *len : 1;
        ssize_t k = read(fd, dst, room);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            return 0;
        if (*len >= cap) {
            *more = 1;
            extra = 0;
            return 0;
        }
        *len += (size_t)k;
    }
}

/* One line from the terminal with echo (and signals) off, so the value is
 * neither shown nor left half-typed by Ctrl-C; Ctrl-C and Ctrl-D cancel.
 * Returns 0, 1 (cancelled) or -1. */
static int read_hidden(const char *prompt, char *buf, size_t cap, size_t *len)
{
    struct termios old, quiet;
    *len = 0;
    if (tcgetattr(STDIN_FILENO, &old) != 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ISIG);
    quiet.c_lflag |= ICANON;
    /* Echo goes off before the prompt shows, so nothing typed is echoed. */
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
        return -1;
    fputs(prompt, stderr);
    fflush(stderr);
    int rc = 1;
    for (;;) {
        char ch;
        ssize_t k = read(STDIN_FILENO, &ch, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0 || ch == 0x03 || ch == 0x04)
            break; /* EOF, Ctrl-C, Ctrl-D: cancelled */
        if (ch == '\n' || ch == '\r') {
            rc = 0;
            break;
        }
        if (*len < cap)
            buf[(*len)++] = ch;
        else
            *len = cap + 1; /* too long: reported by the caller */
        ch = 0;
    }
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    return rc;
}

/* The value, into a buffer the caller wipes. Returns 0 or a CLI code. */
static int read_value(const char *name, char *buf, size_t cap, size_t *len)
{
    if (isatty(STDIN_FILENO)) {
        char prompt[HOST_SECRET_NAME_MAX + 32];
        snprintf(prompt, sizeof prompt, "Value for %s: ", name);
        size_t len2 = 0;
        char *again = malloc(cap);
        if (again == NULL) {
            fprintf(stderr, PROG ": out of memory\n");
            return CLI_FAILED;
        }
        int rc = read_hidden(prompt, buf, cap, len);
        if (rc == 0)
            rc = read_hidden("Again, to confirm: ", again, cap, &len2);
        int same = rc == 0 && *len == len2 && memcmp(buf, again, *len <= cap ? *len : cap) == 0;
        sec_wipe_free(again, cap);
        if (rc < 0) {
            fprintf(stderr, PROG " set: cannot read from the terminal: %s\n", strerror(errno));
            return CLI_FAILED;
        }
        if (rc > 0) {
            fprintf(stderr, PROG " set: cancelled; nothing stored\n");
            return CLI_FAILED;
        }
        if (!same) {
            fprintf(stderr, PROG " set: the two values differ; nothing stored\n");
            return CLI_FAILED;
        }
        if (*len > cap - 1) {
            fprintf(stderr, PROG " set: the value is longer than %d bytes\n",
                    HOST_SECRET_VALUE_MAX);
            return CLI_FAILED;
        }
        return 0;
    }
    int more = 0;
    if (read_all(STDIN_FILENO, buf, cap, len, &more) != 0) {
        fprintf(stderr, PROG " set: cannot read the value from stdin: %s\n", strerror(errno));
        return CLI_FAILED;
    }
    if (*len > 0 && buf[*len - 1] == '\n')
        (*len)--;
    if (more || *len > HOST_SECRET_VALUE_MAX) {
        fprintf(stderr, PROG " set: the value on stdin is longer than %d bytes (64 KiB)\n",
                HOST_SECRET_VALUE_MAX);
        return CLI_FAILED;
    }
    return 0;
}

/* ---- commands ------------------------------------------------------------------- */

static int cmd_set(int argc, char **argv, const cli_global_t *g)
{
    if (argc < 2)
        return usage_error("set needs a NAME");
    if (argc > 2)
        return usage_error("set takes only a NAME (got an extra argument%s): the value is read "
                           "from stdin or a prompt, never from the command line, where it would "
                           "be visible to other users in the process list and kept in shell "
                           "history. Example: agentd secret set GH_TOKEN < token.txt",
                           argc > 3 ? "s" : "");
    const char *name = argv[1];
    agentd_err_t err = {{0}};
    if (host_secrets_check_name(name, &err) != 0) {
        fprintf(stderr, PROG " set: %s\n", err.msg);
        return CLI_USAGE;
    }
    /* One more than the limit, plus the newline, so "too long" is seen. */
    size_t cap = HOST_SECRET_VALUE_MAX + 2;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return CLI_FAILED;
    }
    size_t len = 0;
    int rc = read_value(name, buf, cap, &len);
    if (rc == 0 && host_secrets_check_value(buf, len, &err) != 0) {
        fprintf(stderr, PROG " set: %s; nothing stored\n", err.msg);
        rc = CLI_FAILED;
    }
    secret_cli_t c;
    if (rc == 0 && (rc = cli_open(g, 1, &c)) == 0) {
        int created = 0;
        if (host_secrets_set(c.store, name, buf, len, &created, &err) != 0) {
            fprintf(stderr, PROG " set: %s\n", err.msg);
            rc = CLI_FAILED;
        } else {
            printf("%s secret %s\n", created ? "created" : "replaced", name);
        }
        cli_close(&c);
    }
    sec_wipe_free(buf, cap);
    return rc;
}

static int cmd_ls(int argc, char **argv, const cli_global_t *g)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return usage_error("ls: unexpected argument \"%s\" (ls [--json])", argv[i]);
    }
    secret_cli_t c;
    if (cli_open(g, 0, &c) != 0)
        return CLI_FAILED;
    host_secret_info_t *items = NULL;
    size_t n = 0;
    agentd_err_t err = {{0}};
    int rc = CLI_OK;
    if (host_secrets_list(c.store, &items, &n, &err) != 0) {
        fprintf(stderr, PROG " ls: %s\n", err.msg);
        rc = CLI_FAILED;
    } else if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && i < n; i++) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", items[i].name, "scope",
                                  items[i].scope, "created", items[i].created, "updated",
                                  items[i].updated);
            if (o != NULL && items[i].scope_id[0] != '\0')
                json_object_set_new(o, "scope_id", json_string(items[i].scope_id));
            if (o == NULL || json_array_append_new(arr, o) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        char *text = arr != NULL ? json_dumps(arr, JSON_INDENT(2)) : NULL;
        if (text == NULL) {
            fprintf(stderr, PROG " ls: out of memory\n");
            rc = CLI_FAILED;
        } else {
            printf("%s\n", text);
        }
        free(text);
        json_decref(arr);
    } else if (n == 0) {
        fprintf(stderr, "no secrets; add one with `agentd secret set NAME`\n");
    } else {
        int w = 4;
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(items[i].name) > w)
                w = (int)strlen(items[i].name);
        printf("%-*s  %-7s  %-20s  %s\n", w, "NAME", "SCOPE", "CREATED", "UPDATED");
        for (size_t i = 0; i < n; i++)
            printf("%-*s  %-7s  %-20s  %s\n", w, items[i].name, items[i].scope, items[i].created,
                   items[i].updated);
    }
    host_secrets_list_free(items, n);
    cli_close(&c);
    return rc;
}

static int cmd_name(int argc, char **argv, const cli_global_t *g, const char *what)
{
    if (argc != 2)
        return argc < 2 ? usage_error("%s needs a NAME", what)
                        : usage_error("%s takes exactly one NAME", what);
    agentd_err_t err = {{0}};
    if (host_secrets_check_name(argv[1], &err) != 0) {
        fprintf(stderr, PROG " %s: %s\n", what, err.msg);
        return CLI_USAGE;
    }
    int check = strcmp(what, "check") == 0;
    secret_cli_t c;
    if (cli_open(g, 0, &c) != 0)
        return CLI_FAILED;
    int rc = check ? host_secrets_check(c.store, argv[1], &err)
                   : host_secrets_remove(c.store, argv[1], &err);
    if (rc != 0)
        fprintf(stderr, PROG " %s: %s\n", what, err.msg);
    else if (check)
        printf("ok\n");
    else
        printf("removed secret %s\n", argv[1]);
    cli_close(&c);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

static int cmd_rotate(int argc, char **argv, const cli_global_t *g)
{
    (void)argv;
    if (argc != 1)
        return usage_error("rotate-key takes no arguments");
    secret_cli_t c;
    if (cli_open(g, 0, &c) != 0)
        return CLI_FAILED;
    char old_id[HOST_SECRET_KEY_ID_LEN + 1], new_id[HOST_SECRET_KEY_ID_LEN + 1];
    agentd_err_t err = {{0}};
    const char *nk = getenv(HOST_SECRETS_ENV_NEW_MASTER_KEY);
    int rc = host_secrets_rotate_master(c.store, nk != NULL && nk[0] != '\0' ? nk : NULL, old_id,
                                        new_id, &err);
    if (rc != 0) {
        fprintf(stderr, PROG " rotate-key: %s\n", err.msg);
    } else {
        printf("master key rotated: key id %s -> %s (%s)\n", old_id, new_id,
               host_secrets_master_key_source(c.store));
        if (nk != NULL && nk[0] != '\0')
            printf("start agentd with %s set to the new key from now on\n",
                   HOST_SECRETS_ENV_MASTER_KEY);
        else
            printf("back up the new key file; the old key no longer opens the secrets\n");
    }
    cli_close(&c);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}

int cli_cmd_secret(int argc, char **argv, const cli_global_t *g)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return CLI_USAGE;
    }
    if (cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    if (strcmp(sub, "set") == 0)
        return cmd_set(argc, argv, g);
    if (strcmp(sub, "ls") == 0 || strcmp(sub, "list") == 0)
        return cmd_ls(argc, argv, g);
    if (strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0)
        return cmd_name(argc, argv, g, "rm");
    if (strcmp(sub, "check") == 0)
        return cmd_name(argc, argv, g, "check");
    if (strcmp(sub, "rotate-key") == 0)
        return cmd_rotate(argc, argv, g);
    return usage_error("unknown command \"%s\" (set, ls, rm, check, rotate-key)", sub);
}
