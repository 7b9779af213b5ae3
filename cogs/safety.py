"""``/sos``, and the safety parts of ``/settings``: the crisis resources and the audit log.

A thin adapter of :mod:`bot.services.safety`:

* ``/sos`` works in servers and in DMs. It answers at once, privately, with the server's crisis
  resources and two buttons, "Tell my buddy I need support now" and "Tell the moderators"; each
  asks for confirmation before anything is sent. In DMs the bot does not know the server: with
  exactly one server shared with the member it uses that one, with several it offers a select of
  them (the default resources meanwhile), with none it shows the default resources alone.
* Every button and the select is a dynamic item whose ``custom_id`` names the server and the kind
  of alert, so they work after a restart; the member pressing is always the interaction's user.
* The buddy's DM may mention the member (and only them); every other message pings nobody.
* ``/settings crisis-resources`` and ``/settings audit-log`` live in ``cogs.settings`` and call
  :func:`open_crisis_resources_modal` and :func:`show_audit_log`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import is_moderator
from bot.client import SoberPeersBot
from bot.db.repositories.audit import AuditEntry
from bot.errors import UserError
from bot.nonce import message_nonce
from bot.services.privacy import ERASE_SERVER_ACTION, ERASED_USER_ID
from bot.services.safety import (
    AUDIT_PAGE_SIZE,
    CRISIS_RESOURCES_MAX_LENGTH,
    DEFAULT_CRISIS_RESOURCES,
    Alert,
    AlertKind,
    AlertStatus,
    AuditPage,
    SafetyService,
)
from bot.services.server_settings import SETTINGS, SETTINGS_CHANGED, Kind
from bot.views import (
    SEND_ERRORS,
    PagedList,
    TrackedModal,
    answer_failure,
    register_paged_lists,
    send_dm,
    send_paged,
    unregister_paged_lists,
)
from cogs.checkins import crisis_embed

__all__ = [
    "AUDIT_LOG_LIST",
    "SOS_BUTTON_TEMPLATE",
    "SOS_SERVER_SELECT",
    "Safety",
    "SosButton",
    "SosServerSelect",
    "audit_entry_line",
    "audit_page_embed",
    "buddy_alert_text",
    "moderator_alert_text",
    "open_crisis_resources_modal",
    "show_audit_log",
]

log = logging.getLogger(__name__)

COLOUR = discord.Colour.teal()
SOS_BUTTON_TEMPLATE = r"sos:(?P<step>ask|send|cancel):(?P<kind>buddy|moderators):(?P<guild_id>[0-9]+)"
SOS_SERVER_SELECT = "sos:server"
SELECT_LIMIT = 25
"""Discord's most options in a select."""
SENDING = "Sending it now…"
LABELS: dict[tuple[str, AlertKind], tuple[str, discord.ButtonStyle]] = {
    ("ask", AlertKind.BUDDY): ("Tell my buddy I need support now", discord.ButtonStyle.primary),
    ("ask", AlertKind.MODERATORS): ("Tell the moderators", discord.ButtonStyle.secondary),
    ("send", AlertKind.BUDDY): ("Yes, tell my buddy", discord.ButtonStyle.primary),
    ("send", AlertKind.MODERATORS): ("Yes, tell the moderators", discord.ButtonStyle.primary),
    ("cancel", AlertKind.BUDDY): ("Not now", discord.ButtonStyle.secondary),
    ("cancel", AlertKind.MODERATORS): ("Not now", discord.ButtonStyle.secondary),
}
REACHED_OUT = "💚 You reached out, and that matters."
DANGER = "If you are in danger right now, please call your local emergency number."
OFFER = (
    "I can also let your buddy or the moderators know that you need support now. I'll ask you before sending anything."
)
NOBODY = discord.AllowedMentions.none()
SOS_RETRY_MEMORY = timedelta(minutes=10)
"""How long an /sos that reached nobody is remembered, so that pressing again reuses its nonces."""


