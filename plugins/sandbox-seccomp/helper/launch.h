/*
 * The launch description the plugin hands the helper: one JSON object sent
 * as a frame on the helper's stdin before the command's own input. It may
 * hold secrets (environment values), which is why it never travels in argv
 * or a file.
 *
 * Frame: the 4 bytes "ASBX", a 32-bit little-endian length, the JSON text.
 * The helper reads exactly that many bytes, so whatever follows on stdin
 * belongs to the command.
 */
#ifndef SBX_LAUNCH_H
#define SBX_LAUNCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SBX_FRAME_MAGIC "ASBX"
#define SBX_FRAME_MAX (1u << 20)

/* A loopback port inside the sandbox that tunnels, through the egress
 * proxy, to `target` ("host:port"): used for a model API on the host's
 * loopback, which clients reach without proxy support. */
typedef struct sbx_forward {
    uint16_t port;
    char *target;
} sbx_forward_t;

typedef struct sbx_rlimits {
    uint64_t fsize;   /* bytes; 0: unlimited */
    uint64_t nofile;  /* 0: leave as is */
    uint64_t core;    /* bytes */
} sbx_rlimits_t;

typedef struct sbx_launch {
    char *sandbox_id;
    int host_pid;          /* the process we must not outlive; 0: none */
    int probe;             /* set up everything, then exit 0 instead of exec */
    char **argv;           /* NULL-terminated */
    char **env;            /* NULL-terminated "K=V" */
    char *cwd;             /* inside path; NULL: the workspace */
    char *workspace;       /* host path, mounted read-write at the same path */
    char *home;            /* inside path of the writable home */
    uid_t uid;             /* identity inside */
    gid_t gid;
    uid_t host_uid;        /* identity on the host (when the helper is root) */
    gid_t host_gid;
    char **ro_paths;       /* extra host paths mounted read-only */
    char **protected_paths; /* workspace-relative paths kept read-only */
    char **hidden_paths;   /* directories covered by an empty read-only tmpfs */
    char **cgroup_procs;   /* cgroup.procs files to join, one per hierarchy */
    char *hostname;
    char *proxy_socket;    /* host path of the egress proxy's unix socket */
    uint16_t proxy_port;   /* loopback port of the in-sandbox relay */
    sbx_forward_t *forwards;
    size_t forward_count;
    uint64_t tmp_bytes;    /* size of /tmp (tmpfs) */
    unsigned char *bpf[2]; /* the seccomp programs (struct sock_filter[]), */
    size_t bpf_len[2];     /* "seccomp": [hex, hex] in the JSON */
    sbx_rlimits_t rlimits;
} sbx_launch_t;

/* Parse JSON text into *out. On error returns -1 with a message in msg. */
int sbx_launch_parse(const char *json, size_t len, sbx_launch_t *out, char *msg,
                     size_t msg_len);

/* Read one frame from fd (exactly, never past its end) and parse it. */
int sbx_launch_read(int fd, sbx_launch_t *out, char *msg, size_t msg_len);

void sbx_launch_free(sbx_launch_t *l);

#endif
