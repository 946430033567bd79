"""Micro-batching: many small concurrent requests scored together, off the event loop.

Requests wait in a queue bounded in flows; one worker takes them in batches of at most
``max_flows`` flows (a larger request goes alone), as soon as that many are waiting or the
oldest has waited ``max_wait`` seconds, and scores each batch in one inference thread. While
a batch is scored, new requests gather, so batches grow with the load. A request that would
overfill the queue is refused at once (:class:`Overloaded`) instead of waiting without bound;
on shutdown, everything accepted is scored before the worker stops.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

__all__ = ["MicroBatcher", "Overloaded", "ShuttingDown"]


class Overloaded(Exception):
    """The queue has no room for the request's flows."""


class ShuttingDown(Exception):
    """The service is stopping and takes no new work."""


@dataclass
class _Item:
    payload: object
    n_flows: int
    arrived: float
    future: asyncio.Future


class MicroBatcher:
    """Bounded queue + one inference thread.

    Parameters
    ----------
    score : callable
        ``score(payloads) -> list`` with one result per payload; a result that is an
        ``Exception`` is raised to that payload's caller. Runs in the inference thread.
    max_flows : int
        Flows per batch at most (flush as soon as this many are waiting).
    max_wait : float
        Seconds the oldest waiting request waits for company at most.
    max_queue : int
        Flows waiting at most; beyond it :meth:`submit` raises :class:`Overloaded`.
    on_batch : callable or None
        Called with the number of flows of each batch taken (e.g. a histogram).
    """

    def __init__(self, score, *, max_flows, max_wait, max_queue, on_batch=None):
        self.score = score
        self.on_batch = on_batch
        self.max_flows = max_flows
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.queued_flows = 0
        self._pending: deque[_Item] = deque()
        self._wakeup = None
        self._worker = None
        self._closing = False
        self._executor = None

    async def start(self) -> None:
        """Start the worker on the running event loop."""
        self._closing = False
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moeids-infer")
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Refuse new work, score everything already accepted, then stop the worker."""
        self._closing = True
        if self._worker is not None:
            self._wakeup.set()
            await self._worker
            self._worker = None
            self._executor.shutdown(wait=True)

    async def submit(self, payload, n_flows: int):
        """Queue ``payload`` (``n_flows`` flows) and wait for its result.

        Raises
        ------
        Overloaded
            The queue holds ``max_queue`` flows already (or would with these).
        ShuttingDown
            :meth:`stop` was called.
        """
        if self._closing:
            raise ShuttingDown("the service is shutting down")
        if self._worker is None:  # an app mounted where no lifespan event reaches it
            await self.start()
        if self.queued_flows + n_flows > self.max_queue:
            raise Overloaded(
                f"{self.queued_flows} flows are waiting; {n_flows} more would exceed the "
                f"queue limit of {self.max_queue}"
            )
        loop = asyncio.get_running_loop()
        item = _Item(payload, n_flows, loop.time(), loop.create_future())
        self._pending.append(item)
        self.queued_flows += n_flows
        if len(self._pending) == 1 or self.queued_flows >= self.max_flows:
            self._wakeup.set()  # what the worker waits for: a first request, or a full batch
        return await item.future

    async def _gather(self) -> None:
        """Wait until a batch is full, the oldest request's wait is over, or stop()."""
        loop = asyncio.get_running_loop()
        deadline = self._pending[0].arrived + self.max_wait
        while self.queued_flows < self.max_flows and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[_Item]:
        batch, flows = [], 0
        while self._pending and (not batch or flows + self._pending[0].n_flows <= self.max_flows):
            item = self._pending.popleft()
            batch.append(item)
            flows += item.n_flows
        self.queued_flows -= flows
        if self.on_batch is not None:
            self.on_batch(flows)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending or not self._closing:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._gather()
            batch = self._take()
            try:
                results = await loop.run_in_executor(
                    self._executor, self.score, [item.payload for item in batch]
                )
            except Exception as exc:  # the scorer failed as a whole: every caller learns it
                results = [exc] * len(batch)
            for item, result in zip(batch, results, strict=True):
                if item.future.done():  # the caller went away
                    continue
                if isinstance(result, Exception):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)
