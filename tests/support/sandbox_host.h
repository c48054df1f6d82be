/*
 * A host for the C drivers that test a sandbox plugin through its vtable,
 * as the session runner uses it: the config loaded, the plugins loaded by
 * the host's registry, one profile resolved, its plugin's vtable at hand.
 * Used by the seccomp, docker and ssh drivers. Thread: the caller's, which
 * runs ctx.loop.
 */
#ifndef AGENTD_TEST_SANDBOX_HOST_H
#define AGENTD_TEST_SANDBOX_HOST_H

#include "core/context.h"
#include "plugins/profiles.h"

typedef struct test_sandbox_host {
    host_ctx_t ctx;
    host_profile_t prof;
    const agentd_sandbox_vtable_t *vt;
    void *self;
} test_sandbox_host_t;

/* From a config file, or from config text (name: what diagnostics call
 * it); profile: NULL for the config's default. 0, or -1 with the
 * diagnostics on stderr. */
int test_sandbox_host_open_file(test_sandbox_host_t *h, const char *path, const char *profile);
int test_sandbox_host_open_text(test_sandbox_host_t *h, const char *text, const char *name,
                                const char *profile);

/* Clears the profile and stops the plugins, running the loop for at most
 * stop_ms; 1 if they stopped. The context stays open. */
int test_sandbox_host_stop(test_sandbox_host_t *h, unsigned stop_ms);

/* Frees the context (after test_sandbox_host_stop). */
void test_sandbox_host_close(test_sandbox_host_t *h);

#endif
