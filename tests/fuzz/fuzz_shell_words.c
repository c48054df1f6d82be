/* libFuzzer target: the shell-word splitter. Checks the list it returns is
 * well formed and within the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "permissions/shell_words.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    host_sh_list_t l;
    memset(&l, 0, sizeof l);
    if (host_sh_split((const char *)data, size, 0, &l) != 0) {
        host_sh_list_free(&l);
        return 0;
    }
    if (l.n > HOST_SH_MAX_CMDS)
        abort();
    for (size_t i = 0; i < l.n; i++) {
        const host_sh_cmd_t *c = &l.cmds[i];
        if (c->nwords + c->nredirs == 0 || c->nwords + c->nredirs > HOST_SH_MAX_WORDS ||
            c->depth < 0 || c->depth > HOST_SH_MAX_DEPTH)
            abort();
        for (size_t k = 0; k < c->nwords; k++)
            if (c->words[k].text == NULL)
                abort();
        for (size_t k = 0; k < c->nredirs; k++)
            if (c->redirs[k].target.text == NULL)
                abort();
    }
    if (l.unknown && l.why[0] == '\0')
        abort();
    host_sh_list_free(&l);
    return 0;
}
