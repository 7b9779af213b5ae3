"""Connect a real discord.py client to a :class:`~bot.standin.server.StandIn`, and check for leaks.

``connect_client`` is what both the stand-in's own tests and the real bot's end-to-end tests
(and the offline demo) use::

    async with StandIn() as standin, connect_client(standin, make_bot) as bot:
        result = await standin.invoke(member, "checkin", {"mood": 3})
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import discord
import discord.gateway
import discord.http

from bot.endpoints import apply_endpoints
from bot.standin.server import StandIn

log = logging.getLogger(__name__)

ClientT = TypeVar("ClientT", bound=discord.Client)
ClientFactory = Callable[[], ClientT | Awaitable[ClientT]]


class ClientStartFailed(RuntimeError):
    """The client stopped before it became ready."""


class StandInProblems(AssertionError):
    """Teardown found problems: unimplemented routes hit, unanswered interactions, leaks, lost tasks."""


@contextlib.asynccontextmanager
async def connect_client(
    standin: StandIn,
    client_factory: ClientFactory[ClientT],
    *,
    ready_timeout: float = 10.0,
    token: str | None = None,
) -> AsyncIterator[ClientT]:
    """Start the stand-in (if needed), point discord.py at it, start the client, wait for ``on_ready``.

    The factory builds the client (sync or async); pass ``guild_ready_timeout=0.05`` to it so
    ``on_ready`` comes quickly. On exit the client is closed, its task awaited and the
    endpoints restored. If the client dies before it is ready (bad token, 4014 privileged
    intents), its exception is raised from here.
    """
    started_here = False
    if not standin.started:
        await standin.start()
        started_here = True
    previous_base = discord.http.Route.BASE
    previous_gateway = str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    apply_endpoints(standin.api_base, standin.gateway_url)
    client: ClientT | None = None
    task: asyncio.Task[None] | None = None
    try:
        made = client_factory()
        client = await made if inspect.isawaitable(made) else made
        assert isinstance(client, discord.Client)
        task = asyncio.create_task(client.start(token or standin.token), name="standin-client")
        ready = asyncio.create_task(client.wait_until_ready(), name="standin-client-ready")
        try:
            done, _ = await asyncio.wait({task, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not ready.done():
                ready.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ready
        if task in done:
            exc = task.exception()
            if exc is not None:
                raise exc
            raise ClientStartFailed("the client stopped before it was ready")
        if ready not in done:
            raise TimeoutError(f"the client was not ready within {ready_timeout}s")
        yield client
    finally:
        if client is not None:
            await client.close()
        if task is not None:
            if not task.done():
                try:
                    await asyncio.wait_for(task, timeout=5.0)
                except TimeoutError:
                    log.warning("client task did not finish after close()")
            if task.done() and not task.cancelled():
                # already raised above when start failed; after a normal close it is None
                task.exception()
        apply_endpoints(previous_base, previous_gateway)
        if started_here:
            await standin.close()


class LoopProblemCollector:
    """Collects what asyncio reports through the loop's exception handler during a test.

    Unclosed aiohttp sessions/connectors and "Task was destroyed but it is pending!" are
    reported there (from ``__del__``), so ``check()`` runs a GC first. Use as a context
    manager around a test; ``problems()`` lists what to fail on.
    """

    MARKERS = (
        "Unclosed client session",
        "Unclosed connector",
        "Unclosed response",
        "Task was destroyed but it is pending",
        "Task exception was never retrieved",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *, propagate: bool = True) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.propagate = propagate
        self.reports: list[str] = []
        self._previous: Any = None

    def _handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        detail = context.get("task") or context.get("client_session") or context.get("exception") or ""
        self.reports.append(f"{message} {detail!r}".strip())
        if not self.propagate:
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def __enter__(self) -> Self:
        self._previous = self.loop.get_exception_handler()
        self.loop.set_exception_handler(self._handler)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.loop.set_exception_handler(self._previous)

    def problems(self) -> list[str]:
        """Run a GC pass, then return the reports that mean a leak or a lost task."""
        gc.collect()
        return [r for r in self.reports if any(marker in r for marker in self.MARKERS)]


async def cancel_leftover_tasks(grace: float = 0.05) -> list[str]:
    """Cancel (and await) tasks other than the current one still pending after ``grace`` seconds.

    Returns their descriptions. Typical leftovers are discord.py view timeouts; cancelling
    them here keeps the loop from destroying them pending when it closes.
    """
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    end = loop.time() + grace
    while True:
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not pending or loop.time() >= end:
            break
        await asyncio.sleep(0.01)
    described = [f"{t.get_name()} {t.get_coro()!r}" for t in pending]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if described:
        log.info("cancelled leftover tasks: %s", described)
    return described


@contextlib.asynccontextmanager
async def checked_standin(**config: Any) -> AsyncIterator[StandIn]:
    """A started :class:`StandIn` whose exit fails (``StandInProblems``) on what a test must not leave behind.

    On exit: the stand-in is closed, leftover tasks are cancelled, then unimplemented routes
    that were hit, interactions never answered, unclosed aiohttp sessions/connectors and
    pending tasks destroyed by the GC are reported together. ``config`` goes to ``StandIn``.
    """
    with LoopProblemCollector() as collector:
        standin = StandIn(**config)
        await standin.start()
        failed = False
        try:
            yield standin
        except BaseException:
            failed = True
            raise
        finally:
            await standin.close()
            await cancel_leftover_tasks()
            problems = standin.problems() + collector.problems()
            if problems and not failed:
                raise StandInProblems("; ".join(problems))
