"""The server's training slots, handed out first come, first served.

A semaphore polled by every waiting job let whichever thread woke first take a freed slot: the
last to arrive could start before the student told "number 2 in line", and a sweep's trial
before a run queued well ahead of it. Here each waiter holds a place in one line, and a slot
goes to the head of the line only.
"""
from __future__ import annotations

import threading
from collections import deque


class FairSlots:
    """At most `n` holders at once; waiters are served in the order they joined the line.
    Waiters are told apart by identity (two jobs of one config compare equal)."""

    def __init__(self, n: int):
        self._n = n
        self._held: set = set()
        self._line: deque = deque()
        self._cond = threading.Condition()

    def join(self, who) -> None:
        """Take a place at the end of the line (once; joining again keeps the place)."""
        with self._cond:
            if id(who) not in self._line and id(who) not in self._held:
                self._line.append(id(who))

    def acquire(self, who, timeout: float | None = None) -> bool:
        """Wait until `who` is at the head of the line and a slot is free, then hold it;
        False after `timeout` seconds, still in line."""
        self.join(who)
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._line) and self._line[0] == id(who) and len(self._held) < self._n,
                                       timeout):
                return False
            self._line.popleft()
            self._held.add(id(who))
            self._cond.notify_all()  # the next in line may have a free slot too
            return True

    def leave(self, who) -> None:
        """Give up a place in line (a job stopped before it started)."""
        with self._cond:
            if id(who) in self._line:
                self._line.remove(id(who))
                self._cond.notify_all()

    def release(self, who) -> None:
        with self._cond:
            self._held.discard(id(who))
            self._cond.notify_all()

    def place(self, who) -> int | None:
        """1 for the head of the line; None when not in line."""
        with self._cond:
            return self._line.index(id(who)) + 1 if id(who) in self._line else None
