/*
 * agentd plugin SDK: notifications (AGENTD_KIND_NOTIFY).
 *
 * A notifier sees the events of every session after they are durable and
 * tells people about the ones that matter (Slack: a question waiting for an
 * answer, a finished run, a failure). Events reach it in order per session.
 * Backpressure: when on_event returns AGENTD_EAGAIN the host stops sending
 * and keeps the event until the plugin calls resume; nothing is dropped and
 * the agent never waits on a notifier.
 *
 * Threads, errors, ownership: abi.h.
 */
#ifndef AGENTD_NOTIFY_H
#define AGENTD_NOTIFY_H

#include "abi.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One durable event. Borrowed for the call. */
typedef struct agentd_event_view {
    uint32_t size;                 /* sizeof(agentd_event_view_t) */
    const char *session_id;        /* minor 0 */
    uint64_t seq;                  /* minor 0: gapless per session */
    uint64_t ts_ms;                /* minor 0: wall clock, ms since epoch */
    const char *type;              /* minor 0: e.g. "agent.result" */
    const char *data_json;         /* minor 0: a JSON object */
    size_t data_len;
} agentd_event_view_t;

/* A notifier calls this (given to it in subscribe) when it can take events
 * again after returning AGENTD_EAGAIN. Loop thread only. */
typedef void (*agentd_notify_resume_fn)(void *resume_ctx);

typedef struct agentd_notify_vtable {
    uint32_t size;                 /* sizeof(agentd_notify_vtable_t) */

    /* minor 0, optional: event types the plugin wants, as prefixes
     * ("agent.result", "permission."), NULL-terminated; NULL: all. */
    const char *const *event_prefixes;

    /* minor 0, required: the host tells the plugin how to resume the flow
     * of events; called once, after init. */
    void (*subscribe)(void *self, agentd_notify_resume_fn resume, void *resume_ctx);

    /* minor 0, required: one event. Return 0 when taken (the plugin copies
     * what it needs), AGENTD_EAGAIN for "not now" (the same event comes
     * again after resume), another negative code to drop it with an error
     * logged. */
    int (*on_event)(void *self, const agentd_event_view_t *ev);
} agentd_notify_vtable_t;

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_NOTIFY_H */
