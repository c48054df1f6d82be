/* git's system restrictions: agentd commits, pushes and manages branches
 * itself, so the agent may not write the repository's history, refs,
 * remotes or configuration, whatever the rules say. */
#include <stdio.h>
#include <string.h>

#include "permissions/engine_internal.h"

static int is(const char *w, const char *s)
{
    return w != NULL && strcmp(w, s) == 0;
}

static int one_of(const char *w, const char *const *list)
{
    for (; w != NULL && *list != NULL; list++)
        if (strcmp(w, *list) == 0)
            return 1;
    return 0;
}

static int starts(const char *w, const char *s)
{
    return w != NULL && strncmp(w, s, strlen(s)) == 0;
}

/* A short-option cluster (-xyz) holding one of chars. */
static int cluster_has(const char *w, const char *chars)
{
    if (w == NULL || w[0] != '-' || w[1] == '-' || w[1] == '\0')
        return 0;
    return strpbrk(w + 1, chars) != NULL;
}

static host_perm_decision_t deny(char *why, size_t whylen, const char *sub)
{
    snprintf(why, whylen,
             "git %s writes the repository, which agentd manages itself (a system "
             "restriction no rule lifts)", sub);
    return HOST_PERM_DENY;
}

static size_t positionals(const char *const *w, size_t n, size_t from)
{
    size_t k = 0;
    for (size_t i = from; i < n; i++)
        if (w[i] == NULL || w[i][0] != '-')
            k++;
    return k;
}

static int any_arg(const char *const *w, size_t n, size_t from, const char *const *opts)
{
    for (size_t i = from; i < n; i++)
        if (one_of(w[i], opts))
            return 1;
    return 0;
}

