/*
 * Claude Code's stream-json lines as host events.
 *
 * A line is checked once as a JSON object (events/json_check.h, no
 * allocation), then read as spans of text (json_span.h): only the values an
 * event keeps become jansson values. Parsing whole lines with jansson cost
 * 8 us for a typical 600-byte assistant line, more than the rest of an
 * event's way to the log; this way a line costs about a fifth of that.
 *
 * Whatever is not understood is kept whole in agent.output, with the parsed
 * JSON when there is some, so a newer CLI's messages still reach clients.
 */
#include "agent/stream_json.h"

#include <stdlib.h>
#include <string.h>

#include "agent/json_span.h"
#include "agent/json_text.h"
#include "agent/text_protocols.h"
#include "agent/utf8.h"
#include "events/json_check.h"

typedef struct norm {
    host_agent_event_fn fn;
    host_agent_event_json_fn fn_json; /* or NULL */
    void *ud;
    const char *line;
    size_t len;
    host_jspan_t root;   /* the whole line, when it is a JSON object */
    host_jspan_t message; /* root's "message" */
    json_t *parent;      /* parent_tool_use_id of a subagent's message, or NULL */
    int output_done;     /* the line already went out as agent.output */
} norm_t;

/* Sets o[key] = v, taking v's reference. Any failure (a value that could
 * not be made, out of memory) drops o and gives NULL, so an event is never
 * sent with a field silently missing; a chain of set() calls needs one
 * check, at its end. */
static json_t *set(json_t *o, const char *key, json_t *v)
{
    if (o == NULL || v == NULL) {
        json_decref(o);
        json_decref(v);
        return NULL;
    }
    if (json_object_set_new(o, key, v) != 0) { /* it dropped v */
        json_decref(o);
        return NULL;
    }
    return o;
}

/* o[key] = the value of key in the span obj, when there is one. */
static json_t *copy(json_t *o, host_jspan_t obj, const char *key)
{
    host_jspan_t v = host_jspan_get(obj, key);
    return v.p != NULL ? set(o, key, host_jspan_value(v)) : o;
}

static json_t *with_parent(norm_t *n, json_t *o)
{
    return n->parent != NULL ? set(o, "parent_tool_use_id", json_incref(n->parent)) : o;
}

/* The line as text: valid UTF-8 whatever the agent printed. */
static json_t *line_text(const char *line, size_t len, int truncated)
{
    if (!truncated && host_utf8_valid(line, len))
        return json_stringn_nocheck(line, len);
    size_t n;
    char *fixed = host_utf8_repair(line, len, truncated, &n);
    if (fixed == NULL)
        return NULL;
    json_t *s = json_stringn_nocheck(fixed, n);
    free(fixed);
    return s;
}

/* The whole line as agent.output (once per line), with its JSON when
 * jansson takes it. */
static void send_output(norm_t *n)
{
    if (n->output_done)
        return;
    n->output_done = 1;
    json_t *o = set(json_object(), "text", line_text(n->line, n->len, 0));
    json_t *parsed = json_loadb(n->line, n->len, JSON_ALLOW_NUL, NULL);
    if (parsed != NULL)
        o = set(o, "json", parsed);
    if (o != NULL) {
        n->fn(n->ud, "agent.output", o);
        json_decref(o);
    }
}

/* Sends one event and drops our reference. When it could not be built
 * (a value jansson refuses, out of memory), the line is kept as
 * agent.output instead: never dropped. */
static void send(norm_t *n, const char *type, json_t *data)
{
    if (data == NULL) {
        send_output(n);
        return;
    }
    n->fn(n->ud, type, data);
    json_decref(data);
}

static void on_protocol(void *ud, const char *type, json_t *data)
{
    norm_t *n = ud;
    if (n->parent != NULL)
        json_object_set(data, "parent_tool_use_id", n->parent);
    n->fn(n->ud, type, data);
}

/* {key: the string span[, parent_tool_use_id]} written as JSON text with
 * no jansson value on the way (an assistant's text costs a fifth of what
 * building it and json_dumps cost), then its text protocols when its text
 * may hold any. -1: nothing sent; jansson's path decides (a string it
 * refuses becomes agent.output there). */
