#!/usr/bin/python3
"""A scripted Anthropic Messages API on 127.0.0.1, for tests that run the real
Claude Code CLI (or any client of the API) against a model whose answers a
test decides.

    from scripted_model_api import ScriptedModelAPI, text, thinking, tool_use

    api = ScriptedModelAPI([
        [thinking("plan"), tool_use("Write", {"file_path": "/ws/a.txt", "content": "hi"})],
        [text("Done.")],
    ])
    api.start()                      # api.url == "http://127.0.0.1:PORT"
    ... run claude with ANTHROPIC_BASE_URL=api.url ...
    api.stop()
    api.requests                     # every request received, in order

The script is a list of steps, one per assistant turn. Which step answers a
request is the number of assistant turns already in its `messages`, so the
server keeps no conversation state and a retried request gets the same
answer. A step is a list of content blocks, or a callable(request_body) that
returns one. A step with a tool_use block ends with stop_reason "tool_use",
any other with "end_turn". Past the last step the answer is
text(after_script) (default "(end of script)").

Requests that carry no `tools` (Claude Code's side requests: titles, quota
checks, summaries) are not turns of the conversation: they get
text(side_answer) and do not consume a step.

A test can make the API fail: api.fail_next(count, status=529) answers the
next `count` conversation requests (those with `tools`) with that HTTP
error (an Anthropic error body: 529 overloaded_error by default), before
any step; the client's retries then get the step as usual. Each recorded
request has "status", the HTTP status it was answered with.

Answers are server-sent events when the request asks for "stream": true
(message_start, content_block_start / content_block_delta /
content_block_stop per block, message_delta, message_stop), else one JSON
message. Also answered: POST /v1/messages/count_tokens, GET /v1/models,
and any other GET or HEAD (200, {}), so start-up probes do not fail.

Run as a program it serves a script from a JSON file until killed and prints
its URL on the first line of stdout:

    scripted_model_api.py SCRIPT.json [--port N] [--record FILE.jsonl]

where the file holds {"steps": [[{"type": "text", "text": "..."}], ...]}, and
optionally "errors": [{"status": 529}, ...] for fail_next, in order.
Only the standard library is used.
"""

import argparse
import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"


def text(s):
    """A text block."""
    return {"type": "text", "text": s}


def thinking(s, signature="c2NyaXB0ZWQ="):
    """A thinking block (with a placeholder signature)."""
    return {"type": "thinking", "thinking": s, "signature": signature}


def tool_use(name, input_, id_=None):
    """A tool_use block; the id is generated when not given."""
    block = {"type": "tool_use", "name": name, "input": input_}
    if id_ is not None:
        block["id"] = id_
    return block


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def assistant_turns(body):
    """How many assistant messages a request's conversation already has."""
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def system_text(body):
    """The system prompt of a request as one string (it may be a list of
    blocks)."""
    system = body.get("system", "")
    if isinstance(system, list):
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    return system or ""


class ScriptedModelAPI:
    """The server. Thread-safe; start() returns once it is listening."""

    def __init__(self, steps, host="127.0.0.1", port=0, model=DEFAULT_MODEL,
                 after_script="(end of script)", side_answer="ok"):
        self.steps = list(steps)
        self.model = model
        self.after_script = after_script
        self.side_answer = side_answer
        self.requests = []
        self._errors = []  # (status, type, message) for the next turn requests
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://%s:%d" % (self._server.server_address[0], self.port)

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="scripted-model-api", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def fail_next(self, count=1, status=529, error_type=None, message=None):
        """Answers the next `count` conversation requests (POST /v1/messages
        with `tools`) with an HTTP error instead of a step. Cumulative."""
        error_type = error_type or ERROR_TYPES.get(status, "api_error")
        message = message or ("Overloaded" if status == 529 else "scripted error")
        with self._lock:
            self._errors.extend([(status, error_type, message)] * count)
        return self

    def messages_requests(self):
        """The recorded POST /v1/messages requests (bodies)."""
        with self._lock:
            return [r["body"] for r in self.requests
                    if r["method"] == "POST" and r["path"] == "/v1/messages"]

    # -- internals -------------------------------------------------------

    def _record(self, method, path, headers, body):
        with self._lock:
            self.requests.append({"method": method, "path": path,
                                  "headers": dict(headers), "body": body, "status": 200})

    def _take_error(self, body):
        """The injected error for this request, if it is a turn and one is due;
        the request's record (the last one) says which status it got."""
        if not body.get("tools"):
            return None
        with self._lock:
            if not self._errors:
                return None
            err = self._errors.pop(0)
            for r in reversed(self.requests):
                if r["body"] is body:
                    r["status"] = err[0]
                    break
            return err

    def _next_id(self, prefix):
        with self._lock:
            return "%s_scripted_%04d" % (prefix, next(self._ids))

    def answer_blocks(self, body):
        """The content blocks that answer one /v1/messages request."""
        if not body.get("tools"):
            return [text(self.side_answer)]
        n = assistant_turns(body)
        if n >= len(self.steps):
            return [text(self.after_script)]
        step = self.steps[n]
        blocks = step(body) if callable(step) else step
        out = []
        for b in blocks:
            b = dict(b)
            if b["type"] == "tool_use" and "id" not in b:
                b["id"] = self._next_id("toolu")
            out.append(b)
        return out

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet: tests read requests
                pass

            def _path(self):
                # Absolute-form targets (a proxy that forwards as it got
                # them) are accepted too.
                return urlsplit(self.path).path or "/"

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    return json.loads(raw) if raw else {}
                except ValueError:
                    return {"_raw": raw.decode("utf-8", "replace")}

            def _send_json(self, code, obj, headers=()):
                data = json.dumps(obj).encode()
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", api._next_id("req"))
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self):
                api._record("HEAD", self._path(), self.headers, None)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                path = self._path()
                api._record("GET", path, self.headers, None)
                if path.startswith("/v1/models"):
                    self._send_json(200, {"data": [{"type": "model", "id": api.model,
                                                    "display_name": "Scripted"}],
                                          "has_more": False, "first_id": api.model,
                                          "last_id": api.model})
                else:
                    self._send_json(200, {})

            def do_POST(self):
                path = self._path()
                body = self._body()
                api._record("POST", path, self.headers, body)
                if path == "/v1/messages/count_tokens":
                    self._send_json(200, {"input_tokens": _estimate_tokens(body)})
                elif path == "/v1/messages":
                    self._messages(body)
                else:
                    self._send_json(404, {"type": "error", "error": {
                        "type": "not_found_error", "message": "no such endpoint: " + path}})

            def _messages(self, body):
                err = api._take_error(body)
                if err is not None:
                    status, etype, message = err
                    self._send_json(status, {"type": "error", "error": {
                        "type": etype, "message": message}},
                        headers=[("x-should-retry", "true")] if status >= 500 else [])
                    return
                blocks = api.answer_blocks(body)
                stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) \
                    else "end_turn"
                msg_id = api._next_id("msg")
                if not body.get("stream"):
                    self._send_json(200, _message(msg_id, api.model, blocks, stop, body))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for event, data in _stream_events(msg_id, api.model, blocks, stop, body):
                    self.wfile.write(("event: %s\ndata: %s\n\n"
                                      % (event, json.dumps(data))).encode())
                    self.wfile.flush()
                self.close_connection = True

        return Handler