host_perm_decision_t host_perm_git_check(const char *const *w, size_t n, int *read_only,
                                         char *why, size_t whylen)
{
    static const char *const always[] = {
        "commit", "commit-tree", "push", "pull", "merge", "rebase", "reset", "am",
        "cherry-pick", "revert", "update-ref", "filter-branch", "filter-repo", "replace",
        "fast-import", "mktag", "init", "gc", "prune", "repack", "maintenance", "update-index",
        "read-tree", "write-tree", "checkout-index", "merge-tree", "pack-refs", NULL};
    static const char *const reads[] = {
        "status", "log", "diff", "show", "blame", "annotate", "grep", "ls-files", "ls-tree",
        "rev-parse", "rev-list", "cat-file", "describe", "shortlog", "show-ref",
        "for-each-ref", "merge-base", "name-rev", "whatchanged", "show-branch", "cherry",
        "check-ignore", "check-attr", "check-ref-format", "diff-tree", "diff-files",
        "diff-index", "range-diff", "count-objects", "verify-commit", "verify-tag", "var",
        "help", "version", NULL};
    static const char *const others[] = {
        "fetch", "add", "rm", "mv", "restore", "checkout", "switch", "clone", "archive",
        "bisect", "format-patch", "apply", "clean", "hash-object", "ls-remote", "fsck",
        "interpret-trailers", "stripspace", "patch-id", "bundle", "sparse-checkout",
        "mailinfo", "column", "get-tar-commit-id", NULL};
    *read_only = 0;
    size_t i = 1;
    /* global options */
    while (i < n) {
        const char *o = w[i];
        if (o == NULL) {
            snprintf(why, whylen, "git with a computed option or subcommand");
            return HOST_PERM_ASK;
        }
        if (o[0] != '-')
            break;
        if (is(o, "-c") || starts(o, "--config-env") || starts(o, "--exec-path")) {
            snprintf(why, whylen, "git %s can make git run other programs", o);
            return HOST_PERM_ASK;
        }
        if (is(o, "-C") || is(o, "--git-dir") || is(o, "--work-tree") || is(o, "--namespace") ||
            is(o, "--super-prefix")) {
            i += 2;
            continue;
        }
        if (starts(o, "--git-dir=") || starts(o, "--work-tree=") || starts(o, "--namespace=") ||
            is(o, "--no-pager") || is(o, "-p") || is(o, "-P") || is(o, "--paginate") ||
            is(o, "--bare") || is(o, "--no-replace-objects") || is(o, "--literal-pathspecs") ||
            is(o, "--glob-pathspecs") || is(o, "--noglob-pathspecs") ||
            is(o, "--icase-pathspecs") || is(o, "--no-optional-locks") ||
            is(o, "--no-lazy-fetch") || is(o, "--no-advice")) {
            i++;
            continue;
        }
        if (is(o, "--version") || is(o, "--help") || is(o, "-h") || starts(o, "--list-cmds")) {
            *read_only = 1;
            return HOST_PERM_ALLOW;
        }
        snprintf(why, whylen, "git with the option %s, which agentd does not know", o);
        return HOST_PERM_ASK;
    }
    if (i >= n) {
        *read_only = 1;
        return HOST_PERM_ALLOW;
    }
    const char *sub = w[i];
    const char *arg = i + 1 < n ? w[i + 1] : "";
    size_t a = i + 1; /* first argument */
    for (size_t k = a; k < n; k++)
        if (w[k] == NULL) {
            snprintf(why, whylen, "git %s with computed arguments", sub);
            return HOST_PERM_ASK;
        }
    if (one_of(sub, always))
        return deny(why, whylen, sub);
    if (is(sub, "tag")) {
        static const char *const list[] = {"-l", "--list", "-v", "--verify", "--contains",
                                           "--no-contains", "--points-at", "--merged",
                                           "--no-merged", NULL};
        if (positionals(w, n, a) == 0 && !any_arg(w, n, a, (const char *const[]){
                                              "-d", "--delete", "-a", "-s", "-f", "--force",
                                              "-m", "-F", "-u", "--annotate", "--sign",
                                              NULL}))
            *read_only = 1;
        else if (any_arg(w, n, a, list) && !any_arg(w, n, a, (const char *const[]){
                                                 "-d", "--delete", "-f", "--force", NULL}))
            *read_only = 1;
        else
            return deny(why, whylen, "tag (creating or deleting a tag)");
        return HOST_PERM_ALLOW;
    }
    if (is(sub, "branch")) {
        static const char *const writes[] = {
            "--delete", "--move", "--copy", "--force", "--set-upstream-to", "--unset-upstream",
            "--edit-description", "--track", "--no-track", "--create-reflog", "--recurse-submodules",
            NULL};
        static const char *const list[] = {"-l", "--list", "--contains", "--no-contains",
                                           "--merged", "--no-merged", "--points-at",
                                           "--show-current", NULL};
        for (size_t k = a; k < n; k++) {
            if (one_of(w[k], writes) || starts(w[k], "--set-upstream-to=") ||
                starts(w[k], "--track=") || cluster_has(w[k], "dDmMcCfut"))
                return deny(why, whylen, "branch (creating, moving or deleting a branch)");
        }
        if (positionals(w, n, a) > 0 && !any_arg(w, n, a, list))
            return deny(why, whylen, "branch (creating a branch)");
        *read_only = 1;
        return HOST_PERM_ALLOW;
    }
    if (is(sub, "checkout") || is(sub, "switch")) {
        for (size_t k = a; k < n; k++)
            if (is(w[k], "--orphan") || is(w[k], "--create") || is(w[k], "--force-create") ||
                cluster_has(w[k], is(sub, "checkout") ? "bB" : "cC"))
                return deny(why, whylen, is(sub, "checkout") ? "checkout -b (creating a branch)"
                                                             : "switch -c (creating a branch)");
        return HOST_PERM_ALLOW;
    }
    if (is(sub, "remote")) {
        static const char *const writes[] = {"add", "set-url", "remove", "rm", "rename",
                                             "set-head", "set-branches", "prune", "update",
                                             NULL};
        for (size_t k = a; k < n; k++)
            if (one_of(w[k], writes))
                return deny(why, whylen, "remote (changing remotes)");
        *read_only = 1;
        return HOST_PERM_ALLOW;
    }
    if (is(sub, "config")) {
        static const char *const rd[] = {"--get", "--get-all", "--get-regexp", "--get-urlmatch",
                                         "--list", "-l", "get", "list", NULL};
        static const char *const wr[] = {"--add", "--unset", "--unset-all", "--replace-all",
                                         "--rename-section", "--remove-section", "-e", "--edit",
                                         "set", "unset", "rename-section", "remove-section",
                                         "edit", NULL};
        if (any_arg(w, n, a, wr))
            return deny(why, whylen, "config (writing configuration)");
        size_t pos = 0;
        for (size_t k = a; k < n; k++) {
            if (w[k][0] != '-') {
                pos++;
                continue;
            }
            if (is(w[k], "-f") || is(w[k], "--file") || is(w[k], "--blob") ||
                is(w[k], "--type") || is(w[k], "--default"))
                k++;
        }
        if (any_arg(w, n, a, rd) || pos == 1) {
            *read_only = 1;
            return HOST_PERM_ALLOW;
        }
        return deny(why, whylen, "config (writing configuration)");
    }
    if (is(sub, "stash")) {
        if (is(arg, "list") || is(arg, "show")) {
            *read_only = 1;
            return HOST_PERM_ALLOW;
        }
        return deny(why, whylen, "stash");
    }
    if (is(sub, "notes")) {
        if (a >= n || is(arg, "list") || is(arg, "show")) {
            *read_only = 1;
            return HOST_PERM_ALLOW;
        }
        return deny(why, whylen, "notes");
    }
    if (is(sub, "reflog")) {
        if (is(arg, "expire") || is(arg, "delete") || is(arg, "drop"))
            return deny(why, whylen, "reflog expire/delete");
        *read_only = 1;
        return HOST_PERM_ALLOW;
    }
    if (is(sub, "worktree")) {
        if (is(arg, "list")) {
            *read_only = 1;
            return HOST_PERM_ALLOW;
        }
        return deny(why, whylen, "worktree");
    }
    if (is(sub, "submodule")) {
        if (a >= n || is(arg, "status") || is(arg, "summary")) {
            *read_only = 1;
            return HOST_PERM_ALLOW;
        }
        if (is(arg, "foreach")) {
            snprintf(why, whylen, "git submodule foreach runs commands agentd cannot read");
            return HOST_PERM_ASK;
        }
        return deny(why, whylen, "submodule");
    }
    if (is(sub, "symbolic-ref")) {
        if (positionals(w, n, a) >= 2 || any_arg(w, n, a, (const char *const[]){
                                              "-d", "--delete", NULL}))
            return deny(why, whylen, "symbolic-ref (moving a ref)");
        *read_only = 1;
        return HOST_PERM_ALLOW;
    }
    if (one_of(sub, reads)) {
        *read_only = 1;
        for (size_t k = a; k < n; k++)
            if (starts(w[k], "--output"))
                *read_only = 0;
        return HOST_PERM_ALLOW;
    }
    if (one_of(sub, others))
        return HOST_PERM_ALLOW;
    snprintf(why, whylen, "git %s is not a git command agentd knows (it may be an alias)", sub);
    return HOST_PERM_ASK;
}
