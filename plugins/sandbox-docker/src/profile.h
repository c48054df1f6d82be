/*
 * A sandbox-docker profile (sandboxes.<name> in the config): parsed from the
 * JSON the host validated against dk_profile_fields, then checked for what
 * the host cannot know (one of image/template, the shape of env and mount
 * entries, the docker socket). Every error names the profile and field.
 */
#ifndef DK_PROFILE_H
#define DK_PROFILE_H

#include <agentd/plugin.h>

#include <stdint.h>

typedef struct dk_mount {
    char *src, *dst;
    int read_only;
} dk_mount_t;

typedef struct dk_profile {
    char *image;           /* or NULL */
    char *template_path;   /* Dockerfile, or NULL */
    int64_t memory_mb;
    double cpus;
    int64_t pids_max;
    char *network_mode;
    char *user;            /* NULL: decided from the image */
    int read_only_root;
    int64_t timeout_minutes;
    char **env;            /* "K=V", NULL-terminated */
    dk_mount_t *mounts;
    size_t mount_count;
    char *seccomp_profile; /* path, or NULL */
    int64_t tmp_mb;        /* size of the /tmp tmpfs */
} dk_profile_t;

extern const agentd_config_field_t dk_profile_fields[13];
#define DK_PROFILE_FIELD_COUNT 13

/* name: the profile's name, for messages. engine_socket: the engine's unix
 * socket path (or NULL) that no mount may expose. On failure *p is left
 * empty (nothing to free). Errors: AGENTD_ECONFIG, AGENTD_ENOMEM. */
int dk_profile_parse(const char *json, size_t len, const char *name, const char *engine_socket,
                     dk_profile_t *p, agentd_err_t *err);
void dk_profile_free(dk_profile_t *p);

/* Non-zero when a mount of host path `src` would put a docker socket in the
 * sandbox: the engine's own socket, any docker.sock, or a directory that
 * holds one of them. */
int dk_mount_exposes_socket(const char *src, const char *engine_socket);

#endif