static int send_string_json(norm_t *n, const char *type, const char *key, host_jspan_t span,
                            int scan)
{
    char stack[8192];
    host_jtext_t w;
    host_jtext_init(&w, stack, sizeof stack);
    int seen = 0;
    int rc = host_jtext_raw(&w, "{\"", 2);
    if (rc == 0)
        rc = host_jtext_raw(&w, key, strlen(key));
    if (rc == 0)
        rc = host_jtext_raw(&w, "\":", 2);
    if (rc == 0)
        rc = host_jtext_reencode(&w, span.p + 1, span.n - 2, &seen);
    if (rc == 0 && n->parent != NULL) {
        rc = host_jtext_raw(&w, ",\"parent_tool_use_id\":", 22);
        if (rc == 0)
            rc = host_jtext_string(&w, json_string_value(n->parent),
                                   json_string_length(n->parent));
    }
    if (rc == 0)
        rc = host_jtext_raw(&w, "}", 1);
    if (rc != 0) {
        host_jtext_free(&w);
        return -1;
    }
    n->fn_json(n->ud, type, w.p, w.len);
    host_jtext_free(&w);
    if (scan && (seen & HOST_JTEXT_MARKS)) {
        json_t *text = host_jspan_value(span);
        if (text != NULL)
            host_agent_scan_protocols(json_string_value(text), json_string_length(text),
                                      on_protocol, n);
        json_decref(text);
    }
    return 0;
}

static void text_block(norm_t *n, host_jspan_t span)
{
    if (n->fn_json != NULL && send_string_json(n, "agent.text", "text", span, 1) == 0)
        return;
    json_t *text = host_jspan_value(span);
    if (text == NULL) {
        send_output(n);
        return;
    }
    send(n, "agent.text", with_parent(n, set(json_object(), "text", json_incref(text))));
    host_agent_scan_protocols(json_string_value(text), json_string_length(text), on_protocol, n);
    json_decref(text);
}

static void assistant_block(norm_t *n, host_jspan_t b)
{
    host_jspan_t bt = host_jspan_get(b, "type");
    host_jspan_t v;
    if (host_jspan_streq(bt, "text") &&
        host_jspan_kind(v = host_jspan_get(b, "text")) == '"') {
        text_block(n, v);
    } else if (host_jspan_streq(bt, "thinking") &&
               host_jspan_kind(v = host_jspan_get(b, "thinking")) == '"') {
        if (n->fn_json != NULL && send_string_json(n, "agent.thinking", "thinking", v, 0) == 0)
            return;
        send(n, "agent.thinking", with_parent(n, set(json_object(), "thinking",
                                                     host_jspan_value(v))));
    } else if (host_jspan_streq(bt, "redacted_thinking")) {
        json_t *o = set(set(json_object(), "thinking", json_string("")), "redacted", json_true());
        send(n, "agent.thinking", with_parent(n, o));
    } else if ((host_jspan_streq(bt, "tool_use") || host_jspan_streq(bt, "server_tool_use")) &&
               host_jspan_kind(host_jspan_get(b, "id")) == '"' &&
               host_jspan_kind(host_jspan_get(b, "name")) == '"') {
        host_jspan_t input = host_jspan_get(b, "input");
        json_t *o = copy(copy(json_object(), b, "id"), b, "name");
        o = set(o, "input", input.p != NULL ? host_jspan_value(input) : json_object());
        if (host_jspan_streq(bt, "server_tool_use"))
            o = set(o, "server", json_true());
        send(n, "agent.tool_use", with_parent(n, o));
    } else {
        send_output(n);
    }
}

static void assistant(norm_t *n)
{
    host_jspan_t content = host_jspan_get(n->message, "content");
    char kind = host_jspan_kind(content);
    if (kind == '"') {
        text_block(n, content);
        return;
    }
    if (kind != '[') {
        send_output(n);
        return;
    }
    host_jspan_iter_t it;
    host_jspan_t b;
    host_jspan_iter_init(&it, content);
    while (host_jspan_next(&it, &b))
        assistant_block(n, b);
}

static void user(norm_t *n)
{
    host_jspan_t content = host_jspan_get(n->message, "content");
    if (host_jspan_kind(content) != '[') {
        send_output(n); /* a user's text echoed back, a synthetic message */
        return;
    }
    host_jspan_iter_t it;
    host_jspan_t b;
    host_jspan_iter_init(&it, content);
    while (host_jspan_next(&it, &b)) {
        if (!host_jspan_streq(host_jspan_get(b, "type"), "tool_result") ||
            host_jspan_kind(host_jspan_get(b, "tool_use_id")) != '"') {
            send_output(n);
            continue;
        }
        host_jspan_t c = host_jspan_get(b, "content");
        json_t *o = copy(json_object(), b, "tool_use_id");
        o = set(o, "content", c.p != NULL ? host_jspan_value(c) : json_string(""));
        o = set(o, "is_error", json_boolean(host_jspan_kind(host_jspan_get(b, "is_error")) == 't'));
        send(n, "agent.tool_result", with_parent(n, o));
    }
}

