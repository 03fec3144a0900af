"""The process's queue of model runs (`core.serving.pool`): first come, first served, at most
`slots` at a time, waiting visitors told how many are ahead, a visitor who leaves gives the place up."""

from __future__ import annotations

import threading
import time

import pytest

from core.serving.pool import RunQueue, ahead_text


def test_first_come_first_served_and_told_how_many_are_ahead():
    q, order, seen, inside = RunQueue(1), [], {}, []

    def visitor(i: int) -> None:
        with q.slot(on_wait=lambda ahead, _: seen.setdefault(i, []).append(ahead)):
            inside.append(i)
            assert len(inside) == 1  # one at a time
            order.append(i)
            time.sleep(0.3)
            inside.remove(i)

    threads = []
    for i in range(4):
        threads.append(threading.Thread(target=visitor, args=(i,)))
        threads[-1].start()
        deadline = time.time() + 5
        while sum(q.busy) < i + 1 and time.time() < deadline:  # each one in the queue before the next comes
            time.sleep(0.005)
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3]
    assert 0 not in seen and seen[3][0] == 3 and seen[3][-1] == 1  # the last one saw 3, then 2, then 1 ahead
    assert q.busy == (0, 0)
    assert "3 visitors are ahead of you" in ahead_text(3, 2.0) and "1 visitor is ahead" in ahead_text(1, 0.0)


def test_a_visitor_who_leaves_while_waiting_gives_the_place_up():
    q = RunQueue(1)
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with q.slot():
            held.set()
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    held.wait(5)

    def leave(ahead: int, waited: float) -> None:
        raise RuntimeError("the visitor left")

    with pytest.raises(RuntimeError):
        with q.slot(on_wait=leave):
            pass
    assert q.busy == (1, 0)
    release.set()
    t.join(5)
    with q.slot(on_wait=leave) as waited:  # free: no wait, no call
        assert waited < 0.05
    assert q.busy == (0, 0)
