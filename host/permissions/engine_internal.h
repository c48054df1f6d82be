/* Private to host/permissions: the pieces of the engine shared between
 * engine.c (policy, tools, Bash parts) and engine_git.c (git's system
 * restrictions). */
#ifndef AGENTD_HOST_PERMISSIONS_ENGINE_INTERNAL_H
#define AGENTD_HOST_PERMISSIONS_ENGINE_INTERNAL_H

#include <stddef.h>

#include "permissions/engine.h"

/* What git's system restrictions make of `git ARGS` (words[0] is "git";
 * NULL words are computed values). Returns HOST_PERM_ALLOW when no
 * restriction applies (the rules then decide), ASK or DENY with a reason.
 * *read_only is set when the command only reads the repository. */
host_perm_decision_t host_perm_git_check(const char *const *words, size_t n, int *read_only,
                                         char *why, size_t whylen);

#endif /* AGENTD_HOST_PERMISSIONS_ENGINE_INTERNAL_H */
