/*
 * Fail closed: every setup step that cannot be done ends the helper with
 * exit status 125 (the convention of env(1) and container runtimes for "the
 * sandbox could not start") and one line on stderr that names the step and
 * the reason, e.g.
 *     agentd-sandbox: setup failed: seccomp: seccomp_load: Invalid argument
 */
#ifndef SBX_FAIL_H
#define SBX_FAIL_H

#define SBX_EXIT_SETUP 125
#define SBX_FAIL_PREFIX "agentd-sandbox: setup failed: "

/* Print "<prefix><step>: <message>" and _exit(125). */
_Noreturn void sbx_die(const char *step, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same, with ": <strerror(errno)>" appended. */
_Noreturn void sbx_die_errno(const char *step, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
