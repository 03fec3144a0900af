"""A bounded, first-come-first-served pool of model runs shared by every session of the process.

However many visitors upload at once, at most `slots` of them run models at a time (each
run itself uses `inference.run_models`' two worker threads); the others wait in arrival
order and are told, while they wait, how many visitors are ahead of them. Whole uploads
go one after another rather than interleaved: on two cores, interleaving N uploads makes
every visitor wait for all N, while serving them in turn draws the first after one upload's
time and the last no later than before; the transient memory of a run is paid for one (or
`slots`) uploads at a time, whatever the number of sessions.

`MAMMO_RUN_SLOTS` sets the number of slots (default 1; at most the number of cores).
No Streamlit here: the page passes `on_wait`, called in the waiting thread (its own script
thread), with the number of visitors ahead whenever it changes and about once a second
besides; whatever it raises (a visitor who left: Streamlit stops the script at its next
call) gives the place up.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


def slots_from_env() -> int:
    try:
        wanted = int(os.environ.get("MAMMO_RUN_SLOTS", "1"))
    except ValueError:
        wanted = 1
    return max(1, min(wanted, os.cpu_count() or 1))


class RunQueue:
    """At most `slots` holders at a time; the others wait in the order they came."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self._cond = threading.Condition()
        self._waiting: list[int] = []  # tickets, oldest first
        self._running: set[int] = set()
        self._tickets = itertools.count()

    def _ahead(self, ticket: int) -> int:
        return len(self._running) + self._waiting.index(ticket)

    @property
    def busy(self) -> tuple[int, int]:
        """(running, waiting) now."""
        with self._cond:
            return len(self._running), len(self._waiting)

    @contextmanager
    def slot(self, on_wait: Callable[[int, float], None] | None = None, tick_s: float = 1.0) -> Iterator[int]:
        """Hold one slot for the block; while waiting for it, `on_wait(visitors ahead, seconds
        waited)` is called whenever the number ahead changes and every `tick_s` seconds.
        Yields how many seconds this caller waited (0 when a slot was free)."""
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.append(ticket)
        t0 = time.perf_counter()
        waited = 0
        try:
            reported, last_call = None, t0
            while True:
                with self._cond:
                    while True:
                        if self._waiting[0] == ticket and len(self._running) < self.slots:
                            self._waiting.pop(0)
                            self._running.add(ticket)
                            break
                        ahead = self._ahead(ticket)
                        now = time.perf_counter()
                        if on_wait is not None and (ahead != reported or now - last_call >= tick_s):
                            break
                        self._cond.wait(max(0.05, tick_s - (now - last_call)))
                    if ticket in self._running:
                        waited = time.perf_counter() - t0
                        break
                reported, last_call = ahead, time.perf_counter()
                on_wait(ahead, last_call - t0)  # outside the lock: it may raise (the visitor left)
            yield waited
        finally:
            with self._cond:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._running.discard(ticket)
                self._cond.notify_all()


_QUEUE: RunQueue | None = None
_GUARD = threading.Lock()


def queue() -> RunQueue:
    """The process's one queue (its size read from `MAMMO_RUN_SLOTS` the first time)."""
    global _QUEUE
    with _GUARD:
        if _QUEUE is None:
            _QUEUE = RunQueue(slots_from_env())
        return _QUEUE


def ahead_text(ahead: int, waited_s: float) -> str:
    """What a waiting visitor reads: "3 visitors ahead of you…"."""
    who = "1 visitor is" if ahead == 1 else f"{ahead} visitors are"
    return f"The models are busy: {who} ahead of you. Your image runs as soon as they are done (waiting {waited_s:.0f} s)…"