static void init(norm_t *n)
{
    static const char *const keys[] = {"session_id", "cwd", "model", "tools", "mcp_servers",
                                       "permissionMode", "claude_code_version"};
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        o = copy(o, n->root, keys[i]);
    send(n, "agent.init", o);
}

static void result(norm_t *n)
{
    static const char *const keys[] = {"subtype", "result", "session_id", "num_turns",
                                       "duration_ms", "duration_api_ms", "total_cost_usd",
                                       "usage", "permission_denials", "errors"};
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        o = copy(o, n->root, keys[i]);
    char is_error = host_jspan_kind(host_jspan_get(n->root, "is_error"));
    if (is_error != 't' && is_error != 'f') /* older CLIs: only the subtype tells */
        is_error = host_jspan_streq(host_jspan_get(n->root, "subtype"), "success") ? 'f' : 't';
    send(n, "agent.result", set(o, "is_error", json_boolean(is_error == 't')));
}

static void plain_text(norm_t *n, int truncated)
{
    json_t *text = line_text(n->line, n->len, truncated);
    json_t *o = set(json_object(), "text", json_incref(text));
    if (truncated)
        o = set(o, "truncated", json_true());
    if (o != NULL) {
        n->fn(n->ud, "agent.output", o);
        json_decref(o);
    }
    /* Agents that print prose rather than JSON use the protocols too. */
    if (text != NULL && !truncated)
        host_agent_scan_protocols(json_string_value(text), json_string_length(text), n->fn,
                                  n->ud);
    json_decref(text);
}

static host_agent_line_kind_t control(norm_t *n, host_agent_line_kind_t kind, json_t **parsed)
{
    json_t *root = json_loadb(n->line, n->len, JSON_ALLOW_NUL, NULL);
    if (root == NULL) { /* valid JSON that jansson refuses: keep it as text */
        send_output(n);
        return HOST_AGENT_LINE_EVENTS;
    }
    if (parsed != NULL)
        *parsed = root;
    else
        json_decref(root);
    return kind;
}

host_agent_line_kind_t host_agent_normalize(const char *line, size_t len, int truncated,
                                            host_agent_event_fn fn, void *ud, json_t **parsed)
{
    host_agent_sink_t sink = {.event = fn, .ud = ud};
    return host_agent_normalize_to(line, len, truncated, &sink, parsed);
}

host_agent_line_kind_t host_agent_normalize_to(const char *line, size_t len, int truncated,
                                               const host_agent_sink_t *sink, json_t **parsed)
{
    norm_t n = {.fn = sink->event, .fn_json = sink->event_json, .ud = sink->ud, .line = line,
                .len = len};
    if (parsed != NULL)
        *parsed = NULL;
    if (len == 0)
        return HOST_AGENT_LINE_EVENTS;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (truncated || i == len || (line[i] != '{' && line[i] != '[')) {
        plain_text(&n, truncated);
        return HOST_AGENT_LINE_EVENTS;
    }
    if (line[i] == '[' || !host_json_is_object(line, len)) {
        json_t *any = line[i] == '[' ? json_loadb(line, len, JSON_ALLOW_NUL, NULL) : NULL;
        if (any != NULL)
            send_output(&n); /* JSON, but not an object */
        else
            plain_text(&n, 0);
        json_decref(any);
        return HOST_AGENT_LINE_EVENTS;
    }
    n.root = (host_jspan_t){line, len};
    /* The root's fields every kind of line may need, in one walk. */
    static const char *const root_keys[] = {"type", "parent_tool_use_id", "message", "subtype"};
    host_jspan_t f[4];
    host_jspan_get_many(n.root, root_keys, 4, f);
    host_jspan_t type = f[0], parent = f[1];
    n.message = f[2];
    /* A cancel withdraws one of the agent's requests: the runner handles it
     * with them (the parsed "type" tells them apart). */
    if (host_jspan_streq(type, "control_request") ||
        host_jspan_streq(type, "control_cancel_request"))
        return control(&n, HOST_AGENT_LINE_CONTROL_REQUEST, parsed);
    if (host_jspan_streq(type, "control_response"))
        return control(&n, HOST_AGENT_LINE_CONTROL_RESPONSE, parsed);
    if (host_jspan_kind(parent) == '"')
        n.parent = host_jspan_value(parent);
    if (host_jspan_streq(type, "assistant"))
        assistant(&n);
    else if (host_jspan_streq(type, "user"))
        user(&n);
    else if (host_jspan_streq(type, "result"))
        result(&n);
    else if (host_jspan_streq(type, "system") &&
             host_jspan_streq(f[3], "init"))
        init(&n);
    else if (!host_jspan_streq(type, "keep_alive")) /* says nothing: no event */
        send_output(&n);
    json_decref(n.parent);
    return HOST_AGENT_LINE_EVENTS;
}
