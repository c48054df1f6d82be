/*
 * Claude Code's stream-json lines as host events. The mapping is shallow:
 * an event's data shares the parsed values (json_object_set takes a
 * reference), so normalizing costs one parse and a few small objects.
 * Whatever is not understood is kept whole in agent.output, with the parsed
 * JSON when there is some, so a newer CLI's messages still reach clients.
 */
#include "agent/stream_json.h"

#include <stdlib.h>
#include <string.h>

#include "agent/text_protocols.h"
#include "agent/utf8.h"

typedef struct norm {
    host_agent_event_fn fn;
    void *ud;
    const char *line;
    size_t len;
    json_t *root;
    json_t *parent;      /* parent_tool_use_id of a subagent's message, or NULL */
    int output_done;     /* the line already went out as agent.output */
} norm_t;

/* Sends one event and drops our reference. data may be NULL (out of memory
 * while building it): then there is nothing to send. */
static void send(norm_t *n, const char *type, json_t *data)
{
    if (data == NULL)
        return;
    n->fn(n->ud, type, data);
    json_decref(data);
}

static void copy_field(json_t *dst, json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v != NULL)
        json_object_set(dst, key, v);
}

/* Sets o[key] = v, taking v's reference. Any failure (out of memory
 * earlier or now) drops o and gives NULL, so an event is never sent with a
 * field silently missing; a chain of set() calls needs one check at its
 * end. */
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

static json_t *with_parent(norm_t *n, json_t *o)
{
    return n->parent != NULL && o != NULL ? set(o, "parent_tool_use_id", json_incref(n->parent))
                                          : o;
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

/* The whole line as agent.output (once per line), with its JSON if any. */
static void send_output(norm_t *n)
{
    if (n->output_done)
        return;
    n->output_done = 1;
    json_t *o = set(json_object(), "text", line_text(n->line, n->len, 0));
    if (n->root != NULL)
        o = set(o, "json", json_incref(n->root));
    send(n, "agent.output", o);
}

static void on_protocol(void *ud, const char *type, json_t *data)
{
    norm_t *n = ud;
    if (n->parent != NULL)
        json_object_set(data, "parent_tool_use_id", n->parent);
    n->fn(n->ud, type, data);
}

static void text_block(norm_t *n, json_t *text)
{
    send(n, "agent.text", with_parent(n, set(json_object(), "text", json_incref(text))));
    host_agent_scan_protocols(json_string_value(text), json_string_length(text), on_protocol, n);
}

static void assistant_block(norm_t *n, json_t *b)
{
    const char *bt = json_string_value(json_object_get(b, "type"));
    bt = bt != NULL ? bt : "";
    json_t *o;
    if (strcmp(bt, "text") == 0 && json_is_string(json_object_get(b, "text"))) {
        text_block(n, json_object_get(b, "text"));
        return;
    }
    if (strcmp(bt, "thinking") == 0 && json_is_string(json_object_get(b, "thinking"))) {
        o = set(json_object(), "thinking", json_incref(json_object_get(b, "thinking")));
        send(n, "agent.thinking", with_parent(n, o));
        return;
    }
    if (strcmp(bt, "redacted_thinking") == 0) {
        o = set(set(json_object(), "thinking", json_string("")), "redacted", json_true());
        send(n, "agent.thinking", with_parent(n, o));
        return;
    }
    if ((strcmp(bt, "tool_use") == 0 || strcmp(bt, "server_tool_use") == 0) &&
        json_is_string(json_object_get(b, "id")) && json_is_string(json_object_get(b, "name"))) {
        json_t *input = json_object_get(b, "input");
        o = set(json_object(), "id", json_incref(json_object_get(b, "id")));
        o = set(o, "name", json_incref(json_object_get(b, "name")));
        o = set(o, "input", input != NULL ? json_incref(input) : json_object());
        if (bt[0] == 's')
            o = set(o, "server", json_true());
        send(n, "agent.tool_use", with_parent(n, o));
        return;
    }
    send_output(n);
}

static void assistant(norm_t *n)
{
    json_t *content = json_object_get(json_object_get(n->root, "message"), "content");
    if (json_is_string(content)) {
        text_block(n, content);
        return;
    }
    if (!json_is_array(content)) {
        send_output(n);
        return;
    }
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b)
        assistant_block(n, b);
}

