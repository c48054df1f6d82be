/* The normalizer: real-looking Claude Code stream-json lines (CLI 2.1.x)
 * for every event type, control lines, the text protocols, garbage, JSON of
 * kinds not known yet, and huge lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/json_span.h"
#include "agent/stream_json.h"
#include "agent/text_protocols.h"
#include "agent/utf8.h"

#define MAX_EVENTS 32

typedef struct rec {
    size_t n;
    char *type[MAX_EVENTS];
    json_t *data[MAX_EVENTS];
} rec_t;

static void on_event(void *ud, const char *type, json_t *data)
{
    rec_t *r = ud;
    assert_true(r->n < MAX_EVENTS);
    assert_true(json_is_object(data));
    /* What the runner does with it: the text must be valid JSON/UTF-8. */
    char *dumped = json_dumps(data, JSON_COMPACT);
    assert_non_null(dumped);
    assert_true(host_utf8_valid(dumped, strlen(dumped)));
    free(dumped);
    r->type[r->n] = strdup(type);
    r->data[r->n] = json_incref(data);
    r->n++;
}

static void rec_free(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->type[i]);
        json_decref(r->data[i]);
    }
    r->n = 0;
}

static host_agent_line_kind_t norm(const char *line, rec_t *r, json_t **parsed)
{
    return host_agent_normalize(line, strlen(line), 0, on_event, r, parsed);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    assert_non_null(s);
    return s;
}

static void expect_events(const char *line, size_t n, const char *const *types, rec_t *r)
{
    json_t *parsed = (json_t *)1;
    assert_int_equal(norm(line, r, &parsed), HOST_AGENT_LINE_EVENTS);
    assert_null(parsed);
    assert_int_equal(r->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r->type[i], types[i]);
}

/* ---- Claude Code's lines ----------------------------------------------- */

static void test_init(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.init"};
    expect_events(
        "{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"/work/ws\",\"session_id\":"
        "\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"tools\":[\"Task\",\"Bash\",\"Glob\","
        "\"Grep\",\"Read\",\"Edit\",\"Write\",\"WebFetch\",\"TodoWrite\"],\"mcp_servers\":"
        "[{\"name\":\"fs\",\"status\":\"connected\"}],\"model\":\"claude-sonnet-4-5-20250929\","
        "\"permissionMode\":\"default\",\"slash_commands\":[\"compact\",\"review\"],"
        "\"apiKeySource\":\"ANTHROPIC_API_KEY\",\"claude_code_version\":\"2.1.37\","
        "\"output_style\":\"default\",\"agents\":[],\"skills\":[],\"plugins\":[],\"uuid\":"
        "\"0d7e1c56-2f3a-4b8e-a1d4-6c9b2e7f3a10\"}",
        1, types, &r);
    json_t *d = r.data[0];
    assert_string_equal(str(d, "session_id"), "5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c");
    assert_string_equal(str(d, "cwd"), "/work/ws");
    assert_string_equal(str(d, "model"), "claude-sonnet-4-5-20250929");
    assert_string_equal(str(d, "permissionMode"), "default");
    assert_int_equal(json_array_size(json_object_get(d, "tools")), 9);
    assert_string_equal(str(json_array_get(json_object_get(d, "mcp_servers"), 0), "status"),
                        "connected");
    assert_string_equal(str(d, "claude_code_version"), "2.1.37");
    assert_null(json_object_get(d, "apiKeySource")); /* only the documented fields */
    rec_free(&r);
}