def sos_nonce(alert: Alert, started: datetime, recipient_id: int) -> str:
    """The nonce of one /sos message: per member, kind, start of that /sos, and recipient (a buddy or
    the moderators' channel)."""
    return message_nonce("sos", alert.guild_id, alert.user_id, alert.kind.value, int(started.timestamp()), recipient_id)


def _ts(moment: datetime, style: str = "R") -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


def _name(text: str) -> str:
    """A name shown inside the bot's text: no markdown, and no mention can come of it."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def _user(user_id: int) -> str:
    return "an erased member" if user_id == ERASED_USER_ID else f"<@{user_id}>"


def _users(user_ids: Sequence[int]) -> str:
    mentions = [_user(i) for i in user_ids]
    return mentions[0] if len(mentions) == 1 else ", ".join(mentions[:-1]) + " and " + mentions[-1]


# --------------------------------------------------------------------------- messages


def sos_intro(guild_name: str | None) -> str:
    """The first words of ``/sos`` when a server is known."""
    where = f" Here is who you can contact right now ({_name(guild_name)})." if guild_name else ""
    return f"{REACHED_OUT} {DANGER}{where}\n{OFFER}"


def buddy_alert_text(member_id: int, member_name: str, guild_name: str) -> str:
    """The buddy's DM: the member asked for support now (only that)."""
    return (
        f"💚 {_user(member_id)} ({_name(member_name)}) from **{_name(guild_name)}** used /sos and asked me to tell "
        "you they need support now. If you can, please reach out to them right away: a message or a call. "
        "If you think they are in danger, call your local emergency number. Here is what I showed them:"
    )


def moderator_alert_text(member_id: int, member_name: str) -> str:
    """The moderators' notice: who asked for support now (only that)."""
    return (
        f"🆘 {_user(member_id)} ({_name(member_name)}) used /sos and asked the moderators for support now. "
        "Please reach out to them privately as soon as you can. They were shown the server's crisis resources."
    )


def ask_text(alert: Alert, guild_name: str) -> str:
    """The question before an alert goes out, or why it cannot."""
    where = f"**{_name(guild_name)}**"
    if alert.status is AlertStatus.ALREADY_SENT:
        return already_sent_text(alert)
    if alert.status is AlertStatus.NO_BUDDY:
        return (
            f"You don't have a buddy in {where} right now, so there is nobody I can tell. The moderators can help: "
            "press “Tell the moderators”. `/buddy request` in the server asks for a buddy."
        )
    if alert.status is AlertStatus.NO_CHANNEL:
        return (
            f"{where} hasn't set up a moderators' channel, so I can't reach the moderators from here. "
            "Please write to a moderator directly, or to anyone you trust there."
        )
    if alert.kind is AlertKind.BUDDY:
        return (
            f"Tell {_users(alert.buddy_ids)} that you need support now? I'll send a private message saying only "
            "that you asked for support now."
        )
    return (
        f"Tell the moderators of {where} that you need support now? I'll post a short notice in their channel "
        "saying only that you asked for support now, so someone can reach out to you."
    )


def already_sent_text(alert: Alert) -> str:
    """A second press within the limit."""
    who = "your buddy" if alert.kind is AlertKind.BUDDY else "the moderators"
    assert alert.sent_at is not None and alert.again_at is not None
    return (
        f"I already let {who} know {_ts(alert.sent_at)}, so I haven't sent it again. "
        f"You can send another {_ts(alert.again_at)}. The resources above are there for you meanwhile."
    )


DmOutcome = Literal["sent", "closed", "failed", "gone"]
OUTCOME_WORDS: dict[str, str] = {
    "closed": "their DMs are closed",
    "failed": "Discord didn't deliver it just now",
    "gone": "they are no longer in the server",
}


