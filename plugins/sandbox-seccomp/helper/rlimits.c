/* Resource limits (rlimits.h). */
#define _GNU_SOURCE
#include "rlimits.h"

#include "fail.h"

#include <sys/resource.h>

static void set_one(int resource, uint64_t value, const char *name)
{
    struct rlimit rl = {(rlim_t)value, (rlim_t)value};
    if (setrlimit(resource, &rl) < 0)
        sbx_die_errno("rlimits", "%s = %llu", name, (unsigned long long)value);
}

void sbx_rlimits_apply(const sbx_rlimits_t *r)
{
    if (r->fsize != 0)
        set_one(RLIMIT_FSIZE, r->fsize, "RLIMIT_FSIZE");
    if (r->nofile != 0)
        set_one(RLIMIT_NOFILE, r->nofile, "RLIMIT_NOFILE");
    set_one(RLIMIT_CORE, r->core, "RLIMIT_CORE");
}
