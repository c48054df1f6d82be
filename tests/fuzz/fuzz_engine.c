/* libFuzzer target: a whole Bash decision against a fixed policy. Checks
 * the invariants that do not depend on the input's meaning: a decision is
 * always given, with who made it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "permissions/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char policy[] =
        "{\"permissions\": {\"allow\": [\"Bash(git log:*)\", \"Bash(echo:*)\", \"Bash(ls:*)\","
        "\"Bash(bash:*)\", \"Bash(env:*)\"], \"deny\": [\"Bash(rm:*)\"], "
        "\"ask\": [\"Bash(npm publish:*)\"]}}";
    json_t *st = json_loads(policy, 0, NULL);
    json_t *in = json_object();
    json_t *cmd = json_stringn_nocheck((const char *)data, size);
    if (st == NULL || in == NULL || cmd == NULL || json_object_set_new(in, "command", cmd) != 0)
        abort();
    host_perm_policy_t p;
    char why[256];
    if (host_perm_policy_from_settings(st, &p, why, sizeof why) != 0)
        abort();
    host_perm_result_t res;
    int rc = host_perm_evaluate(&p, "Bash", in, "/ws", &res);
    if (rc == 0 && (res.by == NULL || res.decision > HOST_PERM_ALLOW))
        abort();
    /* an allow never comes with a command that names rm as a plain word
     * at the start (a cheap oracle for the deny rule) */
    if (rc == 0 && res.decision == HOST_PERM_ALLOW && size >= 3 && memcmp(data, "rm ", 3) == 0)
        abort();
    host_perm_policy_free(&p);
    json_decref(in);
    json_decref(st);
    return 0;
}
