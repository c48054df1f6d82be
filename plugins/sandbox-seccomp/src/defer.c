/*
 * Running a callback on the loop soon, outside the call that asked for it:
 * how create and list report back (never inside the call itself). A 0 ms
 * host timer rather than post(): a timer keeps the loop running until it
 * fires, a post does not.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <stdlib.h>

typedef struct deferred {
    const agentd_host_api_t *api;
    agentd_timer_t *timer;
    void (*cb)(void *ud);
    void *ud;
} deferred_t;

static void fire(void *ud)
{
    deferred_t *d = ud;
    d->api->timer_close(d->timer);
    void (*cb)(void *) = d->cb;
    void *cb_ud = d->ud;
    free(d);
    cb(cb_ud);
}

int sbx_defer(sbx_plugin_t *pl, void (*cb)(void *ud), void *ud)
{
    deferred_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return AGENTD_ENOMEM;
    *d = (deferred_t){pl->api, NULL, cb, ud};
    int rc = pl->api->timer_start(pl->host, 0, 0, fire, d, &d->timer);
    if (rc < 0)
        free(d);
    return rc;
}
