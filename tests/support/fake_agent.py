#!/usr/bin/python3
"""A fake agent for the session tests: run by agentd in place of the Claude
Code CLI (agent.command), with the CLI's arguments, which it ignores except
--resume. What it does is chosen by its environment (a session's "env"
setting):

  FAKE_AGENT_MODE=hang      prints system/init, reads its input and never
                            prints again; ignores SIGTERM (only SIGKILL ends it)
  FAKE_AGENT_MODE=garbage   for each user message: system/init, then a line
                            that is not JSON, a line of invalid UTF-8, a line
                            cut in the middle of a UTF-8 sequence across two
                            writes, a line of FAKE_AGENT_BIG_BYTES (default
                            5 MB) of assistant text, JSON of an unknown type,
                            then a valid result
  FAKE_AGENT_MODE=flood     for each user message: system/init, then
                            FAKE_AGENT_LINES (default 1000000) assistant text
                            lines as fast as it can ("flood <run> <i>"), then a
                            result
  FAKE_AGENT_MODE=result    for each user message: system/init, then the JSON
                            in FAKE_AGENT_RESULT as its result line
  FAKE_AGENT_MODE=linger    for the first user message: system/init and a
                            result; then never exits, not even when its input
                            ends, and ignores SIGTERM
  FAKE_AGENT_MODE=rerun     the first run in a workspace (no file
                            .fake-agent-ran in its cwd): makes that file, then
                            behaves as hang; later runs: for each user
                            message, system/init and a result whose text is
                            the value of $FAKE_AGENT_SHOW ("NAME=value")
  FAKE_AGENT_MODE=fetch     for each user message: system/init, then a
                            CONNECT through $HTTPS_PROXY to FAKE_AGENT_URL's
                            host:port; the proxy's status line is the result
  FAKE_AGENT_MODE=ask       for each user message: system/init, then
                            FAKE_AGENT_ASKS (default 3) can_use_tool requests
                            for Write at once (request ids ask-<i>), then a
                            result once every one was answered, whose text is
                            the answers' behaviours as JSON {id: behavior}

Every line goes to stdout; stderr gets nothing. It exits when its input ends.
Only the standard library is used.
"""

import json
import os
import signal
import sys
import time
import uuid

OUT = sys.stdout.buffer


def write(data):
    OUT.write(data)
    OUT.flush()


def line(obj):
    write(json.dumps(obj).encode() + b"\n")


def session_id():
    args = sys.argv[1:]
    if "--resume" in args:
        i = args.index("--resume")
        if i + 1 < len(args):
            return args[i + 1]
    return str(uuid.uuid4())


SESSION = session_id()


def init():
    line({"type": "system", "subtype": "init", "session_id": SESSION, "cwd": os.getcwd(),
          "model": "fake-agent", "tools": ["Bash"], "mcp_servers": [],
          "permissionMode": "default"})


def assistant_text(text):
    return {"type": "assistant", "session_id": SESSION,
            "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}}


def result(text="done", subtype="success", is_error=False):
    return {"type": "result", "subtype": subtype, "is_error": is_error, "result": text,
            "session_id": SESSION, "num_turns": 1, "duration_ms": 1,
            "total_cost_usd": 0.001, "usage": {"input_tokens": 3, "output_tokens": 5},
            "permission_denials": []}


def messages():
    """The user messages on stdin (control lines are skipped)."""
    for raw in sys.stdin.buffer:
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if msg.get("type") == "user":
            yield msg


def hang():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    init()
    for _ in sys.stdin.buffer:
        pass
    while True:  # input ended: still never exits on its own
        time.sleep(3600)


def garbage():
    big = int(os.environ.get("FAKE_AGENT_BIG_BYTES", str(5 * 1024 * 1024)))
    for _ in messages():
        init()
        write(b"this line is not JSON at all\n")
        write(b"invalid utf-8: \xff\xfe \xc3\x28 \xed\xa0\x80 end\n")
        cut = "split here: caf\u00e9 \u20ac \U0001F600 done\n".encode()
        at = cut.index(b"\xe2\x82") + 1  # inside the euro sign
        write(cut[:at])
        time.sleep(0.05)
        write(cut[at:])
        write(json.dumps(assistant_text("B" * big)).encode() + b"\n")
        line({"type": "mystery_event", "payload": {"n": 42}})
        line(result("garbage survived"))


def flood():
    n = int(os.environ.get("FAKE_AGENT_LINES", "1000000"))
    run = os.environ.get("FAKE_AGENT_RUN", "")
    for k, _ in enumerate(messages()):
        init()
        for i in range(n):
            OUT.write(json.dumps(assistant_text("flood %s%d %d" % (run, k, i))).encode()
                      + b"\n")
        OUT.flush()
        line(result("flooded %d lines" % n))


def linger():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in messages():
        init()
        line(result("lingering"))
        break
    for _ in sys.stdin.buffer:
        pass
    while True:
        time.sleep(3600)


def fixed_result():
    res = json.loads(os.environ.get("FAKE_AGENT_RESULT", "null") or "null") or result()
    res.setdefault("session_id", SESSION)
    for _ in messages():
        init()
        line(res)


def ask():
    n = int(os.environ.get("FAKE_AGENT_ASKS", "3"))
    waiting = False
    answers = {}
    for raw in sys.stdin.buffer:
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if msg.get("type") == "user" and not waiting:
            init()
            answers = {}
            for i in range(n):
                line({"type": "control_request", "request_id": "ask-%d" % i,
                      "request": {"subtype": "can_use_tool", "tool_name": "Write",
                                  "input": {"file_path": os.path.join(os.getcwd(), "f%d" % i),
                                            "content": "x"}}})
            waiting = True
        elif msg.get("type") == "control_response" and waiting:
            r = msg.get("response", {})
            answers[r.get("request_id")] = r.get("response", {}).get("behavior")
            if len(answers) == n:
                line(result(json.dumps(answers, sort_keys=True)))
                waiting = False


def rerun():
    marker = os.path.join(os.getcwd(), ".fake-agent-ran")
    if not os.path.exists(marker):
        open(marker, "w").close()
        hang()
        return
    name = os.environ.get("FAKE_AGENT_SHOW", "")
    for _ in messages():
        init()
        line(result("%s=%s" % (name, os.environ.get(name, ""))))


def fetch():
    import socket
    from urllib.parse import urlsplit
    target = urlsplit(os.environ.get("FAKE_AGENT_URL", "https://example.com/"))
    proxy = urlsplit(os.environ.get("HTTPS_PROXY", ""))
    for _ in messages():
        init()
        status = "no proxy"
        if proxy.hostname:
            with socket.create_connection((proxy.hostname, proxy.port), timeout=10) as c:
                c.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                           % (target.hostname, target.port or 443, target.hostname,
                              target.port or 443)).encode())
                status = c.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
        line(result(status))


def main():
    mode = os.environ.get("FAKE_AGENT_MODE", "result")
    try:
        {"hang": hang, "garbage": garbage, "flood": flood, "result": fixed_result,
         "linger": linger, "ask": ask, "fetch": fetch,
         "rerun": rerun}[mode]()
    except BrokenPipeError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
