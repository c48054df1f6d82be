/* Reading the launch description (launch.h). */
#define _GNU_SOURCE
#include "launch.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int read_exact(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static char *dup_str(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? strdup(s) : NULL;
}

/* A NULL-terminated copy of a JSON array of strings; an absent key gives an
 * empty list. Returns -1 on a wrong type or no memory. */
static int dup_list(json_t *obj, const char *key, char ***out)
{
    json_t *arr = json_object_get(obj, key);
    size_t n = arr != NULL ? json_array_size(arr) : 0;
    if (arr != NULL && !json_is_array(arr))
        return -1;
    char **list = calloc(n + 1, sizeof *list);
    if (list == NULL)
        return -1;
    *out = list;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s == NULL || (list[i] = strdup(s)) == NULL)
            return -1;
    }
    return 0;
}

static uint64_t get_u64(json_t *obj, const char *key, uint64_t dflt)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return dflt;
    return (uint64_t)json_integer_value(v);
}

static int parse_forwards(json_t *root, sbx_launch_t *l)
{
    json_t *arr = json_object_get(root, "forwards");
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    l->forwards = calloc(n, sizeof *l->forwards);
    if (l->forwards == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(arr, i);
        uint64_t port = get_u64(f, "port", 0);
        l->forwards[i].target = dup_str(f, "target");
        if (port == 0 || port > 65535 || l->forwards[i].target == NULL)
            return -1;
        l->forwards[i].port = (uint16_t)port;
        l->forward_count = i + 1;
    }
    return 0;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "seccomp": two hex strings, the compiled filters. */
static int parse_filters(json_t *root, sbx_launch_t *l)
{
    json_t *arr = json_object_get(root, "seccomp");
    if (json_array_size(arr) != 2)
        return 0; /* checked when loading: no filter, no sandbox */
    for (size_t i = 0; i < 2; i++) {
        const char *hex = json_string_value(json_array_get(arr, i));
        size_t n = hex != NULL ? strlen(hex) : 1;
        if (n % 2 != 0 || (l->bpf[i] = malloc(n / 2 + 1)) == NULL)
            return -1;
        for (size_t k = 0; k < n / 2; k++) {
            int hi = hex_digit(hex[2 * k]), lo = hex_digit(hex[2 * k + 1]);
            if (hi < 0 || lo < 0)
                return -1;
            l->bpf[i][k] = (unsigned char)(hi << 4 | lo);
        }
        l->bpf_len[i] = n / 2;
    }
    return 0;
}

static int parse_ids(json_t *root, sbx_launch_t *l)
{
    l->uid = (uid_t)get_u64(root, "uid", 1000);
    l->gid = (gid_t)get_u64(root, "gid", 1000);
    l->host_uid = (uid_t)get_u64(root, "host_uid", 65534);
    l->host_gid = (gid_t)get_u64(root, "host_gid", 65534);
    l->host_pid = (int)get_u64(root, "host_pid", 0);
    return 0;
}

static int parse_root(json_t *root, sbx_launch_t *l)
{
    json_t *rl = json_object_get(root, "rlimits");
    l->sandbox_id = dup_str(root, "sandbox_id");
    l->cwd = dup_str(root, "cwd");
    l->workspace = dup_str(root, "workspace");
    l->home = dup_str(root, "home");
    l->hostname = dup_str(root, "hostname");
    l->proxy_socket = dup_str(root, "proxy_socket");
    l->proxy_port = (uint16_t)get_u64(root, "proxy_port", 0);
    l->probe = json_is_true(json_object_get(root, "probe"));
    l->tmp_bytes = get_u64(root, "tmp_bytes", 256u << 20);
    l->rlimits.fsize = get_u64(rl, "fsize", 0);
    l->rlimits.nofile = get_u64(rl, "nofile", 0);
    l->rlimits.core = get_u64(rl, "core", 0);
    parse_ids(root, l);
    if (dup_list(root, "argv", &l->argv) < 0 || dup_list(root, "env", &l->env) < 0 ||
        dup_list(root, "ro_paths", &l->ro_paths) < 0 ||
        dup_list(root, "protected_paths", &l->protected_paths) < 0 ||
        dup_list(root, "hidden_paths", &l->hidden_paths) < 0 ||
        dup_list(root, "cgroup_procs", &l->cgroup_procs) < 0 || parse_forwards(root, l) < 0 ||
        parse_filters(root, l) < 0)
        return -1;
    return 0;
}

int sbx_launch_parse(const char *json, size_t len, sbx_launch_t *out, char *msg,
                     size_t msg_len)
{
    json_error_t jerr;
    memset(out, 0, sizeof *out);
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        snprintf(msg, msg_len, "launch description is not a JSON object: %s", jerr.text);
        json_decref(root);
        return -1;
    }
    int rc = parse_root(root, out);
    json_decref(root);
    if (rc < 0) {
        snprintf(msg, msg_len, "launch description has a field of the wrong type");
        return -1;
    }
    if (out->workspace == NULL || out->workspace[0] != '/' ||
        (!out->probe && (out->argv == NULL || out->argv[0] == NULL))) {
        snprintf(msg, msg_len, "launch description lacks an absolute workspace or argv");
        return -1;
    }
    return 0;
}

int sbx_launch_read(int fd, sbx_launch_t *out, char *msg, size_t msg_len)
{
    unsigned char hdr[8];
    memset(out, 0, sizeof *out);
    if (read_exact(fd, hdr, sizeof hdr) < 0 || memcmp(hdr, SBX_FRAME_MAGIC, 4) != 0) {
        snprintf(msg, msg_len, "no launch frame on stdin");
        return -1;
    }
    uint32_t len = (uint32_t)hdr[4] | (uint32_t)hdr[5] << 8 | (uint32_t)hdr[6] << 16 |
                   (uint32_t)hdr[7] << 24;
    if (len == 0 || len > SBX_FRAME_MAX) {
        snprintf(msg, msg_len, "launch frame of %u bytes is out of range", len);
        return -1;
    }
    char *buf = malloc(len);
    if (buf == NULL || read_exact(fd, buf, len) < 0) {
        snprintf(msg, msg_len, "launch frame truncated");
        free(buf);
        return -1;
    }
    int rc = sbx_launch_parse(buf, len, out, msg, msg_len);
    explicit_bzero(buf, len); /* it may hold secrets from the environment */
    free(buf);
    return rc;
}

static void free_list(char **list)
{
    if (list == NULL)
        return;
    for (char **p = list; *p != NULL; p++)
        free(*p);
    free(list);
}

void sbx_launch_free(sbx_launch_t *l)
{
    free(l->sandbox_id);
    free(l->cwd);
    free(l->workspace);
    free(l->home);
    free(l->hostname);
    free(l->proxy_socket);
    free_list(l->argv);
    if (l->env != NULL)
        for (char **p = l->env; *p != NULL; p++)
            explicit_bzero(*p, strlen(*p));
    free_list(l->env);
    free_list(l->ro_paths);
    free_list(l->protected_paths);
    free_list(l->hidden_paths);
    free_list(l->cgroup_procs);
    for (size_t i = 0; i < l->forward_count; i++)
        free(l->forwards[i].target);
    free(l->forwards);
    free(l->bpf[0]);
    free(l->bpf[1]);
    memset(l, 0, sizeof *l);
}