def buddy_result_text(outcomes: dict[int, DmOutcome]) -> str:
    """What happened to the buddies' DMs."""
    reached = [i for i, o in outcomes.items() if o == "sent"]
    missed = "; ".join(f"{_user(i)}: {OUTCOME_WORDS[o]}" for i, o in outcomes.items() if o != "sent")
    if reached:
        text = f"💚 I've let {_users(reached)} know you need support now. Reaching out was the right thing to do."
        if missed:
            text += f" I couldn't reach everyone ({missed})."
        return f"{text}\n{DANGER}"
    return (
        f"I couldn't reach your buddy ({missed}), so nothing was sent and you can try again. "
        f"The moderators can help too: press “Tell the moderators”.\n{DANGER}"
    )


def moderators_result_text(sent: bool, guild_name: str) -> str:
    """What happened to the moderators' notice."""
    if sent:
        return (
            f"💚 I've let the moderators of **{_name(guild_name)}** know you need support now. "
            f"Someone should reach out to you soon.\n{DANGER}"
        )
    return (
        "I couldn't post in the moderators' channel just now, so nothing was sent and you can try again. "
        f"Please also write to a moderator directly.\n{DANGER}"
    )


# --------------------------------------------------------------------------- components


def safety_cog(client: discord.Client) -> Safety:
    """The loaded safety cog; :class:`UserError` if it is not loaded."""
    # Not isinstance: the extension loader executes this module afresh, so its class may differ.
    cog = cast(SoberPeersBot, client).get_cog(Safety.COG_NAME)
    if cog is None or not isinstance(getattr(cog, "service", None), SafetyService):
        raise UserError("This isn't available right now. " + DANGER)
    return cast(Safety, cog)


class SosButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=SOS_BUTTON_TEMPLATE):
    """A button of ``/sos``: ask (the first press), send (confirmed) or cancel, for one server and kind."""

    def __init__(self, step: str, kind: AlertKind, guild_id: int) -> None:
        label, style = LABELS[(step, kind)]
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=f"sos:{step}:{kind.value}:{guild_id}"))
        self.step = step
        self.kind = kind
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SosButton:
        """Rebuild the button from its ``custom_id`` (after a restart too)."""
        return cls(match["step"], AlertKind(match["kind"]), int(match["guild_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Ask, send or cancel, privately."""
        try:
            cog = safety_cog(interaction.client)
            if self.step == "ask":
                await cog.ask(interaction, self.guild_id, self.kind)
            elif self.step == "send":
                await cog.send_alert(interaction, self.guild_id, self.kind)
            else:
                await interaction.response.edit_message(
                    content="Okay, I haven't told anyone. The resources above are there whenever you need them, "
                    "and so is /sos.",
                    view=None,
                )
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, f"{type(self).__name__}:{self.step}")


class SosServerSelect(discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]], template=SOS_SERVER_SELECT):
    """``/sos`` in DMs with several shared servers: which one."""

    def __init__(self, guilds: Sequence[discord.Guild] = ()) -> None:
        options = [discord.SelectOption(label=g.name[:100], value=str(g.id)) for g in guilds[:SELECT_LIMIT]]
        select: discord.ui.Select[discord.ui.View] = discord.ui.Select(
            custom_id=SOS_SERVER_SELECT,
            placeholder="Which server are you in?",
            options=options or [discord.SelectOption(label="-", value="0")],
        )
        super().__init__(select)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SosServerSelect:
        """Rebuild the select (its options do not matter: the member's choice is read from the interaction)."""
        return cls()

    async def callback(self, interaction: discord.Interaction) -> None:
        """Show the chosen server's resources and buttons in place."""
        try:
            values = self.item.values
            guild_id = int(values[0]) if values else 0
            await safety_cog(interaction.client).show_server(interaction, guild_id)
        except Exception as exc:  # noqa: BLE001 - discord.py only logs a dynamic item's errors: answer them
            await answer_failure(interaction, exc, type(self).__name__)


def sos_view(guild_id: int) -> discord.ui.View:
    """The two buttons of ``/sos`` for one server."""
    view = discord.ui.View(timeout=None)
    view.add_item(SosButton("ask", AlertKind.BUDDY, guild_id))
    view.add_item(SosButton("ask", AlertKind.MODERATORS, guild_id))
    return view


