"""Admission: a few pieces of work at once, a bounded queue, 503 beyond it."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time


from .requests import APIError


class Admission:
    """At most ``concurrency`` pieces of work at once and ``queue`` waiting; beyond that :class:`APIError` 503."""

    def __init__(self, concurrency: int, queue: int):
        self.concurrency, self.queue = concurrency, queue
        self.semaphore = asyncio.Semaphore(concurrency)
        self.waiting = 0
        self.running = 0
        self.recent: list[float] = []  # the last durations, for Retry-After

    def retry_after(self) -> int:
        mean = sum(self.recent) / len(self.recent) if self.recent else 1.0
        return max(1, math.ceil(mean * (self.waiting + 1) / self.concurrency))

    @contextlib.asynccontextmanager
    async def slot(self):
        if self.running + self.waiting >= self.concurrency + self.queue:
            raise APIError(503, f"the server is busy ({self.running} at work, {self.waiting} waiting); try again "
                                f"after the Retry-After seconds", None, {"Retry-After": str(self.retry_after())})
        self.waiting += 1
        try:
            await self.semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        start = time.monotonic()
        try:
            yield
        finally:
            self.running -= 1
            self.semaphore.release()
            self.recent = (self.recent + [time.monotonic() - start])[-20:]
