#!/usr/bin/python3
"""A scripted model for several sessions at once: each session's first
message names its script ("[script:NAME] ..."), and the turn count picks the
step, as in tests/support/scripted_model_api.py. Scripts come from a JSON
file {NAME: [[block, ...], ...]}; prints its URL on the first line."""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "support"))
from scripted_model_api import ScriptedModelAPI, assistant_turns, text  # noqa: E402


def first_user_text(body):
    for m in body.get("messages", []):
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, str):
            return c
        for b in c or []:
            if b.get("type") == "text" and "[script:" in b.get("text", ""):
                return b["text"]
    return ""


def main():
    with open(sys.argv[1]) as f:
        scripts = json.load(f)

    def step(body):
        t = first_user_text(body)
        name = t.split("[script:", 1)[1].split("]", 1)[0] if "[script:" in t else ""
        steps = scripts.get(name, [])
        n = assistant_turns(body)
        return steps[n] if n < len(steps) else [text("(end of script %s)" % name)]

    api = ScriptedModelAPI([step] * 64)
    api.start()
    print(api.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
