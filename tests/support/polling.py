"""Waiting for a condition, the one way the tests wait: poll a predicate
until it holds or a deadline passes (never a bare sleep in its place).

    from polling import wait_for
    pid = wait_for(lambda: find_pid(), 30, what="the agent process")
"""

import time


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls until predicate() is truthy and returns its value; fails the
    test (AssertionError) after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)
