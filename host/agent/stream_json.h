/*
 * Reading what a Claude Code agent prints with --output-format stream-json:
 * a line splitter that copes with lines of any length split anywhere across
 * reads (also inside a UTF-8 sequence), and a normalizer that turns each
 * line into the host's event types. Lines that are not JSON, or JSON of a
 * kind not known yet, become `agent.output` events: never dropped, never
 * fatal.
 *
 * Event types produced (docs/protocol.md lists their fields):
 *   agent.init         system/init: session_id, cwd, model, tools, mcp_servers,
 *                      permissionMode
 *   agent.text         one assistant text block {text}
 *   agent.thinking     one assistant thinking block {thinking}
 *   agent.tool_use     {id, name, input}
 *   agent.tool_result  from a user message: {tool_use_id, content, is_error}
 *   agent.result       {subtype, is_error, result, session_id, num_turns,
 *                       duration_ms, total_cost_usd, usage, permission_denials}
 *   agent.question, agent.dependency_request, agent.phase_complete,
 *   agent.error        the text protocols found inside assistant text:
 *                      [USER_QUESTION]...[/USER_QUESTION],
 *                      [DEPENDENCY_REQUEST]...[/DEPENDENCY_REQUEST],
 *                      === PHASE N COMPLETE ===, [ERROR]...[/ERROR]
 *   agent.output       anything else: {text} (the line, as valid UTF-8)
 * control_request / control_response lines are not events: the normalizer
 * reports them to the runner (HOST_AGENT_LINE_CONTROL_*).
 *
 * Thread: any (no loop, no globals). Ownership: inputs borrowed; outputs
 * borrowed for the callback.
 */
#ifndef AGENTD_HOST_STREAM_JSON_H
#define AGENTD_HOST_STREAM_JSON_H

#include <stddef.h>

#include <jansson.h>

/* ---- line splitting ------------------------------------------------------ */

typedef struct host_line_splitter {
    char *buf;
    size_t len, cap;
    size_t max_line;    /* longer lines are cut: the first max_line bytes are
                         * delivered with truncated=1, the rest skipped up to
                         * the newline */
    int skipping;       /* inside the tail of an over-long line */
} host_line_splitter_t;

/* A complete line without its "\n" (and without a trailing "\r"). */
typedef void (*host_line_fn)(void *ud, const char *line, size_t len, int truncated);

void host_line_splitter_init(host_line_splitter_t *s, size_t max_line);
/* Feeds bytes; calls fn for each complete line. 0 or AGENTD_ENOMEM. */
int host_line_splitter_feed(host_line_splitter_t *s, const char *data, size_t len,
                            host_line_fn fn, void *ud);
/* End of stream: a last line without "\n" is delivered. */
void host_line_splitter_finish(host_line_splitter_t *s, host_line_fn fn, void *ud);
void host_line_splitter_free(host_line_splitter_t *s);

/* ---- normalizing --------------------------------------------------------- */

typedef enum host_agent_line_kind {
    HOST_AGENT_LINE_EVENTS = 0,           /* produced events (maybe several) */
    HOST_AGENT_LINE_CONTROL_REQUEST = 1,  /* the agent asks the host (can_use_tool) */
    HOST_AGENT_LINE_CONTROL_RESPONSE = 2, /* answer to a host's control request */
} host_agent_line_kind_t;

/* One normalized event: type and a JSON object (borrowed). */
typedef void (*host_agent_event_fn)(void *ud, const char *type, json_t *data);

/* Normalizes one line. For control lines *parsed receives the parsed JSON
 * object (the caller decrefs it) and no event is produced; otherwise fn is
 * called once per event, in order, and *parsed is NULL. Never fails on bad
 * input: it becomes agent.output. */
host_agent_line_kind_t host_agent_normalize(const char *line, size_t len, int truncated,
                                            host_agent_event_fn fn, void *ud, json_t **parsed);

/* An event whose data the normalizer wrote as JSON text itself (a JSON
 * object, borrowed for the call): the very bytes json_dumps(data,
 * JSON_COMPACT | JSON_ENSURE_ASCII) gives for the object the json_t form
 * would carry (agent/json_text.h). Only agent.text and agent.thinking come
 * this way: the hot events, which a caller stores rather than reads. */
typedef void (*host_agent_event_json_fn)(void *ud, const char *type, const char *json,
                                         size_t len);

typedef struct host_agent_sink {
    host_agent_event_fn event;          /* required */
    host_agent_event_json_fn event_json; /* NULL: every event as json_t */
    void *ud;
} host_agent_sink_t;

/* host_agent_normalize with the events going to sink: the same events, in
 * the same order, with the same content. */
host_agent_line_kind_t host_agent_normalize_to(const char *line, size_t len, int truncated,
                                               const host_agent_sink_t *sink, json_t **parsed);

#endif /* AGENTD_HOST_STREAM_JSON_H */
