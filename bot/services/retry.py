"""The first retry after a send failed in passing comes soon enough for its nonce to still count.

Every DM and channel message the bot sends outside an interaction carries a nonce that is the same on
every attempt at that message (:func:`bot.nonce.message_nonce`, sent with ``enforce_nonce``). If
Discord did create the message but its answer was lost (a 5xx, a timeout, a dropped connection after
the message was made), a later attempt with that nonce gets the message already made instead of a
second one — but only within Discord's nonce window, which Discord documents as "the past few
minutes". So after a *transient* failure a feature's first retry comes :data:`FIRST_RETRY` later,
well inside any plausible window; later retries back off as each feature decides (the window is
long gone by then anyway). A refusal (a 4xx: closed DMs, no access) created nothing, so its retry,
if any, need not hurry.

No Discord here: the cogs tell a transient failure apart (:func:`bot.views.send_with_nonce`) and say
so with :class:`TransientSendError` or an outcome.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["FIRST_RETRY", "RefusedSendError", "TransientSendError"]

FIRST_RETRY = timedelta(minutes=1)
"""How soon the first attempt after a transient failure comes (the same nonce)."""


class TransientSendError(Exception):
    """A send failed in passing (a 5xx, a timeout, a dropped connection, a rate limit not waited
    out): Discord may have created the message, so the retry should come within :data:`FIRST_RETRY`."""


class RefusedSendError(Exception):
    """Discord refused a send (a 4xx other than closed DMs): nothing was made; a retry need not hurry."""
