"""Base classes for buttons, selects and modals: every failure is answered like a command's."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import aiohttp
import discord
from discord.utils import MISSING

from bot.checks import is_moderator
from bot.errors import UserError
from bot.tree import describe_error, send_ephemeral

__all__ = [
    "DISCORD_CANNOT_DM",
    "FORM_EXPIRED",
    "LIST_UNAVAILABLE",
    "NOT_YOUR_LIST",
    "PAGE_TEMPLATE",
    "SEND_ERRORS",
    "TRANSPORT_ERRORS",
    "VIEW_EXPIRED",
    "BaseModal",
    "BaseView",
    "DmOutcome",
    "FormRecovery",
    "FormValues",
    "Page",
    "PageButton",
    "PageTarget",
    "PagedList",
    "SendOutcome",
    "TrackedModal",
    "TrackedView",
    "answer_closed_component",
    "answer_expired_form",
    "answer_failure",
    "check_list_owner",
    "form_recovery",
    "form_values",
    "is_closed_dms",
    "is_form_open",
    "is_transient",
    "is_view_open",
    "paged_list",
    "register_form_recovery",
    "register_paged_lists",
    "send_dm",
    "send_paged",
    "send_with_nonce",
    "show_page",
    "unregister_form_recovery",
    "unregister_paged_lists",
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

NOT_YOUR_LIST = "Only the moderator who asked for this list can turn its pages."
OTHER_SERVER_LIST = "This list belongs to another server."
LIST_UNAVAILABLE = "This list can't be shown right now. Please run its command again in a minute."
MAX_PAGE = 999_999
"""The highest page number a page button may carry (six digits; a page out of range gives the last one)."""
PAGE_TEMPLATE = (
    r"page:(?P<kind>[a-z][a-z0-9-]{0,15}):(?P<guild_id>[0-9]{1,20}):(?P<owner_id>[0-9]{1,20})"
    r":(?P<page>[0-9]{1,6}):(?P<step>prev|next)"
)
"""A page button's ``custom_id``: the list's kind, the server, the moderator who asked, the page it
shows, and which of the two buttons it is (so that both never share an id). At most 73 characters."""
_PAGE_PATTERN = re.compile(PAGE_TEMPLATE)
_KIND_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,15}")

Step = Literal["prev", "next"]


@dataclass(frozen=True, slots=True)
class PageTarget:
    """What a page button carries: the list (``kind``), its server and owner, and the page it shows."""

    kind: str
    guild_id: int
    owner_id: int
    page: int
    step: Step

    def __post_init__(self) -> None:
        if not _KIND_PATTERN.fullmatch(self.kind):
            raise ValueError(f"bad list kind {self.kind!r}")
        if self.guild_id < 0 or self.owner_id < 0:
            raise ValueError("a negative server or member id")
        if not 0 <= self.page <= MAX_PAGE:
            raise ValueError(f"page {self.page} out of range")

    @property
    def custom_id(self) -> str:
        """The button's ``custom_id`` (:data:`PAGE_TEMPLATE`)."""
        return f"page:{self.kind}:{self.guild_id}:{self.owner_id}:{self.page}:{self.step}"

    @classmethod
    def parse(cls, custom_id: str) -> PageTarget | None:
        """The target a ``custom_id`` carries; None for anything that is not a well-formed page button."""
        match = _PAGE_PATTERN.fullmatch(custom_id)
        return None if match is None else cls.of(match)

    @classmethod
    def of(cls, match: re.Match[str]) -> PageTarget:
        """The target of a :data:`PAGE_TEMPLATE` match (never raises: the template allows only valid ones;
        an id of no real server or member is refused at the press)."""
        step: Step = "prev" if match["step"] == "prev" else "next"
        return cls(match["kind"], int(match["guild_id"]), int(match["owner_id"]), int(match["page"]), step)


ExtraItems = Callable[[PageT, int, int], Sequence[discord.ui.Item[Any]]]


