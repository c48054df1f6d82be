#!/usr/bin/python3
"""A fake Claude Code agent for the API tests: speaks stream-json on stdio.

For each user message it prints system/init, then assistant text lines,
then a result. The message text steers it: "lines N" prints N text lines
through stdio's buffer, as fast as it can; "lines N every MS [offset MS]"
waits the offset, then writes line i at start + i * MS milliseconds, each
flushed; anything else prints one line echoing the text. It exits when its
input ends.
"""
import json
import os
import sys
import time
import uuid

SESSION = str(uuid.uuid4())
if "--resume" in sys.argv:
    i = sys.argv.index("--resume")
    if i + 1 < len(sys.argv):
        SESSION = sys.argv[i + 1]


def out(obj, flush=True):
    sys.stdout.write(json.dumps(obj) + "\n")
    if flush:
        sys.stdout.flush()


def text(t, flush=True):
    out({"type": "assistant", "session_id": SESSION,
         "message": {"role": "assistant", "content": [{"type": "text", "text": t}]}}, flush)


for raw in sys.stdin:
    try:
        msg = json.loads(raw)
    except ValueError:
        continue
    if msg.get("type") != "user":
        continue
    content = msg.get("message", {}).get("content", "")
    if isinstance(content, list):
        content = " ".join(c.get("text", "") for c in content if isinstance(c, dict))
    out({"type": "system", "subtype": "init", "session_id": SESSION, "cwd": ".",
         "model": "fake", "tools": [], "mcp_servers": [], "permissionMode": "default"})
    words = content.split()
    if len(words) >= 2 and words[0] == "lines":
        n = int(words[1])
        every = float(words[3]) / 1000.0 if len(words) >= 4 and words[2] == "every" else 0
        # "offset MS": start that much later (benchmarks spread their
        # agents over the period instead of waking all of them at once).
        offset = float(words[5]) / 1000.0 if len(words) >= 6 and words[4] == "offset" else 0
        if offset > 0:
            time.sleep(offset)
        # The line text() prints, from a template: the agent is a load
        # generator for benchmarks too, and should cost little per line.
        head, tail = json.dumps({"type": "assistant", "session_id": SESSION, "message": {
            "role": "assistant", "content": [{"type": "text", "text": "\0"}]}}).split('"\\u0000"')
        line = head.replace("%", "%%") + '"line %d %.6f"' + tail.replace("%", "%%") + "\n"
        now = time.time
        if every:
            # Paced lines go out one by one, each in its own write, on a
            # fixed schedule (line i at start + i * every), so the rate is
            # the one asked for however long a write takes.
            sys.stdout.flush()
            fd, write, sleep = sys.stdout.fileno(), os.write, time.sleep
            start = now()
            for i in range(n):
                delay = start + i * every - now()
                if delay > 0:
                    sleep(delay)
                write(fd, (line % (i, now())).encode())
        else:
            # A flood is written through stdio's buffer, as fast as the
            # agent can.
            write = sys.stdout.write
            for i in range(n):
                write(line % (i, now()))
            sys.stdout.flush()
    else:
        text("echo: " + content)
    out({"type": "result", "subtype": "success", "is_error": False, "result": "ok",
         "session_id": SESSION, "num_turns": 1, "duration_ms": 1, "total_cost_usd": 0.001,
         "usage": {"input_tokens": 3, "output_tokens": 5}, "permission_denials": []})
