/*
 * sandbox-docker: the plugin's state, its sandboxes (one container each)
 * and their executions (one engine exec each, attached over a hijacked
 * connection).
 *
 * Threads: everything here lives on the loop thread. Engine requests block,
 * so they run as operations (op.c) on the host's worker pool; an operation
 * of a sandbox waits for the one before it (pause, then an exec, then
 * destroy happen in the order asked), and its completion runs on the loop.
 */
#ifndef DK_DK_H
#define DK_DK_H

#include "engine.h"
#include "profile.h"
#include "stdcopy.h"

#include <agentd/plugin.h>
#include <agentd/sandbox.h>

#define DK_LABEL "io.agentd."          /* prefix of every label we set */
#define DK_NAME_PREFIX "agentd-"       /* container name: agentd-<sandbox id> */
#define DK_TEMPLATE_REPO "agentd-template" /* images built from templates */
#define DK_OUTPUT_MAX (64u * 1024u)    /* pre-execution output kept for events */

typedef struct dk_op dk_op_t;
typedef struct dk_conn dk_conn_t;

typedef struct dk_plugin {
    const agentd_host_api_t *api;
    agentd_host_t *host;
    dk_engine_t engine;
    char owner[20];            /* io.agentd.owner: this installation's containers */
    int bind_workspace;        /* 1: bind mount; 0: volume (remote engine) */
    agentd_sandbox_t *sandboxes;
    unsigned ops_in_flight;
    unsigned conns_open;
    dk_conn_t *conns;          /* open exec connections (hijack.c) */
    agentd_timer_t *stop_timer;
    agentd_done_cb stop_done;
    void *stop_ud;
} dk_plugin_t;

struct agentd_sandbox {
    dk_plugin_t *pl;
    agentd_sandbox_t *next;
    char *id, *session_id, *profile_name;
    char *name;                /* container name */
    char *workspace;           /* real path, same path inside */
    char *user;                /* what every exec runs as */
    char *volume;              /* the workspace's volume (volume mode), or NULL */
    char **env;                /* profile env + spec env ("${secret:..}" unresolved) */
    dk_op_t *q_head, *q_tail;  /* operations waiting for the running one */
    int q_busy;
    agentd_exec_t *execs;
    agentd_timer_t *timeout;
    uint64_t timeout_s, deadline_ms, created_ms;
    unsigned exec_seq;
    int expired;               /* the timeout fired: killed, no more execs */
    int dead;                  /* destroy started: only its op may run */
};

struct agentd_exec {
    dk_plugin_t *pl;
    agentd_sandbox_t *sb;      /* NULL once the sandbox is destroyed */
    agentd_exec_t *next;
    char marker[80];           /* AGENTD_EXEC_ID=<marker> in its environment */
    char *engine_id;           /* the engine's exec id, once created */
    char *user;
    dk_conn_t *conn;
    agentd_exec_exit_cb exit_cb;
    void *ud;
    int ended;                 /* its stream ended; exit status being fetched */
    int exited;                /* exit_cb ran (or would have) */
    int released;
    unsigned ops;              /* operations still referring to it */
};

/* ---- op.c: engine work off the loop ------------------------------------- */

typedef void (*dk_op_fn)(dk_op_t *op);
struct dk_op {
    dk_plugin_t *pl;
    agentd_sandbox_t *sb;      /* serialised on this sandbox, or NULL */
    dk_op_t *next;
    dk_op_fn work;             /* worker thread: engine requests only */
    dk_op_fn done;             /* loop thread: report, then free the op */
    int rc;
    char msg[AGENTD_ERR_MAX];
};

/* Start op (or queue it behind its sandbox's running op). op->done runs
 * once, also when the host refuses work (rc = that error). */
void dk_op_submit(dk_op_t *op);

/* ---- hijack.c: the attached stdio of one exec --------------------------- */

typedef void (*dk_conn_end_cb)(void *ud, int status);
/* A connection in "connecting" state: writes queue, reads wait. io gets its
 * three streams. end runs once when the engine side ended (EOF or error). */
dk_conn_t *dk_conn_new(dk_plugin_t *pl, agentd_exec_io_t *io, dk_conn_end_cb end, void *ud);
/* Setup finished: curl handle (connected, head read), leftover bytes after
 * the head. On failure (curl NULL) msg goes to stderr and the stream ends. */
void dk_conn_attach(dk_conn_t *c, CURL *curl, const char *rest, size_t rest_len,
                    const char *msg);
/* The owner lets go: the streams may stay open until their close. */
void dk_conn_release(dk_conn_t *c);
/* fini: close every connection still open (their streams become invalid). */
void dk_conn_forget_all(dk_plugin_t *pl);
/* Blocking (worker): start exec `id` attached on a fresh connection; the
 * head is read; *rest gets bytes after it (malloc'd). */
CURL *dk_exec_connect(dk_engine_t *e, const char *exec_id, char **rest, size_t *rest_len,
                      agentd_err_t *err);

/* ---- sandbox.c / exec.c / reap.c ---------------------------------------- */

int dk_sandbox_create(dk_plugin_t *pl, const agentd_sandbox_spec_t *spec,
                      agentd_sandbox_create_cb cb, void *ud, agentd_err_t *err);
