/* Fail-closed reporting (fail.h). */
#define _GNU_SOURCE
#include "fail.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Noreturn void die_v(const char *step, int err, const char *fmt, va_list ap)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, SBX_FAIL_PREFIX "%s: ", step);
    if (n > 0 && (size_t)n < sizeof msg)
        n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    if (err != 0 && n > 0 && (size_t)n < sizeof msg)
        n += snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
    if (n < 0 || (size_t)n >= sizeof msg - 1)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    /* One write, so the line is not interleaved with the command's output. */
    if (write(STDERR_FILENO, msg, (size_t)n) < 0) {
        /* nothing left to report to */
    }
    _exit(SBX_EXIT_SETUP);
}

void sbx_die(const char *step, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    die_v(step, 0, fmt, ap);
}

void sbx_die_errno(const char *step, const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    die_v(step, err, fmt, ap);
}