static void test_assistant_blocks(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.thinking", "agent.text", "agent.tool_use", "agent.tool_use"};
    expect_events(
        "{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
        "\"content\":[{\"type\":\"thinking\",\"thinking\":\"The user wants a file.\","
        "\"signature\":\"EqQBCkYIBxgCKkB\"},{\"type\":\"text\",\"text\":\"I'll create "
        "hello.txt.\"},{\"type\":\"tool_use\",\"id\":\"toolu_01A09q90qw90lq917835lq9\","
        "\"name\":\"Write\",\"input\":{\"file_path\":\"/work/ws/hello.txt\",\"content\":"
        "\"hello\\n\"}},{\"type\":\"tool_use\",\"id\":\"toolu_02B\",\"name\":\"Bash\","
        "\"input\":{\"command\":\"ls -la\",\"description\":\"List files\"}}],"
        "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":4,"
        "\"cache_creation_input_tokens\":1520,\"cache_read_input_tokens\":13700,"
        "\"output_tokens\":112,\"service_tier\":\"standard\"}},\"parent_tool_use_id\":null,"
        "\"session_id\":\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"uuid\":"
        "\"8a1f2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d\"}",
        4, types, &r);
    assert_string_equal(str(r.data[0], "thinking"), "The user wants a file.");
    assert_null(json_object_get(r.data[0], "signature"));
    assert_string_equal(str(r.data[1], "text"), "I'll create hello.txt.");
    assert_string_equal(str(r.data[2], "id"), "toolu_01A09q90qw90lq917835lq9");
    assert_string_equal(str(r.data[2], "name"), "Write");
    assert_string_equal(str(json_object_get(r.data[2], "input"), "file_path"),
                        "/work/ws/hello.txt");
    assert_string_equal(str(json_object_get(r.data[3], "input"), "command"), "ls -la");
    /* A top-level message (parent_tool_use_id null) says nothing of it. */
    for (size_t i = 0; i < r.n; i++)
        assert_null(json_object_get(r.data[i], "parent_tool_use_id"));
    rec_free(&r);
}

/* A subagent's (Task tool's) messages carry the Task call's id. */
static void test_subagent(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.text"};
    expect_events("{\"type\":\"assistant\",\"message\":{\"role\":\"assistant\",\"content\":"
                  "[{\"type\":\"text\",\"text\":\"Searching.\"}]},\"parent_tool_use_id\":"
                  "\"toolu_task1\",\"session_id\":\"s\"}",
                  1, types, &r);
    assert_string_equal(str(r.data[0], "parent_tool_use_id"), "toolu_task1");
    rec_free(&r);
}

static void test_tool_results(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.tool_result", "agent.tool_result", "agent.tool_result"};
    expect_events(
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":"
        "\"toolu_01A09q90qw90lq917835lq9\",\"type\":\"tool_result\",\"content\":\"File "
        "created successfully at: /work/ws/hello.txt\"},{\"tool_use_id\":\"toolu_02B\","
        "\"type\":\"tool_result\",\"content\":[{\"type\":\"text\",\"text\":\"total 8\\n"
        "-rw-r--r-- 1 agent agent 6 hello.txt\"},{\"type\":\"text\",\"text\":\"(2 lines)\"}]},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_03C\",\"content\":\"Claude "
        "requested permissions to write to /etc/passwd, but you haven't granted it yet.\","
        "\"is_error\":true}]},\"parent_tool_use_id\":null,\"session_id\":\"s\",\"uuid\":\"u\","
        "\"tool_use_result\":{\"type\":\"create\",\"filePath\":\"/work/ws/hello.txt\"}}",
        3, types, &r);
    assert_string_equal(str(r.data[0], "tool_use_id"), "toolu_01A09q90qw90lq917835lq9");
    assert_string_equal(str(r.data[0], "content"),
                        "File created successfully at: /work/ws/hello.txt");
    assert_true(json_is_false(json_object_get(r.data[0], "is_error")));
    json_t *blocks = json_object_get(r.data[1], "content");
    assert_true(json_is_array(blocks));
    assert_int_equal(json_array_size(blocks), 2);
    assert_string_equal(str(json_array_get(blocks, 1), "text"), "(2 lines)");
    assert_true(json_is_true(json_object_get(r.data[2], "is_error")));
    rec_free(&r);
}

