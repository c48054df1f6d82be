/*
 * Health checks: every health_interval_s, each enabled host that is up
 * runs `echo ok` on its pooled connection with a deadline of
 * connect_timeout_s; a failure marks it down (its master is ended, the
 * executions on it fail with the reason). A host that is down, or was
 * refused, gets one connection attempt per period, so it comes back up on
 * its own once it answers (or once known_hosts is fixed).
 */
#include "ssh.h"

#include <stdio.h>
#include <string.h>

static void on_check(void *ud, int status, int exit_code, const char *out, const char *err)
{
    ssh_host_t *h = ud;
    h->checking = 0;
    if (status == AGENTD_ECANCELED || h->pl->stopping)
        return;
    if (h->state != SSH_HOST_UP)
        return;
    if (status != 0 || exit_code != 0 || strncmp(out, "ok", 2) != 0) {
        char why[300];
        snprintf(why, sizeof why, "health check failed: %s",
                 status != 0 ? agentd_strerror(status) : (err[0] ? err : "no answer"));
        ssh_host_mark_down(h, why);
    }
}

static void on_reconnect(void *ud, int status, const char *msg)
{
    ssh_host_t *h = ud;
    h->checking = 0;
    (void)status, (void)msg; /* logged by the transport */
}

static void tick(void *ud)
{
    ssh_plugin_t *pl = ud;
    if (pl->stopping)
        return;
    for (size_t i = 0; i < pl->nhosts; i++) {
        ssh_host_t *h = pl->hosts[i];
        if (!h->enabled || h->checking || h->state == SSH_HOST_CONNECTING)
            continue;
        agentd_err_t err = {{0}};
        if (h->state == SSH_HOST_UP) {
            if (ssh_rcmd_run(h, "echo ok\n", (uint64_t)pl->connect_timeout_s * 1000u, on_check,
                             h, &err) == 0)
                h->checking = 1;
        } else if (h->load > 0 || h->reason[0] != '\0') {
            /* Hosts never used stay idle until a session needs them. */
            h->checking = 1;
            unsigned keep = pl->retry_max;
            pl->retry_max = 0; /* one attempt per period */
            if (ssh_host_connect(h, on_reconnect, h) != 0)
                h->checking = 0;
            pl->retry_max = keep;
        }
    }
}

int ssh_health_start(ssh_plugin_t *pl)
{
    uint64_t ms = (uint64_t)pl->health_interval_s * 1000u;
    return pl->api->timer_start(pl->host, ms, ms, tick, pl, &pl->health_timer);
}

void ssh_health_stop(ssh_plugin_t *pl)
{
    pl->api->timer_close(pl->health_timer);
    pl->health_timer = NULL;
}
