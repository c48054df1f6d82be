/*
 * Host logging: levels; human lines on a terminal, one JSON object per line
 * otherwise. Safe to call from any thread (a mutex serialises lines).
 *
 * Secrets: a redaction hook, when set, rewrites every message before it is
 * written, so a known secret value never reaches the log even by accident.
 */
#ifndef AGENTD_HOST_LOG_H
#define AGENTD_HOST_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include <uv.h>

#include <agentd/host.h>

#include "config/config.h"

/* Rewrites msg in place or returns a malloc'd replacement (then the log frees
 * it); returning NULL keeps msg. Called under the log's mutex. */
typedef char *(*host_log_redact_fn)(void *ud, const char *msg);

typedef struct host_log {
    agentd_log_level_t level;
    int json;                 /* resolved format: 1 JSON lines, 0 text */
    FILE *out;                /* borrowed; stderr by default */
    uv_mutex_t mu;
    host_log_redact_fn redact;
    void *redact_ud;
} host_log_t;

/* out: where lines go (NULL: stderr). format AUTO picks text when out is a
 * terminal. Returns 0 or AGENTD_ENOMEM. */
int host_log_init(host_log_t *log, agentd_log_level_t level, host_log_format_t format,
                  FILE *out);
void host_log_close(host_log_t *log);

void host_log(host_log_t *log, agentd_log_level_t level, const char *component,
              const char *fmt, ...) AGENTD_PRINTF(4, 5);
void host_logv(host_log_t *log, agentd_log_level_t level, const char *component,
               const char *fmt, va_list ap) AGENTD_PRINTF(4, 0);

/* "error", "warn", "info", "debug". */
const char *host_log_level_name(agentd_log_level_t level);
/* Parses a level name; returns 0 or AGENTD_EINVAL. */
int host_log_level_parse(const char *name, agentd_log_level_t *out);

#endif /* AGENTD_HOST_LOG_H */