static void test_results(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.result"};
    expect_events(
        "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":"
        "15234,\"duration_api_ms\":12873,\"num_turns\":4,\"result\":\"Created hello.txt.\","
        "\"session_id\":\"5f0c2a4e-8d7b-4c1e-9a3f-2b6d8e1f0a7c\",\"total_cost_usd\":"
        "0.0421365,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":4613,"
        "\"cache_read_input_tokens\":41200,\"output_tokens\":389,\"server_tool_use\":"
        "{\"web_search_requests\":0},\"service_tier\":\"standard\"},\"modelUsage\":{},"
        "\"permission_denials\":[{\"tool_name\":\"Write\",\"tool_use_id\":\"toolu_03C\","
        "\"tool_input\":{\"file_path\":\"/etc/passwd\"}}],\"uuid\":\"u\"}",
        1, types, &r);
    json_t *d = r.data[0];
    assert_string_equal(str(d, "subtype"), "success");
    assert_true(json_is_false(json_object_get(d, "is_error")));
    assert_string_equal(str(d, "result"), "Created hello.txt.");
    assert_int_equal(json_integer_value(json_object_get(d, "num_turns")), 4);
    assert_int_equal(json_integer_value(json_object_get(d, "duration_ms")), 15234);
    assert_int_equal(json_integer_value(json_object_get(d, "duration_api_ms")), 12873);
    assert_true(json_real_value(json_object_get(d, "total_cost_usd")) > 0.0421 &&
                json_real_value(json_object_get(d, "total_cost_usd")) < 0.0422);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "usage"),
                                                        "output_tokens")),
                     389);
    assert_int_equal(json_array_size(json_object_get(d, "permission_denials")), 1);
    rec_free(&r);

    /* An error result without is_error (older CLIs): derived from subtype. */
    expect_events("{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"duration_ms\":900,"
                  "\"num_turns\":10,\"session_id\":\"s\",\"total_cost_usd\":0.5,\"usage\":{}}",
                  1, types, &r);
    assert_string_equal(str(r.data[0], "subtype"), "error_max_turns");
    assert_true(json_is_true(json_object_get(r.data[0], "is_error")));
    assert_null(json_object_get(r.data[0], "result"));
    rec_free(&r);
    expect_events("{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":"
                  "true,\"errors\":[\"boom\"],\"session_id\":\"s\"}",
                  1, types, &r);
    assert_true(json_is_true(json_object_get(r.data[0], "is_error")));
    assert_int_equal(json_array_size(json_object_get(r.data[0], "errors")), 1);
    rec_free(&r);
}

static void test_control(void **state)
{
    (void)state;
    rec_t r = {0};
    json_t *parsed = NULL;
    assert_int_equal(norm("{\"type\":\"control_request\",\"request_id\":\"req_1_a8f3\","
                          "\"request\":{\"subtype\":\"can_use_tool\",\"tool_name\":\"Write\","
                          "\"input\":{\"file_path\":\"/work/ws/a.txt\",\"content\":\"x\"},"
                          "\"permission_suggestions\":[],\"tool_use_id\":\"toolu_9\"}}",
                          &r, &parsed),
                     HOST_AGENT_LINE_CONTROL_REQUEST);
    assert_int_equal(r.n, 0);
    assert_non_null(parsed);
    assert_string_equal(str(parsed, "request_id"), "req_1_a8f3");
    assert_string_equal(str(json_object_get(parsed, "request"), "tool_name"), "Write");
    json_decref(parsed);

    assert_int_equal(norm("{\"type\":\"control_response\",\"response\":{\"subtype\":"
                          "\"success\",\"request_id\":\"host_init_1\",\"response\":"
                          "{\"commands\":[]}}}",
                          &r, &parsed),
                     HOST_AGENT_LINE_CONTROL_RESPONSE);
    assert_int_equal(r.n, 0);
    assert_string_equal(str(json_object_get(parsed, "response"), "request_id"), "host_init_1");
    json_decref(parsed);

    /* The agent withdraws a request (the turn was interrupted). */
    assert_int_equal(norm("{\"type\":\"control_cancel_request\",\"request_id\":\"req_1_a8f3\"}",
                          &r, &parsed),
                     HOST_AGENT_LINE_CONTROL_REQUEST);
    assert_string_equal(str(parsed, "type"), "control_cancel_request");
    json_decref(parsed);

    /* parsed may be NULL: the line is dropped without a leak. */
    assert_int_equal(norm("{\"type\":\"control_request\",\"request_id\":\"r\",\"request\":{}}",
                          &r, NULL),
                     HOST_AGENT_LINE_CONTROL_REQUEST);
    assert_int_equal(r.n, 0);
}

/* ---- what is not understood -------------------------------------------- */