def confirm_view(guild_id: int, kind: AlertKind) -> discord.ui.View:
    """Yes / Not now."""
    view = discord.ui.View(timeout=None)
    view.add_item(SosButton("send", kind, guild_id))
    view.add_item(SosButton("cancel", kind, guild_id))
    return view


def server_view(guilds: Sequence[discord.Guild]) -> discord.ui.View:
    """The select of the servers shared with the member."""
    view = discord.ui.View(timeout=None)
    view.add_item(SosServerSelect(guilds))
    return view


# --------------------------------------------------------------------------- the audit log


ACTION_TEXT = {
    SETTINGS_CHANGED: "changed a setting",
    "buddy.group_add": "made a role a matching group",
    "buddy.group_remove": "removed a matching group",
    "buddy.pair": "paired two members by hand",
    "buddy.unpair": "ended a pairing",
    "buddy.match_now": "ran buddy matching",
    "buddy.approve": "approved a buddy pair",
    "buddy.reject": "rejected a buddy pair",
    "buddy.settings": "changed the buddy settings",
    ERASE_SERVER_ACTION: "erased all of the server's SoberPeers data",
    "outbox.undelivered": "could not deliver a message, and gave up",
}
DETAIL_SHOWN = 80
"""The most characters of one value shown in the log (a crisis text is shortened)."""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_SHOWN else text[: DETAIL_SHOWN - 1] + "…"


def _setting_value(key: str, stored: object) -> str:
    definition = SETTINGS.get(key)
    if stored is None:
        return "default" if definition is not None and definition.default is not None else "not set"
    if definition is None or not isinstance(stored, str):
        return _detail_value(key, stored)
    if definition.kind is Kind.CHANNEL:
        return f"<#{stored}>"
    if definition.kind is Kind.ROLE:
        return f"<@&{stored}>"
    if definition.kind is Kind.BOOL:
        return "on" if stored == "1" else "off"
    if definition.kind is Kind.TEXT:
        return f"“{_name(_short(stored))}”"
    return _name(stored)


def _detail_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key.endswith("_id"):
        if key.endswith("role_id"):
            return f"<@&{value}>"
        if key.endswith("channel_id"):
            return f"<#{value}>"
        if key.startswith("pair"):
            return f"#{value}"
        return _user(value)
    if isinstance(value, list):
        if len(value) == 2 and not key.endswith("s"):
            return f"{_detail_value(key, value[0])} → {_detail_value(key, value[1])}"
        return ", ".join(_detail_value(key.removesuffix("s") + "_id", v) for v in value) or "none"
    if value is None:
        return "none"
    if isinstance(value, str):
        return _name(_short(value))
    return _name(_short(json.dumps(value, ensure_ascii=False)))


def audit_entry_line(entry: AuditEntry) -> str:
    """One entry as moderators read it: when, who, what (mentions in embeds ping nobody)."""
    who = _user(entry.actor_id) if entry.actor_id is not None else "SoberPeers"
    what = ACTION_TEXT.get(entry.action, _name(entry.action))
    if entry.action == SETTINGS_CHANGED:
        parts = []
        for key, change in entry.detail.items():
            label = SETTINGS[key].label if key in SETTINGS else _name(key)
            before, after = change if isinstance(change, list) and len(change) == 2 else (None, change)
            parts.append(f"**{label}**: {_setting_value(key, before)} → {_setting_value(key, after)}")
        details = "; ".join(parts)
    else:
        details = ", ".join(
            f"{_name(k.removesuffix('_id').replace('_', ' '))}: {_detail_value(k, v)}" for k, v in entry.detail.items()
        )
    line = f"{_ts(entry.at, 'f')} · {who} {what}"
    return f"{line}: {details}" if details else line


