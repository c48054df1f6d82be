#include "core/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *host_log_level_name(agentd_log_level_t level)
{
    if ((unsigned)level < sizeof level_names / sizeof level_names[0])
        return level_names[level];
    return "debug";
}

int host_log_level_parse(const char *name, agentd_log_level_t *out)
{
    for (unsigned i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (name != NULL && strcmp(name, level_names[i]) == 0) {
            *out = (agentd_log_level_t)i;
            return 0;
        }
    }
    return AGENTD_EINVAL;
}

int host_log_init(host_log_t *log, agentd_log_level_t level, host_log_format_t format,
                  FILE *out)
{
    memset(log, 0, sizeof *log);
    log->level = level;
    log->out = out != NULL ? out : stderr;
    if (format == HOST_LOG_FORMAT_AUTO)
        log->json = !isatty(fileno(log->out));
    else
        log->json = format == HOST_LOG_FORMAT_JSON;
    return uv_mutex_init(&log->mu) == 0 ? 0 : AGENTD_ENOMEM;
}

void host_log_close(host_log_t *log)
{
    uv_mutex_destroy(&log->mu);
}

static void format_time(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

static void write_json_line(host_log_t *log, const char *ts, agentd_log_level_t level,
                            const char *component, const char *msg)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level",
                          host_log_level_name(level), "component",
                          component != NULL ? component : "agentd", "msg", msg);
    char *line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (line != NULL)
        fprintf(log->out, "%s\n", line);
    else /* out of memory or invalid UTF-8 in msg: still say something */
        fprintf(log->out, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(unprintable)\"}\n",
                ts, host_log_level_name(level));
    free(line);
    json_decref(o);
}

void host_logv(host_log_t *log, agentd_log_level_t level, const char *component,
               const char *fmt, va_list ap)
{
    if (log == NULL || level > log->level)
        return;
    char stackbuf[1024];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(stackbuf, sizeof stackbuf, fmt, ap2);
    va_end(ap2);
    char *msg = stackbuf;
    if (n >= (int)sizeof stackbuf && (msg = malloc((size_t)n + 1)) != NULL)
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
    else if (msg == NULL)
        msg = stackbuf; /* truncated rather than lost */

    char ts[40];
    format_time(ts, sizeof ts);
    uv_mutex_lock(&log->mu);
    char *redacted = log->redact != NULL ? log->redact(log->redact_ud, msg) : NULL;
    const char *text = redacted != NULL ? redacted : msg;
    if (log->json)
        write_json_line(log, ts, level, component, text);
    else
        fprintf(log->out, "%s %-5s [%s] %s\n", ts, host_log_level_name(level),
                component != NULL ? component : "agentd", text);
    fflush(log->out);
    uv_mutex_unlock(&log->mu);
    free(redacted);
    if (msg != stackbuf)
        free(msg);
}

void host_log(host_log_t *log, agentd_log_level_t level, const char *component,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    host_logv(log, level, component, fmt, ap);
    va_end(ap);
}