static void test_garbage(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *out[] = {"agent.output"};
    expect_events("npm WARN deprecated inflight@1.0.6: This module is not supported", 1, out,
                  &r);
    assert_string_equal(str(r.data[0], "text"),
                        "npm WARN deprecated inflight@1.0.6: This module is not supported");
    assert_null(json_object_get(r.data[0], "json"));
    assert_null(json_object_get(r.data[0], "truncated"));
    rec_free(&r);

    /* Broken JSON is text. */
    expect_events("{\"type\":\"assistant\",\"message\":{\"content\":[", 1, out, &r);
    assert_string_equal(str(r.data[0], "text"), "{\"type\":\"assistant\",\"message\":{\"content\":[");
    rec_free(&r);

    /* Invalid UTF-8 becomes U+FFFD. */
    assert_int_equal(host_agent_normalize("bad \xff\xfe\xc3 end", 11, 0, on_event, &r, NULL),
                     HOST_AGENT_LINE_EVENTS);
    assert_int_equal(r.n, 1);
    assert_string_equal(str(r.data[0], "text"), "bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
    rec_free(&r);

    /* A JSON line with invalid UTF-8 is not JSON (jansson refuses it). */
    assert_int_equal(host_agent_normalize("{\"type\":\"x\xff\"}", 13, 0, on_event, &r, NULL),
                     HOST_AGENT_LINE_EVENTS);
    assert_int_equal(r.n, 1);
    assert_string_equal(str(r.data[0], "text"), "{\"type\":\"x\xef\xbf\xbd\"}");
    rec_free(&r);

    /* Binary with NUL bytes. */
    assert_int_equal(host_agent_normalize("a\0b", 3, 0, on_event, &r, NULL),
                     HOST_AGENT_LINE_EVENTS);
    assert_int_equal(json_string_length(json_object_get(r.data[0], "text")), 3);
    rec_free(&r);

    /* Empty: nothing. */
    assert_int_equal(host_agent_normalize("", 0, 0, on_event, &r, NULL), HOST_AGENT_LINE_EVENTS);
    assert_int_equal(r.n, 0);
}

static void test_unknown_json(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *out[] = {"agent.output"};
    const char *lines[] = {
        "{\"type\":\"system\",\"subtype\":\"compact_boundary\",\"session_id\":\"s\","
        "\"compact_metadata\":{\"trigger\":\"auto\",\"pre_tokens\":155000}}",
        "{\"type\":\"system\",\"subtype\":\"api_retry\",\"attempt\":1,\"error_status\":529}",
        "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\"}}",
        "{\"type\":\"brand_new_kind\",\"x\":1}",
        "{\"no_type\":true}",
        "[1,2,3]",
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"Write hello.txt\"}}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        expect_events(lines[i], 1, out, &r);
        assert_string_equal(str(r.data[0], "text"), lines[i]);
        json_t *want = json_loads(lines[i], 0, NULL);
        assert_non_null(want);
        assert_true(json_equal(json_object_get(r.data[0], "json"), want));
        json_decref(want);
        rec_free(&r);
    }
    /* A scalar is text. */
    expect_events("42", 1, out, &r);
    assert_null(json_object_get(r.data[0], "json"));
    rec_free(&r);
    /* keep_alive carries nothing. */
    expect_events("{\"type\":\"keep_alive\"}", 0, out, &r);
}

/* An unknown block among known ones: the known ones become their events and
 * the line is kept once as agent.output where the unknown block was. */
static void test_unknown_block(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.text", "agent.output", "agent.tool_use"};
    expect_events("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\","
                  "\"text\":\"a\"},{\"type\":\"image\",\"source\":{}},{\"type\":\"mystery\"},"
                  "{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"Read\",\"input\":{}}]}}",
                  3, types, &r);
    assert_non_null(json_object_get(r.data[1], "json"));
    rec_free(&r);
}

static void test_truncated(void **state)
{
    (void)state;
    rec_t r = {0};
    /* Cut in the middle of a JSON line, and of a character. */
    const char *line = "{\"type\":\"assistant\",\"message\":{\"content\":\"caf\xc3";
    assert_int_equal(host_agent_normalize(line, strlen(line), 1, on_event, &r, NULL),
                     HOST_AGENT_LINE_EVENTS);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.type[0], "agent.output");
    assert_true(json_is_true(json_object_get(r.data[0], "truncated")));
    assert_string_equal(str(r.data[0], "text"),
                        "{\"type\":\"assistant\",\"message\":{\"content\":\"caf");
    rec_free(&r);
}

/* ---- text protocols ---------------------------------------------------- */