@dataclass(frozen=True, slots=True)
class PagedList(Generic[PageT]):
    """A kind of moderators' paged list, whose page buttons work at any time, after a restart too.

    ``fetch(interaction, n)`` reads page ``n`` for the interaction's server and user (a moderator:
    checked before; a page out of range gives the last one), ``render(page)`` draws it; ``items(page,
    guild_id, owner_id)``, if given, adds persistent buttons of the page's own (rows from 0), above
    the page buttons. A cog registers its lists with :func:`register_paged_lists` when it loads.
    """

    kind: str
    fetch: Callable[[discord.Interaction, int], Awaitable[PageT]]
    render: Callable[[PageT], discord.Embed]
    labels: tuple[str, str] = ("Previous", "Next")
    items: ExtraItems[PageT] | None = None

    def message(self, guild_id: int, owner_id: int, page: PageT) -> tuple[discord.Embed, discord.ui.View | None]:
        """The embed and the buttons (None: no buttons) of ``page``, shown to ``owner_id``."""
        extra = list(self.items(page, guild_id, owner_id)) if self.items is not None else []
        if not extra and page.pages <= 1:
            return self.render(page), None
        view = discord.ui.View(timeout=None)  # fully dynamic: nothing is kept per message
        for item in extra:
            view.add_item(item)
        if page.pages > 1:
            row = max((item.row or 0 for item in extra), default=-1) + 1 if extra else None
            number = min(max(page.page, 0), MAX_PAGE - 1)
            back = PageTarget(self.kind, guild_id, owner_id, max(number - 1, 0), "prev")
            forward = PageTarget(self.kind, guild_id, owner_id, number + 1, "next")
            view.add_item(PageButton(back, self.labels[0], disabled=page.page <= 0, row=row))
            view.add_item(PageButton(forward, self.labels[1], disabled=page.page >= page.pages - 1, row=row))
        return self.render(page), view


_paged_lists: weakref.WeakKeyDictionary[discord.Client, dict[str, PagedList[Any]]] = weakref.WeakKeyDictionary()


def register_paged_lists(client: discord.Client, *lists: PagedList[Any]) -> None:
    """Let ``client`` turn the pages of these lists (a cog's ``cog_load``)."""
    kinds = _paged_lists.setdefault(client, {})
    for paged in lists:
        if kinds.get(paged.kind, paged) is not paged:
            raise ValueError(f"another list is registered as {paged.kind!r}")
        kinds[paged.kind] = paged
    client.add_dynamic_items(PageButton)


def unregister_paged_lists(client: discord.Client, *lists: PagedList[Any]) -> None:
    """Stop turning the pages of these lists (a cog's ``cog_unload``); a press then says so."""
    kinds = _paged_lists.get(client, {})
    for paged in lists:
        if kinds.get(paged.kind) is paged:
            del kinds[paged.kind]
    if not kinds:
        client.remove_dynamic_items(PageButton)


def paged_list(client: discord.Client, kind: str) -> PagedList[Any] | None:
    """The list registered as ``kind`` with ``client``, if any."""
    return _paged_lists.get(client, {}).get(kind)


async def check_list_owner(interaction: discord.Interaction, guild_id: int, owner_id: int) -> None:
    """A list's buttons are for the moderator who asked for it, in its server, while still a moderator
    (checked at every press): :class:`UserError` or :class:`bot.checks.NotModerator` otherwise."""
    if interaction.guild_id != guild_id:
        raise UserError(OTHER_SERVER_LIST)
    if interaction.user.id != owner_id:
        raise UserError(NOT_YOUR_LIST)
    await is_moderator(interaction)


async def send_paged(
    interaction: discord.Interaction, paged: PagedList[PageT], *, allowed_mentions: discord.AllowedMentions = MISSING
) -> PageT:
    """Answer a moderator's command privately with the first page of ``paged`` (the check passed)."""
    assert interaction.guild_id is not None
    page = await paged.fetch(interaction, 0)
    embed, view = paged.message(interaction.guild_id, interaction.user.id, page)
    if view is None:
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=allowed_mentions)
    else:
        await interaction.response.send_message(
            embed=embed, view=view, ephemeral=True, allowed_mentions=allowed_mentions
        )
    return page


async def show_page(interaction: discord.Interaction, target: PageTarget) -> None:
    """A page button was pressed: check the presser, then show the page in place of the old one."""
    paged = paged_list(interaction.client, target.kind)
    if paged is None:
        raise UserError(LIST_UNAVAILABLE)
    await check_list_owner(interaction, target.guild_id, target.owner_id)
    page = await paged.fetch(interaction, target.page)
    embed, view = paged.message(target.guild_id, target.owner_id, page)
    await interaction.response.edit_message(embed=embed, view=view)


class PageButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=PAGE_TEMPLATE):
    """Previous or Next of a moderators' list: its ``custom_id`` carries everything needed to draw the
    page (:class:`PageTarget`), so a press works at any time, after a restart too."""

    def __init__(
        self, target: PageTarget, label: str | None = None, *, disabled: bool = False, row: int | None = None
    ) -> None:
        default = "Previous" if target.step == "prev" else "Next"
        super().__init__(
            discord.ui.Button(
                label=label or default,
                style=discord.ButtonStyle.secondary,
                custom_id=target.custom_id,
                disabled=disabled,
            ),
            row=row,
        )
        self.target = target

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        """Rebuild the button from its ``custom_id`` (after a restart too)."""
        return cls(PageTarget.of(match))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Show the page, for the moderator who asked (checked now)."""
        try:
            await show_page(interaction, self.target)
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, f"{type(self).__name__}:{self.target.kind}")


# --------------------------------------------------------------------------- forms

FORM_PREFIX = "form:"
FORM_EXPIRED = (
    "This form was closed before you sent it (forms close after a while, and when I restart), so nothing was "
    "saved. Please run the command again to open a new one."
)
_open_forms: weakref.WeakKeyDictionary[discord.Client, weakref.WeakValueDictionary[str, discord.ui.Modal]] = (
    weakref.WeakKeyDictionary()
)
_answering: set[asyncio.Task[None]] = set()


class TrackedModal(BaseModal):
    """A form whose submission after it closed (its timeout, or a restart) is answered by
    :func:`answer_expired_form` instead of going unanswered.

    Its ``custom_id`` is ``form:<kind>:<random>``; it counts as open from its creation until discord.py
    stops listening to it (after a successful submit, or its timeout). A submission of a ``form:`` id
    that is not open reached no form (discord.py's view store holds only open forms), so only one of the
    two ever answers it.
    """

    def __init__(
        self,
        client: discord.Client,
        kind: str,
        *,
        timeout: float | None,
        key: Sequence[str] = (),
        title: str = MISSING,
    ) -> None:
        # ``key``: what a recovery (register_form_recovery) needs to complete the form without this object.
        parts = [kind, *key, secrets.token_hex(8)]
        if any(not part or ":" in part for part in parts[:-1]):
            raise ValueError(f"a form's kind and key are non-empty and have no colon: {parts[:-1]!r}")
        super().__init__(title=title, timeout=timeout, custom_id=FORM_PREFIX + ":".join(parts))
        if client not in _open_forms:
            _open_forms[client] = weakref.WeakValueDictionary()
        self._open = _open_forms[client]
        self._open[self.custom_id] = self

    def stop(self) -> None:
        """Stop listening; then (never before) the form no longer counts as open."""
        super().stop()
        self._open.pop(self.custom_id, None)

    async def on_timeout(self) -> None:
        """Timed out: discord.py stopped listening already; the form no longer counts as open."""
        self._open.pop(self.custom_id, None)


def is_form_open(client: discord.Client, custom_id: str) -> bool:
    """Whether the :class:`TrackedModal` ``custom_id`` of ``client`` may still be submitted to it."""
    forms = _open_forms.get(client)
    form = None if forms is None else forms.get(custom_id)
    # is_finished: discord.py sets it in the same step as it stops listening (a stop, or its timeout,
    # before on_timeout runs), so no submission falls between the two.
    return form is not None and not form.is_finished()


VIEW_PREFIX = "view:"
VIEW_EXPIRED = (
    "These buttons have expired (they last a few minutes, and not across a restart), so nothing was done. "
    "Please run the command again."
)
_open_views: weakref.WeakKeyDictionary[discord.Client, weakref.WeakValueDictionary[str, discord.ui.View]] = (
    weakref.WeakKeyDictionary()
)


class TrackedView(BaseView):
    """Short-lived buttons (a confirmation) whose press after they closed (their timeout, a restart, or
    the view stopped) is answered by :func:`answer_closed_component` instead of going unanswered.

    Each item's ``custom_id`` is ``view:<kind>:<random>:<n>``. The view counts as open while discord.py
    may still dispatch to it (:meth:`discord.ui.View.is_finished` is false: discord.py sets it in the same
    step as it stops listening, on a stop or a timeout), so only one of the two ever answers a press.
    """

    def __init__(self, client: discord.Client, kind: str, *, timeout: float | None) -> None:
        if not kind or ":" in kind:
            raise ValueError(f"a view's kind is non-empty and has no colon: {kind!r}")
        super().__init__(timeout=timeout)
        self.tracking_id = f"{VIEW_PREFIX}{kind}:{secrets.token_hex(8)}"
        for index, item in enumerate(self.children):
            if isinstance(item, discord.ui.Button | discord.ui.Select) and getattr(item, "url", None) is None:
                item.custom_id = f"{self.tracking_id}:{index}"
        if client not in _open_views:
            _open_views[client] = weakref.WeakValueDictionary()
        _open_views[client][self.tracking_id] = self


def is_view_open(client: discord.Client, custom_id: str) -> bool:
    """Whether a press of the :class:`TrackedView` item ``custom_id`` of ``client`` still reaches its view."""
    views = _open_views.get(client)
    view = None if views is None else views.get(custom_id.rpartition(":")[0])
    return view is not None and not view.is_finished()


def answer_closed_component(interaction: discord.Interaction[Any]) -> None:
    """An ``interaction`` event observer: a press of a :class:`TrackedView`'s button after the view closed
    is answered privately (nothing was done; run the command again).

    Runs synchronously as the interaction arrives, in the same step in which discord.py looks the view
    up: whether the view is finished cannot change in between.
    """
    custom_id = _tracked_id(interaction, discord.InteractionType.component, VIEW_PREFIX)
    if custom_id is None or is_view_open(interaction.client, custom_id):
        return
    log.info("A button pressed after its view closed (%s) was answered as expired", custom_id.split(":")[1])
    _answer_later(_answer_privately(interaction, VIEW_EXPIRED), "closed-view-answer")


def _tracked_id(interaction: discord.Interaction[Any], kind: discord.InteractionType, prefix: str) -> str | None:
    """The ``custom_id`` of an interaction of this type whose id starts with ``prefix``; None otherwise."""
    if interaction.type is not kind:
        return None
    data = interaction.data
    custom_id = data.get("custom_id") if data is not None else None
    return custom_id if isinstance(custom_id, str) and custom_id.startswith(prefix) else None


def _answer_later(work: Coroutine[Any, Any, None], name: str) -> None:
    """Run an observer's answer as a task (observers are synchronous), kept until it is done."""
    task = asyncio.get_running_loop().create_task(work, name=name)
    _answering.add(task)
    task.add_done_callback(_answering.discard)


async def _answer_privately(interaction: discord.Interaction[Any], text: str) -> None:
    try:
        await send_ephemeral(interaction, text)
    except discord.ClientException as exc:  # answered meanwhile: never twice
        log.warning("Could not answer a closed view or form: %s", exc)


FormValues = dict[str, str | list[str]]
"""What a form's submission holds: each field's ``custom_id`` → its text, or the options chosen."""
FormRecovery = Callable[[discord.Interaction[Any], list[str], FormValues], Awaitable[None]]
"""Completes a closed form of one kind from its submission alone: ``(interaction, key, values)``, ``key``
being the :class:`TrackedModal`'s. It must answer the interaction (once)."""
_recoveries: weakref.WeakKeyDictionary[discord.Client, dict[str, FormRecovery]] = weakref.WeakKeyDictionary()


def register_form_recovery(client: discord.Client, kind: str, recover: FormRecovery) -> None:
    """Let ``recover`` complete the closed forms of ``kind`` of ``client`` (a form the member filled in
    before a restart is not lost) instead of their being answered as expired."""
    _recoveries.setdefault(client, {})[kind] = recover


def form_recovery(client: discord.Client, kind: str) -> FormRecovery | None:
    """The recovery ``client`` has for closed forms of ``kind``, if any."""
    return _recoveries.get(client, {}).get(kind)


def unregister_form_recovery(client: discord.Client, kind: str) -> None:
    """Closed forms of ``kind`` are answered as expired again (the cog that completes them unloads)."""
    _recoveries.get(client, {}).pop(kind, None)


def form_values(data: object) -> FormValues:
    """The fields of a form's submission (its interaction ``data``), by ``custom_id``: a text input's
    text, a select's chosen values; nested components (labels, action rows) are walked."""
    values: FormValues = {}

    def walk(component: object) -> None:
        if isinstance(component, list):
            for child in component:
                walk(child)
            return
        if not isinstance(component, dict):
            return
        custom_id = component.get("custom_id")
        if isinstance(custom_id, str):
            if isinstance(component.get("value"), str):
                values[custom_id] = component["value"]
            elif isinstance(component.get("values"), list):
                values[custom_id] = [str(v) for v in component["values"]]
        walk(component.get("components"))
        walk(component.get("component"))

    if isinstance(data, dict):
        walk(data.get("components"))
    return values


def answer_expired_form(interaction: discord.Interaction[Any]) -> None:
    """An ``interaction`` event observer: a :class:`TrackedModal` submitted after it closed is completed
    by its kind's recovery (:func:`register_form_recovery`), or else answered privately (nothing was
    saved; run the command again).

    Runs synchronously as the interaction arrives, in the same step in which discord.py looks the form
    up: the form's open state cannot change in between.
    """
    custom_id = _tracked_id(interaction, discord.InteractionType.modal_submit, FORM_PREFIX)
    if custom_id is None or is_form_open(interaction.client, custom_id):
        return
    kind, *key = custom_id[len(FORM_PREFIX) :].split(":")[:-1] or [""]
    recover = form_recovery(interaction.client, kind)
    if recover is not None:
        log.info("A form submitted after it closed (%s) is completed from its submission", kind)
        _answer_later(_recover(interaction, recover, key, form_values(interaction.data), kind), "closed-form-answer")
    else:
        log.info("A form submitted after it closed (%s) was answered as expired", kind)
        _answer_later(_answer_privately(interaction, FORM_EXPIRED), "closed-form-answer")


async def _recover(
    interaction: discord.Interaction[Any], recover: FormRecovery, key: list[str], values: FormValues, kind: str
) -> None:
    try:
        await recover(interaction, key, values)
    except Exception as exc:  # noqa: BLE001 - no view's on_error is there to answer it
        await answer_failure(interaction, exc, f"closed form {kind}")


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
