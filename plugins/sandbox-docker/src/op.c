/*
 * Engine work off the loop: an operation runs its blocking requests on the
 * host's worker pool, then reports on the loop. A sandbox's operations run
 * one after another in the order they were asked for.
 */
#include "dk.h"

#include <stdlib.h>

static void start(dk_op_t *op);

static void after(void *ud, int status)
{
    dk_op_t *op = ud;
    dk_plugin_t *pl = op->pl;
    agentd_sandbox_t *sb = op->sb;
    if (status != 0 && op->rc == 0) {
        op->rc = status;
        snprintf(op->msg, sizeof op->msg, "the host did not run the engine request: %s",
                 agentd_strerror(status));
    }
    pl->ops_in_flight--;
    /* done may free the sandbox (destroy): take the next op first. */
    dk_op_t *next = NULL;
    if (sb != NULL) {
        next = sb->q_head;
        if (next != NULL) {
            sb->q_head = next->next;
            if (sb->q_head == NULL)
                sb->q_tail = NULL;
        } else {
            sb->q_busy = 0;
        }
    }
    op->done(op);
    if (next != NULL)
        start(next);
}

static void work(void *ud)
{
    dk_op_t *op = ud;
    op->work(op);
}

static void start(dk_op_t *op)
{
    dk_plugin_t *pl = op->pl;
    pl->ops_in_flight++;
    int rc = pl->api->queue_work(pl->host, work, after, op, NULL);
    if (rc != 0)
        after(op, rc);
}

void dk_op_submit(dk_op_t *op)
{
    op->next = NULL;
    agentd_sandbox_t *sb = op->sb;
    if (sb != NULL && sb->q_busy) {
        if (sb->q_tail != NULL)
            sb->q_tail->next = op;
        else
            sb->q_head = op;
        sb->q_tail = op;
        return;
    }
    if (sb != NULL)
        sb->q_busy = 1;
    start(op);
}