static void test_protocols(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.text",  "agent.phase_complete", "agent.question",
                           "agent.error", "agent.dependency_request", "agent.question",
                           "agent.text",  "agent.phase_complete"};
    expect_events(
        "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":"
        "\"Done with the parser.\\n=== PHASE 2 COMPLETE ===\\nBefore going on: "
        "[USER_QUESTION]Should the API stay v1-compatible?[/USER_QUESTION] Also "
        "[ERROR]tests fail on arm64[/ERROR] and [DEPENDENCY_REQUEST]{\\\"package\\\":"
        "\\\"libyaml-dev\\\",\\\"reason\\\":\\\"YAML config\\\"}[/DEPENDENCY_REQUEST]"
        "[USER_QUESTION]\\n  Which license?\\n[/USER_QUESTION][USER_QUESTION][/USER_QUESTION]"
        "[ERROR]never closed\"},{\"type\":\"text\",\"text\":\"==== phase 10 complete ====\"}]}}",
        8, types, &r);
    assert_int_equal(json_integer_value(json_object_get(r.data[1], "phase")), 2);
    assert_string_equal(str(r.data[2], "text"), "Should the API stay v1-compatible?");
    assert_string_equal(str(r.data[3], "text"), "tests fail on arm64");
    assert_string_equal(str(json_object_get(r.data[4], "json"), "package"), "libyaml-dev");
    assert_string_equal(str(r.data[5], "text"), "Which license?");
    assert_int_equal(json_integer_value(json_object_get(r.data[7], "phase")), 10);
    rec_free(&r);

    /* Not protocols. */
    const char *text[] = {"agent.text"};
    expect_events("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":"
                  "\"=== PHASE two COMPLETE === == PHASE 3 COMPLETE == [USER_QUESTION] open "
                  "[/ERROR]\"}]}}",
                  1, text, &r);
    rec_free(&r);

    /* In plain text output too (agents that do not speak JSON). */
    const char *plain[] = {"agent.output", "agent.question"};
    expect_events("[USER_QUESTION]Proceed?[/USER_QUESTION]", 2, plain, &r);
    assert_string_equal(str(r.data[1], "text"), "Proceed?");
    rec_free(&r);

    /* A long text with many near-misses stays linear and finds the match. */
    size_t n = 200000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    for (size_t i = 0; i + 4 <= n; i += 4)
        memcpy(big + i, "[== ", 4);
    strcpy(big + n, "=== PHASE 7 COMPLETE ===");
    assert_int_equal(host_agent_scan_protocols(big, strlen(big), on_event, &r), 1);
    assert_int_equal(json_integer_value(json_object_get(r.data[0], "phase")), 7);
    rec_free(&r);
    free(big);
}

/* A 10 MB assistant text block and a 10 MB tool result, whole. */
static void test_huge(void **state)
{
    (void)state;
    size_t big = (size_t)10 << 20;
    const char *head = "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\","
                       "\"text\":\"";
    const char *tail = "=== PHASE 1 COMPLETE ===\"}]}}";
    size_t hl = strlen(head), tl = strlen(tail);
    char *line = malloc(hl + big + tl + 1);
    assert_non_null(line);
    memcpy(line, head, hl);
    for (size_t i = 0; i < big; i++)
        line[hl + i] = (char)('a' + i % 26);
    memcpy(line + hl + big, tail, tl + 1);
    rec_t r = {0};
    const char *types[] = {"agent.text", "agent.phase_complete"};
    expect_events(line, 2, types, &r);
    assert_int_equal(json_string_length(json_object_get(r.data[0], "text")), big + tl - 5);
    rec_free(&r);
    free(line);
}

/* ---- reading by spans -------------------------------------------------- */

static host_jspan_t span(const char *s)
{
    return (host_jspan_t){s, strlen(s)};
}

static void expect_span(host_jspan_t v, const char *want)
{
    assert_non_null(v.p);
    assert_int_equal(v.n, strlen(want));
    assert_memory_equal(v.p, want, v.n);
}

