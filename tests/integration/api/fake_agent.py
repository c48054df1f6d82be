#!/usr/bin/python3
"""A fake Claude Code agent for the API tests: speaks stream-json on stdio.

For each user message it prints system/init, then assistant text lines,
then a result. The message text steers it: "lines N" prints N text lines,
"lines N every MS" waits MS milliseconds between them (each line flushed;
without "every" the lines go out through stdio's buffer); anything else prints
one line echoing the text. It exits when its input ends.
"""
import json
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
        every = int(words[3]) / 1000.0 if len(words) >= 4 and words[2] == "every" else 0
        for i in range(n):
            # Paced lines go out one by one; a flood is written through
            # stdio's buffer (as fast as the agent can).
            text("line %d %.6f" % (i, time.time()), flush=bool(every))
            if every:
                time.sleep(every)
    else:
        text("echo: " + content)
    out({"type": "result", "subtype": "success", "is_error": False, "result": "ok",
         "session_id": SESSION, "num_turns": 1, "duration_ms": 1, "total_cost_usd": 0.001,
         "usage": {"input_tokens": 3, "output_tokens": 5}, "permission_denials": []})