def audit_page_embed(page: AuditPage) -> discord.Embed:
    """One page of ``/settings audit-log``."""
    embed = discord.Embed(title="Audit log", colour=discord.Colour.blurple())
    if not page.entries:
        embed.description = "Nothing recorded yet: moderators' actions and settings changes appear here."
        return embed
    embed.description = "\n".join(f"• {audit_entry_line(e)}" for e in page.entries)[:4096]
    embed.set_footer(text=f"Page {page.page + 1} of {page.pages} · {page.total} in all · newest first")
    return embed


def _service(bot: SoberPeersBot) -> SafetyService:
    service = getattr(bot.get_cog(Safety.COG_NAME), "service", None)
    if isinstance(service, SafetyService):
        return service
    return SafetyService(bot.db, bot.clock)  # the settings work without the cog loaded


def _fetch_audit(interaction: discord.Interaction, number: int) -> Awaitable[AuditPage]:
    assert interaction.guild_id is not None
    return _service(cast(SoberPeersBot, interaction.client)).audit_page(interaction.guild_id, number, AUDIT_PAGE_SIZE)


AUDIT_LOG_LIST: PagedList[AuditPage] = PagedList("audit", _fetch_audit, audit_page_embed, labels=("Newer", "Older"))
"""``/settings audit-log``, newest first (its page buttons are handled while this cog is loaded)."""


async def show_audit_log(bot: SoberPeersBot, interaction: discord.Interaction) -> None:
    """``/settings audit-log``: the newest page, with Newer / Older when there are more."""
    await send_paged(interaction, AUDIT_LOG_LIST)


# --------------------------------------------------------------------------- crisis resources


class CrisisResourcesModal(TrackedModal, title="Crisis resources"):
    """The server's crisis resources, edited in place (empty: back to the default). Sent after it closed
    (15 minutes, or a restart), it is answered that nothing was saved (:class:`bot.views.TrackedModal`)."""

    text: discord.ui.TextInput[CrisisResourcesModal] = discord.ui.TextInput(
        label="Shown with /sos, hard check-ins and nudges",
        style=discord.TextStyle.paragraph,
        custom_id="crisis_resources",
        max_length=CRISIS_RESOURCES_MAX_LENGTH,
        required=False,
        placeholder="Leave empty to use the default resources",
    )

    def __init__(self, client: discord.Client, service: SafetyService, current: str) -> None:
        super().__init__(client, "crisis-resources", timeout=900)
        self.service = service
        self.text.default = current

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        """Save the text (a moderator still), then show it as members will see it."""
        await is_moderator(interaction)
        assert interaction.guild_id is not None
        value = self.text.value.strip()
        if value == DEFAULT_CRISIS_RESOURCES.strip():
            value = ""  # unchanged default: stay on the default
        shown = await self.service.set_crisis_resources(interaction.guild_id, value or None, interaction.user.id)
        intro = (
            "Crisis resources saved. Members now see this:"
            if value
            else "Crisis resources are back to the default. Members now see this:"
        )
        await interaction.response.send_message(intro, embed=crisis_embed(shown), ephemeral=True)


async def open_crisis_resources_modal(bot: SoberPeersBot, interaction: discord.Interaction) -> None:
    """``/settings crisis-resources``: a form with the current text."""
    assert interaction.guild_id is not None
    service = _service(bot)
    current = await service.crisis_resources(interaction.guild_id)
    await interaction.response.send_modal(CrisisResourcesModal(interaction.client, service, current))


# --------------------------------------------------------------------------- the cog