static void test_spans(void **state)
{
    (void)state;
    /* Quotes, backslashes and brackets inside strings do not end values. */
    const char *obj = " { \"a\" : \"x\\\\\" , \"b\":{\"k\":\"}]\\\"[{\"},\"c\":[1, \"]\", {\"d\":[]}] ,"
                      "\"type\":\"user\", \"n\": -1.5e3 ,\"t\":true,\"e\":\"\"} ";
    expect_span(host_jspan_get(span(obj), "a"), "\"x\\\\\"");
    expect_span(host_jspan_get(span(obj), "b"), "{\"k\":\"}]\\\"[{\"}");
    expect_span(host_jspan_get(host_jspan_get(span(obj), "b"), "k"), "\"}]\\\"[{\"");
    expect_span(host_jspan_get(span(obj), "c"), "[1, \"]\", {\"d\":[]}]");
    expect_span(host_jspan_get(span(obj), "n"), "-1.5e3");
    expect_span(host_jspan_get(span(obj), "t"), "true");
    assert_true(host_jspan_streq(host_jspan_get(span(obj), "type"), "user"));
    assert_false(host_jspan_streq(host_jspan_get(span(obj), "type"), "use"));
    assert_true(host_jspan_streq(host_jspan_get(span(obj), "e"), ""));
    assert_null(host_jspan_get(span(obj), "missing").p);
    assert_null(host_jspan_get(span(obj), "k").p); /* not a top-level key */
    assert_null(host_jspan_get(span("[1]"), "a").p);
    assert_null(host_jspan_get((host_jspan_t){NULL, 0}, "a").p);
    assert_int_equal(host_jspan_kind(host_jspan_get(span(obj), "c")), '[');

    host_jspan_iter_t it;
    host_jspan_t e;
    const char *want[] = {"1", "\"]\"", "{\"d\":[]}"};
    host_jspan_iter_init(&it, host_jspan_get(span(obj), "c"));
    for (size_t i = 0; i < 3; i++) {
        assert_true(host_jspan_next(&it, &e));
        expect_span(e, want[i]);
    }
    assert_false(host_jspan_next(&it, &e));
    host_jspan_iter_init(&it, span("[ ]"));
    assert_false(host_jspan_next(&it, &e));
    host_jspan_iter_init(&it, span("{}"));
    assert_false(host_jspan_next(&it, &e));

    json_t *v = host_jspan_value(host_jspan_get(span(obj), "a"));
    assert_string_equal(json_string_value(v), "x\\");
    json_decref(v);
    v = host_jspan_value(host_jspan_get(span(obj), "b"));
    assert_string_equal(json_string_value(json_object_get(v, "k")), "}]\"[{");
    json_decref(v);
    assert_null(host_jspan_value((host_jspan_t){NULL, 0}));

    /* Cut or broken text: no reading past the span. */
    const char *cut[] = {"{\"a\":\"abc", "{\"a\":{\"b\":[1,2", "{\"a\"", "{\"a\":1,", "{\"a\" 1}"};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        host_jspan_t whole = span(cut[i]);
        host_jspan_t got = host_jspan_get(whole, "a");
        assert_true(got.p == NULL || got.p + got.n <= whole.p + whole.n);
        assert_null(host_jspan_get(whole, "zz").p);
    }
}

/* Escapes everywhere, and values that are valid JSON but that jansson
 * refuses (the line is then kept as agent.output). */
static void test_escapes_and_refusals(void **state)
{
    (void)state;
    rec_t r = {0};
    const char *types[] = {"agent.text", "agent.tool_use"};
    expect_events("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":"
                  "\"say \\\"hi\\\" in C:\\\\dir\\\\ \\u00e9 \\ud83d\\ude00 }]\"},{\"type\":\"tool_use\","
                  "\"id\":\"t1\",\"name\":\"Edit\",\"input\":{\"old_string\":\"{\\\"a\\\": [\\\"}\\\"]}\","
                  "\"new_string\":\"\\n\"}}]}}",
                  2, types, &r);
    assert_string_equal(str(r.data[0], "text"),
                        "say \"hi\" in C:\\dir\\ \xc3\xa9 \xf0\x9f\x98\x80 }]");
    assert_string_equal(str(json_object_get(r.data[1], "input"), "old_string"),
                        "{\"a\": [\"}\"]}");
    rec_free(&r);

    /* A 30-digit token count; a lone surrogate. */
    const char *out[] = {"agent.output"};
    const char *refused[] = {
        "{\"type\":\"result\",\"subtype\":\"success\",\"usage\":{\"output_tokens\":"
        "123456789012345678901234567890}}",
        "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":"
        "\"\\ud800\"}]}}",
    };
    for (size_t i = 0; i < 2; i++) {
        expect_events(refused[i], 1, out, &r);
        assert_string_equal(str(r.data[0], "text"), refused[i]);
        assert_null(json_object_get(r.data[0], "json"));
        rec_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_assistant_blocks),
        cmocka_unit_test(test_subagent),
        cmocka_unit_test(test_tool_results),
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_unknown_json),
        cmocka_unit_test(test_unknown_block),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_protocols),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_escapes_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
