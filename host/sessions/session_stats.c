/* Figures the session layer keeps for /metrics: how long sandboxes take to
 * start (from asking for one to the agent running in it), per profile. */
#include <stdio.h>
#include <string.h>

#include "sessions/session_internal.h"

const double host_start_bucket_s[HOST_START_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                        0.5,   1,    2.5,   5,    10,  30};

static host_start_hist_t *hist_for(host_sessions_t *m, const char *profile)
{
    for (size_t i = 0; i < m->start_hist_count; i++)
        if (strcmp(m->start_hist[i].profile, profile) == 0)
            return &m->start_hist[i];
    if (m->start_hist_count == HOST_START_PROFILES_MAX)
        return &m->start_hist[HOST_START_PROFILES_MAX - 1]; /* the rest share the last */
    host_start_hist_t *h = &m->start_hist[m->start_hist_count++];
    memset(h, 0, sizeof *h);
    snprintf(h->profile, sizeof h->profile, "%s",
             m->start_hist_count == HOST_START_PROFILES_MAX ? "(other)" : profile);
    return h;
}

void session_stats_started(host_session_t *s, int ok)
{
    if (s->start_began_ns == 0)
        return;
    host_start_hist_t *h = hist_for(s->mgr, s->start_profile);
    if (!ok) {
        h->failures++;
    } else {
        double secs = (double)(uv_hrtime() - s->start_began_ns) / 1e9;
        for (int i = 0; i < HOST_START_BUCKETS; i++)
            if (secs <= host_start_bucket_s[i])
                h->buckets[i]++;
        h->count++;
        h->sum_s += secs;
    }
    s->start_began_ns = 0;
}

size_t host_sessions_start_stats(host_sessions_t *m, const host_start_hist_t **out)
{
    *out = m->start_hist;
    return m->start_hist_count;
}

size_t host_sessions_pending_count(host_sessions_t *m)
{
    size_t n = 0;
    for (host_session_t *s = m->head; s != NULL; s = s->next)
        for (session_pending_t *p = s->pending; p != NULL; p = p->next)
            n++;
    return n;
}
