#!/usr/bin/python3
"""kill -9 of the host at random points while events flow: every event a
subscriber saw (session_driver prints each committed event as the event log
fans it out) is in the log after a restart, with the same seq, time, type
and data, and seqs stay gapless across the restarts."""

import random
import sys
import time

from sessions_harness import FAKE_AGENT, SessionCase, main

ROUNDS = 8


class CrashTest(SessionCase):

    def test_sigkill_while_events_flow_loses_no_event_anyone_saw(self):
        seed = int(time.time() * 1000) & 0xffffffff
        sys.stderr.write("seed %d\n" % seed)
        rng = random.Random(seed)
        self.write_config({"command": FAKE_AGENT, "stop_grace_s": 1, "idle_timeout_s": 60})
        printed, sid = [], None
        for rnd in range(ROUNDS):
            d = self.start_driver()
            if sid is None:
                sid = d.create(prompt="flood", workspace=self.workspace,
                               env={"FAKE_AGENT_MODE": "flood", "FAKE_AGENT_LINES": "5000000"})
            else:
                self.assertEqual(d.get(sid)["state"], "interrupted")
                d.ok("send", id=sid, text="flood again")
            # A random point: in the first round anywhere from the session's
            # first events on (maybe before the agent started), later within
            # the agent's flood (1 to 30,000 of its lines seen).
            if rnd == 0:
                target = rng.randint(1, 3000)
            else:
                target = rng.randint(1, 30000)
            d.wait(lambda: len([e for e in d.events if e["type"] == "agent.text"
                                or rnd == 0]) >= target, 60,
                   "%d events (round %d, seed %d)" % (target, rnd, seed))
            d.kill()
            texts = len([e for e in d.events if e["type"] == "agent.text"])
            sys.stderr.write("round %d: killed after %d events (%d texts, target %d)\n"
                             % (rnd, len(d.events), texts, target))
            printed.extend(d.events)

        d = self.start_driver()
        logged = d.log(sid)
        seqs = [e["seq"] for e in logged]
        self.assertEqual(seqs, list(range(1, len(logged) + 1)), "seq has gaps (seed %d)" % seed)
        self.assertGreater(len(printed), ROUNDS)
        by_seq = {e["seq"]: e for e in logged}
        missing = [e for e in printed if e["seq"] not in by_seq]
        self.assertEqual(missing, [], "printed events not in the log (seed %d)" % seed)
        for e in printed:
            got = by_seq[e["seq"]]
            self.assertEqual((got["session"], got["seq"], got["ts"], got["type"], got["data"]),
                             (e["session"], e["seq"], e["ts"], e["type"], e["data"]),
                             "seed %d" % seed)
        # Each driver saw its events in order, without duplicates.
        self.assertEqual(len(printed), len({e["seq"] for e in printed}))
        # The flood really flowed through the crashes.
        texts = [e for e in printed if e["type"] == "agent.text"]
        self.assertGreater(len(texts), 0)


if __name__ == "__main__":
    main()
