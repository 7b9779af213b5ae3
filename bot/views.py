"""Base classes for buttons, selects and modals: every failure is answered like a command's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Literal, Protocol, TypeVar

import aiohttp
import discord

from bot.checks import is_moderator
from bot.errors import UserError
from bot.tree import describe_error, send_ephemeral

__all__ = [
    "DISCORD_CANNOT_DM",
    "SEND_ERRORS",
    "TRANSPORT_ERRORS",
    "BaseModal",
    "BaseView",
    "DmOutcome",
    "Page",
    "PagedView",
    "SendOutcome",
    "answer_failure",
    "is_closed_dms",
    "is_transient",
    "send_dm",
    "send_with_nonce",
]

log = logging.getLogger(__name__)


async def answer_failure(interaction: discord.Interaction, error: Exception, where: str) -> None:
    """Answer a failed button, select or modal like a failed command (privately, an error id for bugs).

    Views call it from ``on_error``; dynamic items, which bypass a view's ``on_error``, call it themselves.
    """
    message, error_id = describe_error(error)
    if error_id is not None:
        log.error("Error id %s in %s (user %s)", error_id, where, interaction.user.id, exc_info=error)
    await send_ephemeral(interaction, message)


class BaseView(discord.ui.View):
    """A view whose component callbacks never leave an interaction unanswered on failure."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        """Answer the member privately, logging unexpected errors with an id."""
        await answer_failure(interaction, error, f"{type(self).__name__}/{type(item).__name__}")


class BaseModal(discord.ui.Modal):
    """A modal whose submit never leaves an interaction unanswered on failure."""

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        """Answer the member privately, logging unexpected errors with an id."""
        await answer_failure(interaction, error, type(self).__name__)


class Page(Protocol):
    """What a paged listing needs from a page: its number (from 0) and how many there are."""

    @property
    def page(self) -> int: ...

    @property
    def pages(self) -> int: ...


PageT = TypeVar("PageT", bound=Page)


class PagedView(BaseView, Generic[PageT]):
    """Two buttons that turn the pages of a moderators' listing, for the moderator who asked.

    ``fetch(n)`` reads page ``n`` and ``render(page)`` draws it; each press re-checks that the
    presser asked for the list and is still a moderator.
    """

    def __init__(
        self,
        owner_id: int,
        page: PageT,
        fetch: Callable[[int], Awaitable[PageT]],
        render: Callable[[PageT], discord.Embed],
        *,
        labels: tuple[str, str] = ("Previous", "Next"),
        timeout: float = 600,
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.page = page
        self._fetch = fetch
        self._render = render
        self.back.label, self.forward.label = labels
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.back.disabled = self.page.page <= 0
        self.forward.disabled = self.page.page >= self.page.pages - 1

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Only the moderator who asked turns the pages, and only while still a moderator."""
        if interaction.user.id != self.owner_id:
            raise UserError("Only the moderator who asked for this list can turn its pages.")
        return await is_moderator(interaction)

    async def _show(self, interaction: discord.Interaction, number: int) -> None:
        self.page = await self._fetch(number)
        self._update_buttons()
        await interaction.response.edit_message(embed=self._render(self.page), view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def back(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        """The page before."""
        await self._show(interaction, self.page.page - 1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def forward(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        """The page after."""
        await self._show(interaction, self.page.page + 1)


DmOutcome = Literal["sent", "closed", "failed"]
"""What became of a direct message: sent, refused because the member's DMs are closed, or failed."""

DISCORD_CANNOT_DM = 50007
"""Discord's error code for "Cannot send messages to this user": the member's DMs are closed to the bot.
Any other 403 is a failure like a 5xx (tried again at the next chance), not closed DMs."""

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError)
"""What a send raises when the connection fails or is dropped without an answer: discord.py does not
wrap these in ``discord.HTTPException``. Discord may still have created the message."""

SEND_ERRORS: tuple[type[Exception], ...] = (discord.HTTPException, *TRANSPORT_ERRORS)
"""Every way a send can fail: Discord's refusal or error, or no answer at all."""


def is_closed_dms(exc: discord.HTTPException) -> bool:
    """Whether Discord refused a DM because the member's DMs are closed (and only that)."""
    return isinstance(exc, discord.Forbidden) and exc.code == DISCORD_CANNOT_DM


async def send_dm(user: discord.abc.Messageable, *, nonce: str | None = None, **kwargs: Any) -> DmOutcome:
    """Send a direct message, telling closed DMs apart from other failures (never raises for them).

    ``nonce`` (see :func:`bot.nonce.message_nonce`): the same for every attempt of the same message, so
    that a retry after a lost answer gets the message Discord already created instead of a second one.
    """
    if nonce is not None:
        kwargs["nonce"] = nonce
    try:
        await user.send(**kwargs)
    except discord.HTTPException as exc:
        if is_closed_dms(exc):
            return "closed"
        log.warning("A DM could not be sent: %s", exc)
        return "failed"
    except TRANSPORT_ERRORS as exc:
        log.warning("A DM could not be sent (no answer from Discord): %r", exc)
        return "failed"
    return "sent"


_ATTEMPT_ERRORS: tuple[type[Exception], ...] = (*SEND_ERRORS, discord.RateLimited)
"""Every way one attempt can fail, a rate limit discord.py did not wait out too."""

SendOutcome = Literal["sent", "closed", "transient", "refused"]
"""What became of a message that has a next chance: sent; refused because the member's DMs are closed
(50007); failed in passing (Discord may have made it: try again soon, same nonce); refused otherwise
(another 4xx: nothing was made)."""


def is_transient(exc: BaseException) -> bool:
    """Whether a failed send failed in passing: a 5xx, a 429 not waited out, a timeout or a dropped
    connection (Discord may still have created the message); not a 4xx refusal."""
    if isinstance(exc, discord.HTTPException):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, (discord.RateLimited, *TRANSPORT_ERRORS))


async def send_with_nonce(target: discord.abc.Messageable, *, nonce: str, **kwargs: Any) -> SendOutcome:
    """Send one attempt at a message that its feature tries again after a failure (never raises for
    Discord's failures): a ``transient`` outcome should be retried within
    :data:`bot.services.retry.FIRST_RETRY`, with the same ``nonce``, while Discord still honours it."""
    try:
        await target.send(nonce=nonce, **kwargs)
    except _ATTEMPT_ERRORS as exc:
        if isinstance(exc, discord.HTTPException) and is_closed_dms(exc):
            return "closed"
        transient = is_transient(exc)
        log.warning("A message could not be sent (%s): %r", "in passing" if transient else "refused", exc)
        return "transient" if transient else "refused"
    return "sent"