def _estimate_tokens(body):
    return max(1, len(json.dumps(body.get("messages", []))) // 4)


def _usage(body, output_tokens):
    return {"input_tokens": _estimate_tokens(body), "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _message(msg_id, model, blocks, stop, body):
    return {"id": msg_id, "type": "message", "role": "assistant", "model": model,
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": _usage(body, 10)}


def _stream_events(msg_id, model, blocks, stop, body):
    """The SSE events of one streamed answer, as (event, data) pairs."""
    start = _message(msg_id, model, [], None, body)
    start["usage"]["output_tokens"] = 1
    yield "message_start", {"type": "message_start", "message": start}
    for i, b in enumerate(blocks):
        yield from _block_events(i, b)
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": stop, "stop_sequence": None},
                            "usage": {"output_tokens": 10}}
    yield "message_stop", {"type": "message_stop"}


def _block_events(i, b):
    kind = b["type"]
    if kind == "text":
        yield "content_block_start", {"type": "content_block_start", "index": i,
                                      "content_block": {"type": "text", "text": ""}}
        yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                      "delta": {"type": "text_delta", "text": b["text"]}}
    elif kind == "thinking":
        yield "content_block_start", {"type": "content_block_start", "index": i,
                                      "content_block": {"type": "thinking", "thinking": "",
                                                        "signature": ""}}
        yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                      "delta": {"type": "thinking_delta",
                                                "thinking": b["thinking"]}}
        yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                      "delta": {"type": "signature_delta",
                                                "signature": b.get("signature", "")}}
    elif kind == "tool_use":
        yield "content_block_start", {"type": "content_block_start", "index": i,
                                      "content_block": {"type": "tool_use", "id": b["id"],
                                                        "name": b["name"], "input": {}}}
        yield "content_block_delta", {"type": "content_block_delta", "index": i,
                                      "delta": {"type": "input_json_delta",
                                                "partial_json": json.dumps(b["input"])}}
    else:
        raise ValueError("unknown block type %r" % kind)
    yield "content_block_stop", {"type": "content_block_stop", "index": i}


def main(argv=None):
    ap = argparse.ArgumentParser(description="Serve a scripted Anthropic Messages API.")
    ap.add_argument("script", help='JSON file: {"steps": [[block, ...], ...]}')
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--record", help="append each request as a JSON line to this file")
    args = ap.parse_args(argv)
    with open(args.script) as f:
        script = json.load(f)
    steps = script["steps"]
    api = ScriptedModelAPI(steps, port=args.port)
    for e in script.get("errors", []):
        api.fail_next(1, e.get("status", 529), e.get("type"), e.get("message"))
    if args.record:
        record = api._record
        lock = threading.Lock()

        def record_to_file(method, path, headers, body):
            record(method, path, headers, body)
            with lock, open(args.record, "a") as out:
                out.write(json.dumps({"method": method, "path": path, "body": body}) + "\n")
        api._record = record_to_file
    api.start()
    print(api.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
