/* GET /metrics: Prometheus text format (version 0.0.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "store/checkpointer.h"

static void counter(FILE *f, const char *name, const char *help, unsigned long long v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

static void gauge(FILE *f, const char *name, const char *help, double v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

/* Sandbox start latency, one histogram per profile. */
static void start_histograms(FILE *f, host_sessions_t *sessions)
{
    const host_start_hist_t *h;
    size_t n = host_sessions_start_stats(sessions, &h);
    fprintf(f, "# HELP agentd_sandbox_start_seconds From asking for a session's sandbox to "
               "the agent running in it.\n# TYPE agentd_sandbox_start_seconds histogram\n");
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < HOST_START_BUCKETS; b++)
            fprintf(f, "agentd_sandbox_start_seconds_bucket{profile=\"%s\",le=\"%g\"} %llu\n",
                    h[i].profile, host_start_bucket_s[b], (unsigned long long)h[i].buckets[b]);
        fprintf(f, "agentd_sandbox_start_seconds_bucket{profile=\"%s\",le=\"+Inf\"} %llu\n"
                   "agentd_sandbox_start_seconds_sum{profile=\"%s\"} %.6f\n"
                   "agentd_sandbox_start_seconds_count{profile=\"%s\"} %llu\n",
                h[i].profile, (unsigned long long)h[i].count, h[i].profile, h[i].sum_s,
                h[i].profile, (unsigned long long)h[i].count);
    }
    fprintf(f, "# HELP agentd_sandbox_start_failures_total Sandboxes (or agents in them) that "
               "could not be started.\n# TYPE agentd_sandbox_start_failures_total counter\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "agentd_sandbox_start_failures_total{profile=\"%s\"} %llu\n", h[i].profile,
                (unsigned long long)h[i].failures);
    gauge(f, "agentd_permission_requests_pending",
          "Permission requests and questions waiting for a person.",
          (double)host_sessions_pending_count(sessions));
}

char *api_metrics_text(host_api_t *srv, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;

    /* Sessions by state, cost and tokens, from the session layer. */
    size_t by_state[HOST_SESSION_INTERRUPTED + 1] = {0};
    double cost = 0;
    unsigned long long in_tok = 0, out_tok = 0, turns = 0;
    json_t *all = host_sessions_list(srv->rt->sessions);
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s) {
        const char *st = json_string_value(json_object_get(s, "state"));
        for (int k = 0; k <= HOST_SESSION_INTERRUPTED; k++)
            if (st != NULL && strcmp(st, host_session_state_name((host_session_state_t)k)) == 0)
                by_state[k]++;
        cost += json_number_value(json_object_get(s, "cost_usd"));
        in_tok += (unsigned long long)json_integer_value(json_object_get(s, "input_tokens"));
        out_tok += (unsigned long long)json_integer_value(json_object_get(s, "output_tokens"));
        turns += (unsigned long long)json_integer_value(json_object_get(s, "turns"));
    }
    json_decref(all);
    fprintf(f, "# HELP agentd_sessions Sessions by state.\n# TYPE agentd_sessions gauge\n");
    for (int k = 0; k <= HOST_SESSION_INTERRUPTED; k++)
        fprintf(f, "agentd_sessions{state=\"%s\"} %zu\n",
                host_session_state_name((host_session_state_t)k), by_state[k]);
    gauge(f, "agentd_session_cost_usd", "Reported cost of all sessions' turns, USD.", cost);
    fprintf(f, "# HELP agentd_session_tokens Tokens used by all sessions.\n"
               "# TYPE agentd_session_tokens gauge\n"
               "agentd_session_tokens{kind=\"input\"} %llu\n"
               "agentd_session_tokens{kind=\"output\"} %llu\n",
            in_tok, out_tok);
    gauge(f, "agentd_session_turns", "Turns of all sessions.", (double)turns);
    start_histograms(f, srv->rt->sessions);

    host_event_log_stats_t ls;
    host_event_log_stats(srv->rt->log, &ls);
    counter(f, "agentd_events_appended_total", "Events committed to the event log.",
            (unsigned long long)ls.committed);
    counter(f, "agentd_event_commits_total", "Event log transactions.",
            (unsigned long long)ls.commits);
    counter(f, "agentd_events_pruned_total", "Events deleted by retention.",
            (unsigned long long)ls.pruned);
    gauge(f, "agentd_events_pending", "Events appended, not committed yet.", (double)ls.pending);
    host_db_checkpointer_stats_t cs;
    host_db_checkpointer_stats(srv->rt->db, &cs);
    fprintf(f, "# HELP agentd_db_checkpoints_total WAL checkpoints of the database, by the "
               "thread that ran them (loop: the log reached events.wal_max_mb).\n"
               "# TYPE agentd_db_checkpoints_total counter\n"
               "agentd_db_checkpoints_total{thread=\"background\"} %llu\n"
               "agentd_db_checkpoints_total{thread=\"loop\"} %llu\n",
            (unsigned long long)cs.background, (unsigned long long)cs.inline_runs);
    counter(f, "agentd_db_checkpoint_failures_total", "WAL checkpoints that failed (retried).",
            (unsigned long long)cs.failed);

    size_t depth_sum = 0, depth_max = 0;
    for (api_conn_t *c = srv->conns; c != NULL; c = c->next) {
        depth_sum += c->q.bytes;
        if (c->q.bytes > depth_max)
            depth_max = c->q.bytes;
    }
    gauge(f, "agentd_api_connections", "Open WebSocket connections.", (double)srv->nconns);
    gauge(f, "agentd_api_subscribers", "Event subscriptions.", (double)api_sub_count(srv));
    gauge(f, "agentd_api_queue_bytes", "Bytes waiting in all clients' send queues.",
          (double)depth_sum);
    gauge(f, "agentd_api_queue_bytes_max", "The fullest client send queue, bytes.",
          (double)depth_max);
    const api_metrics_t *m = &srv->m;
    counter(f, "agentd_api_connections_total", "WebSocket connections accepted.",
            m->connections_total);
    counter(f, "agentd_api_connections_refused_total",
            "Upgrades refused (limits, bad token, shutting down).", m->refused_total);
    counter(f, "agentd_api_auth_failures_total", "Failed authentications.",
            m->auth_failures_total);
    counter(f, "agentd_api_requests_total", "JSON-RPC messages received.", m->requests_total);
    counter(f, "agentd_api_errors_total", "JSON-RPC error responses.", m->errors_total);
    counter(f, "agentd_api_events_sent_total", "Event notifications written to clients.",
            m->events_sent_total);
    counter(f, "agentd_api_slow_disconnects_total",
            "Clients disconnected for falling behind.", m->slow_disconnects_total);
    counter(f, "agentd_api_oversized_total", "Messages over limits.max_message_bytes.",
            m->oversized_total);
    counter(f, "agentd_api_revoked_closed_total", "Connections closed: token revoked.",
            m->revoked_closed_total);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}