static void user(norm_t *n)
{
    json_t *content = json_object_get(json_object_get(n->root, "message"), "content");
    if (!json_is_array(content)) {
        send_output(n); /* a user's text echoed back, a synthetic message */
        return;
    }
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b) {
        const char *bt = json_string_value(json_object_get(b, "type"));
        if (bt == NULL || strcmp(bt, "tool_result") != 0 ||
            !json_is_string(json_object_get(b, "tool_use_id"))) {
            send_output(n);
            continue;
        }
        json_t *c = json_object_get(b, "content");
        json_t *o = set(json_object(), "tool_use_id", json_incref(json_object_get(b, "tool_use_id")));
        o = set(o, "content", c != NULL ? json_incref(c) : json_string(""));
        o = set(o, "is_error", json_boolean(json_is_true(json_object_get(b, "is_error"))));
        send(n, "agent.tool_result", with_parent(n, o));
    }
}

static void init(norm_t *n)
{
    static const char *const keys[] = {"session_id", "cwd", "model", "tools", "mcp_servers",
                                       "permissionMode", "claude_code_version"};
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < sizeof keys / sizeof keys[0]; i++)
        copy_field(o, n->root, keys[i]);
    send(n, "agent.init", o);
}

static void result(norm_t *n)
{
    static const char *const keys[] = {"subtype", "result", "session_id", "num_turns",
                                       "duration_ms", "duration_api_ms", "total_cost_usd",
                                       "usage", "permission_denials", "errors"};
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < sizeof keys / sizeof keys[0]; i++)
        copy_field(o, n->root, keys[i]);
    json_t *is_error = json_object_get(n->root, "is_error");
    if (!json_is_boolean(is_error)) {
        /* Older CLIs: only the subtype tells. */
        const char *st = json_string_value(json_object_get(n->root, "subtype"));
        is_error = json_boolean(st == NULL || strcmp(st, "success") != 0);
    } else {
        json_incref(is_error);
    }
    send(n, "agent.result", set(o, "is_error", is_error));
}

/* Only a line that starts like a JSON object or array is worth a parse:
 * jansson spends more building an error message than it would parsing. */
static json_t *parse(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len || (line[i] != '{' && line[i] != '['))
        return NULL;
    return json_loadb(line, len, JSON_ALLOW_NUL, NULL);
}

static void plain_text(norm_t *n, int truncated)
{
    json_t *text = line_text(n->line, n->len, truncated);
    json_t *o = set(json_object(), "text", json_incref(text));
    if (truncated)
        o = set(o, "truncated", json_true());
    send(n, "agent.output", o);
    /* Agents that print prose rather than JSON use the protocols too. */
    if (text != NULL && !truncated)
        host_agent_scan_protocols(json_string_value(text), json_string_length(text), n->fn,
                                  n->ud);
    json_decref(text);
}

host_agent_line_kind_t host_agent_normalize(const char *line, size_t len, int truncated,
                                            host_agent_event_fn fn, void *ud, json_t **parsed)
{
    norm_t n = {.fn = fn, .ud = ud, .line = line, .len = len};
    if (parsed != NULL)
        *parsed = NULL;
    if (len == 0)
        return HOST_AGENT_LINE_EVENTS;
    if (!truncated)
        n.root = parse(line, len);
    if (n.root == NULL || !json_is_object(n.root)) {
        if (n.root != NULL)
            send_output(&n); /* JSON, but not an object */
        else
            plain_text(&n, truncated);
        json_decref(n.root);
        return HOST_AGENT_LINE_EVENTS;
    }
    const char *type = json_string_value(json_object_get(n.root, "type"));
    type = type != NULL ? type : "";
    if (strcmp(type, "control_request") == 0 || strcmp(type, "control_cancel_request") == 0 ||
        strcmp(type, "control_response") == 0) {
        /* A cancel withdraws one of the agent's requests: the runner
         * handles it with them (its parsed "type" tells them apart). */
        host_agent_line_kind_t kind = strcmp(type, "control_response") == 0
                                          ? HOST_AGENT_LINE_CONTROL_RESPONSE
                                          : HOST_AGENT_LINE_CONTROL_REQUEST;
        if (parsed != NULL)
            *parsed = n.root;
        else
            json_decref(n.root);
        return kind;
    }
    const char *subtype = json_string_value(json_object_get(n.root, "subtype"));
    json_t *parent = json_object_get(n.root, "parent_tool_use_id");
    n.parent = json_is_string(parent) ? parent : NULL;
    if (strcmp(type, "assistant") == 0) {
        assistant(&n);
    } else if (strcmp(type, "user") == 0) {
        user(&n);
    } else if (strcmp(type, "result") == 0) {
        result(&n);
    } else if (strcmp(type, "system") == 0 && subtype != NULL && strcmp(subtype, "init") == 0) {
        init(&n);
    } else if (strcmp(type, "keep_alive") != 0) {
        /* keep_alive says nothing: not worth an event (the runner's
         * watchdog sees the line before it gets here). */
        send_output(&n);
    }
    json_decref(n.root);
    return HOST_AGENT_LINE_EVENTS;
}
