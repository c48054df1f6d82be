/*
 * A sandbox profile's settings (the "sandboxes" entries of the config that
 * name this plugin), as the host hands them over: validated against the
 * descriptor's profile_fields, defaults filled in. profile_fields.c lists
 * the fields, their types, defaults and bounds.
 */
#ifndef SBX_PROFILE_H
#define SBX_PROFILE_H

#include <agentd/plugin.h>

#include <stddef.h>
#include <stdint.h>

typedef struct sbx_profile {
    uint64_t memory_mb;
    uint32_t pids_max;
    uint32_t cpu_millicores;
    uint64_t file_size_mb;
    uint64_t open_files;
    uint32_t timeout_minutes;
    uint64_t tmp_size_mb;
    uint32_t uid, gid;          /* identity inside */
    uint16_t proxy_port;
    int verify_on_create;
    char *hostname;
    char *home;
    char **egress_allow;        /* NULL-terminated lists */
    char **env_passthrough;
    char **env;                 /* "K=V" from the "env" object */
    char **ro_paths;
    char **protected_paths;
} sbx_profile_t;

/* The descriptor's profile_fields. */
#define SBX_PROFILE_FIELD_COUNT 18
extern const agentd_config_field_t sbx_profile_fields[SBX_PROFILE_FIELD_COUNT];

/* Parse the profile JSON (missing keys take the defaults of
 * sbx_profile_fields). Returns 0, or a negative code with text in err. */
int sbx_profile_parse(const char *json, size_t len, sbx_profile_t *out, agentd_err_t *err);

void sbx_profile_free(sbx_profile_t *p);

#endif
