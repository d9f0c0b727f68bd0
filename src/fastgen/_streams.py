"""The one counter of Philox streams: consecutive stream numbers of one key, never reused."""
from __future__ import annotations


class Streams:
    """``take(n)`` returns the first of n fresh stream numbers of the key ``seed``."""

    def __init__(self, seed: int | None = None, start: int = 0):
        self.seed = None if seed is None else int(seed)
        self.next = int(start)

    def take(self, n: int) -> int:
        s = self.next
        self.next += int(n)
        return s