class Safety(commands.Cog):
    """``/sos`` and its alerts."""

    COG_NAME = "Safety"

    def __init__(self, bot: SoberPeersBot) -> None:
        self.bot = bot
        self.service = SafetyService(bot.db, bot.clock)
        self._unsent: dict[tuple[int, int, str], datetime] = {}
        """(server, member, kind) → when an /sos that reached nobody started (see :meth:`_started`)."""

    async def cog_load(self) -> None:
        """Handle the buttons and the select of ``/sos`` messages, and the audit log's pages, also those sent
        before a restart."""
        self.bot.add_dynamic_items(SosButton, SosServerSelect)
        register_paged_lists(self.bot, AUDIT_LOG_LIST)

    async def cog_unload(self) -> None:
        """Stop handling them."""
        self.bot.remove_dynamic_items(SosButton, SosServerSelect)
        unregister_paged_lists(self.bot, AUDIT_LOG_LIST)

    # ----------------------------------------------------------------------- lookups

    def shared_guilds(self, user_id: int) -> list[discord.Guild]:
        """The servers the member shares with the bot, by name."""
        found = [g for g in self.bot.guilds if g.get_member(user_id) is not None]
        return sorted(found, key=lambda g: (g.name.casefold(), g.id))

    async def _member_of(self, guild_id: int, user_id: int) -> tuple[discord.Guild, discord.Member]:
        """The server and the member in it; :class:`UserError` if either is gone."""
        guild = self.bot.get_guild(guild_id)
        member = guild.get_member(user_id) if guild is not None else None
        if guild is not None and member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.NotFound:
                member = None
        if guild is None or member is None:
            raise UserError(
                "I can't reach anyone in that server for you any more: one of us is no longer in it. " + DANGER
            )
        return guild, member

    # ----------------------------------------------------------------------- /sos

    @app_commands.command(
        name="sos", description="Crisis resources now, and a way to tell your buddy or the moderators"
    )
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def sos(self, interaction: discord.Interaction) -> None:
        """Answer at once, privately: the resources, and the two buttons when a server is known."""
        guild_id = interaction.guild_id
        if guild_id is not None:
            resources = await self.service.crisis_resources(guild_id)
            guild = interaction.guild
            await interaction.response.send_message(
                sos_intro(guild.name if guild is not None else None),
                embed=crisis_embed(resources),
                view=sos_view(guild_id),
                ephemeral=True,
            )
            log.info("Guild %s: /sos used", guild_id)  # who used it is not logged
            return
        shared = self.shared_guilds(interaction.user.id)
        if len(shared) == 1:
            (only,) = shared
            resources = await self.service.crisis_resources(only.id)
            await interaction.response.send_message(
                sos_intro(only.name), embed=crisis_embed(resources), view=sos_view(only.id), ephemeral=True
            )
        elif shared:
            await interaction.response.send_message(
                f"{REACHED_OUT} {DANGER} Here is who you can contact right now.\n"
                "Which server are you in? Choose it below to see its own resources and to let your buddy or its "
                "moderators know you need support.",
                embed=crisis_embed(DEFAULT_CRISIS_RESOURCES),
                view=server_view(shared),
                ephemeral=True,
            )
        else:
            await interaction.response.send_message(
                f"{REACHED_OUT} {DANGER} Here is who you can contact right now.",
                embed=crisis_embed(DEFAULT_CRISIS_RESOURCES),
                ephemeral=True,
            )
        log.info("/sos used in DMs (%d shared servers)", len(shared))

    async def show_server(self, interaction: discord.Interaction, guild_id: int) -> None:
        """The select: the chosen server's resources and buttons, in place of the question."""
        guild, _ = await self._member_of(guild_id, interaction.user.id)
        resources = await self.service.crisis_resources(guild.id)
        await interaction.response.edit_message(
            content=sos_intro(guild.name), embed=crisis_embed(resources), view=sos_view(guild.id)
        )

    async def ask(self, interaction: discord.Interaction, guild_id: int, kind: AlertKind) -> None:
        """The first press: the question (or why it cannot go out), as a new private message."""
        guild, member = await self._member_of(guild_id, interaction.user.id)
        alert = await self.service.check_alert(guild.id, member.id, kind)
        if alert.status is AlertStatus.READY:
            await interaction.response.send_message(
                ask_text(alert, guild.name), view=confirm_view(guild.id, kind), ephemeral=True
            )
        else:
            await interaction.response.send_message(ask_text(alert, guild.name), ephemeral=True)

    async def send_alert(self, interaction: discord.Interaction, guild_id: int, kind: AlertKind) -> None:
        """Confirmed: claim the alert, send it, and say what happened in place of the question."""
        guild, member = await self._member_of(guild_id, interaction.user.id)
        alert = await self.service.claim_alert(guild.id, member.id, kind)
        if alert.status is not AlertStatus.CLAIMED:
            await interaction.response.edit_message(content=ask_text(alert, guild.name), view=None)
            return
        await interaction.response.edit_message(content=SENDING, view=None)
        delivered = False
        started = self._started(alert)
        try:
            if kind is AlertKind.BUDDY:
                outcomes = await self._tell_buddies(guild, member, alert, started)
                delivered = "sent" in outcomes.values()
                text = buddy_result_text(outcomes)
            else:
                delivered = await self._tell_moderators(guild, member, alert, started)
                text = moderators_result_text(delivered, guild.name)
        finally:
            await self.service.settle_alert(alert, delivered=delivered)
            self._settled(alert, started, delivered=delivered)
        await interaction.edit_original_response(content=text)

    def _started(self, alert: Alert) -> datetime:
        """When this /sos started: its claim, or that of the member's last one, of the same kind, that
        reached nobody less than :data:`SOS_RETRY_MEMORY` ago (pressing again after "nothing was sent" is
        the same /sos, so its messages get the same nonces: one Discord created unseen is not repeated)."""
        assert alert.sent_at is not None
        earlier = self._unsent.get((alert.guild_id, alert.user_id, alert.kind.value))
        if earlier is not None and alert.sent_at - earlier <= SOS_RETRY_MEMORY:
            return earlier
        return alert.sent_at

    def _settled(self, alert: Alert, started: datetime, *, delivered: bool) -> None:
        key = (alert.guild_id, alert.user_id, alert.kind.value)
        if delivered:
            self._unsent.pop(key, None)
            return
        assert alert.sent_at is not None
        now = alert.sent_at
        for stale in [k for k, at in self._unsent.items() if now - at > SOS_RETRY_MEMORY]:
            del self._unsent[stale]
        self._unsent[key] = started

    async def _tell_buddies(
        self, guild: discord.Guild, member: discord.Member, alert: Alert, started: datetime
    ) -> dict[int, DmOutcome]:
        outcomes: dict[int, DmOutcome] = {}
        text = buddy_alert_text(member.id, member.display_name, guild.name)
        only_the_member = discord.AllowedMentions(everyone=False, users=[member], roles=False, replied_user=False)
        for buddy_id in alert.buddy_ids:
            buddy = guild.get_member(buddy_id)
            if buddy is None:
                try:
                    buddy = await guild.fetch_member(buddy_id)
                except discord.NotFound:
                    outcomes[buddy_id] = "gone"
                    continue
            outcomes[buddy_id] = await send_dm(
                buddy,
                content=text,
                embed=crisis_embed(alert.resources),
                allowed_mentions=only_the_member,
                nonce=sos_nonce(alert, started, buddy_id),
            )
        log.info("Guild %s: /sos alert to %d buddies: %s", guild.id, len(outcomes), sorted(outcomes.values()))
        return outcomes

    async def _tell_moderators(
        self, guild: discord.Guild, member: discord.Member, alert: Alert, started: datetime
    ) -> bool:
        channel = guild.get_channel(alert.channel_id) if alert.channel_id is not None else None
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            log.warning(
                "Guild %s: the moderators' channel %s is not a text channel I can see", guild.id, alert.channel_id
            )
            return False
        text = moderator_alert_text(member.id, member.display_name)
        try:
            await channel.send(text, allowed_mentions=NOBODY, nonce=sos_nonce(alert, started, channel.id))
        except SEND_ERRORS as exc:
            log.warning("Guild %s: could not post a /sos notice in channel %s: %r", guild.id, channel.id, exc)
            return False
        return True


async def setup(bot: SoberPeersBot) -> None:
    """Add the cog."""
    await bot.add_cog(Safety(bot))