int dk_sandbox_signal(agentd_sandbox_t *sb, agentd_sandbox_signal_t sig, agentd_err_t *err);
int dk_sandbox_destroy(agentd_sandbox_t *sb, agentd_done_cb cb, void *ud, agentd_err_t *err);
void dk_sandbox_free(agentd_sandbox_t *sb);
void dk_sandbox_link(agentd_sandbox_t *sb);
void dk_sandbox_unlink(agentd_sandbox_t *sb);
int dk_sandbox_arm_timeout(agentd_sandbox_t *sb);
/* Blocking (worker): kill and remove container `name`; with a volume, first
 * copy the workspace back to the host (workspace), then remove the volume
 * (kept, and an error returned, when the copy failed). */
int dk_teardown(dk_engine_t *e, const char *name, const char *volume, const char *workspace,
                char *msg, size_t msglen);
/* A signal for every process of `user` but the init in the container
 * (sig "INT", "TERM", "KILL"), or only those with `marker` in their
 * environment (marker non-NULL): the engine has no per-exec signal. */
void dk_signal_in_container(agentd_sandbox_t *sb, const char *user, const char *sig,
                            const char *marker);

/* create.c: the environment of one exec: the profile's and the spec's
 * (secrets resolved now) plus `extra`. NULL with err set on failure. */
char **dk_exec_env(agentd_sandbox_t *sb, const char *const *extra, agentd_err_t *err);

int dk_exec_start(agentd_sandbox_t *sb, const agentd_exec_spec_t *spec,
                  agentd_exec_exit_cb exit_cb, void *ud, agentd_exec_t **out,
                  agentd_exec_io_t *io, agentd_err_t *err);
int dk_exec_signal(agentd_exec_t *ex, agentd_sandbox_signal_t sig, agentd_err_t *err);
void dk_exec_release(agentd_exec_t *ex);

int dk_list(dk_plugin_t *pl, agentd_sandbox_list_cb cb, void *ud, agentd_err_t *err);
int dk_adopt(dk_plugin_t *pl, const char *id, agentd_sandbox_create_cb cb, void *ud,
             agentd_err_t *err);
int dk_reap(dk_plugin_t *pl, const char *id, agentd_done_cb cb, void *ud, agentd_err_t *err);

/* ---- template.c: images from Dockerfiles ------------------------------- */

/* Content hash (hex SHA-256) of a build context: every regular file,
 * symlink and directory under dir, by relative path, mode and content.
 * Returns 0 or an AGENTD_E* code with err set. */
int dk_context_hash(const char *dir, char hex[65], agentd_err_t *err);
/* Blocking (worker): the image for a profile's template, built by the
 * engine unless an image with its content hash exists. *built says which.
 * image: "agentd-template:<hash prefix>". */
int dk_template_image(dk_engine_t *e, const char *profile, const char *dockerfile,
                      char *image, size_t image_len, int *built, agentd_err_t *err);
/* A ustar archive of dir (for the build endpoint). */
int dk_tar_dir(const char *dir, char **out, size_t *len, agentd_err_t *err);
/* The same with every name under `prefix/` (and an entry for prefix/
 * itself), owned by uid:gid (for the archive endpoint). */
int dk_tar_tree(const char *dir, const char *prefix, unsigned uid, unsigned gid, char **out,
                size_t *len, agentd_err_t *err);

/* ---- archive.c: a workspace volume's files back on the host --------------- */

/* Extract the ustar/pax archive buf into dest (a new, empty folder),
 * dropping each name's first component (the folder the engine archived)
 * when strip is non-zero. Refuses absolute names, "..", and writing
 * through a symlink. */
int dk_untar(const char *buf, size_t len, const char *dest, int strip, agentd_err_t *err);

/* copy.c: copy_in / copy_out through the archive endpoints. */
int dk_copy_in(agentd_sandbox_t *sb, const char *host_path, const char *sandbox_path,
               agentd_done_cb cb, void *ud, agentd_err_t *err);
int dk_copy_out(agentd_sandbox_t *sb, const char *sandbox_path, const char *host_path,
                agentd_done_cb cb, void *ud, agentd_err_t *err);
/* parent: path's folder ("/" for a top-level name); *base: its last name
 * (inside path). */
void dk_split_path(const char *path, char *parent, size_t plen, const char **base);
/* dk_tar_tree of dir under base/, owned by user ("uid[:gid]"; gid = uid
 * when alone; root when not numeric). */
int dk_tar_as(const char *dir, const char *base, const char *user, char **tar, size_t *len,
              agentd_err_t *err);
/* PUTs a tar into the container at parent (archive endpoint); r.msg says
 * why when it fails. */
int dk_put_archive(dk_engine_t *e, const char *container, const char *parent, const char *tar,
                   size_t len, dk_resp_t *r);
/* Replace folder `dir` by `staged` (renames; the old tree is removed). */
int dk_swap_dir(const char *dir, const char *staged, agentd_err_t *err);
/* rm -rf that never follows a symlink. */
void dk_rmtree(const char *path);

/* ---- util.c --------------------------------------------------------------- */

int dk_valid_id(const char *id);

char *dk_strdup(const char *s);       /* NULL stays NULL */
char **dk_strv_dup(const char *const *v);
char **dk_strv_concat(char **a, const char *const *b); /* frees a */
void dk_strv_free(char **v, int wipe);
/* Percent-encoding of s for a query string, into buf. */
void dk_urlencode(const char *s, char *buf, size_t len);
/* Which profile field an engine refusal is about (by its words). */
const char *dk_field_of(const char *engine_msg);

#endif
