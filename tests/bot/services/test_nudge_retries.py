"""Tests of when a nudge step whose message failed is claimed again: a minute after its first attempt
failed in passing (Discord may have made it: the same nonce still counts), else the sweep's interval,
for a day at most."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.db.connection import Database
from bot.services.nudges import (
    RETRY_AFTER_FAILURE,
    RETRY_FAILED_FOR,
    TRANSIENT,
    NudgeAction,
    retry_delay,
)
from bot.services.retry import FIRST_RETRY
from tests.bot.services.checkin_fakes import G1, U1, FakeClock
from tests.bot.services.test_nudges import START, Discord, World


class Failing(Discord):
    """Discord answering the next attempts with the given outcomes (then as usual)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[str] = []
        self.attempts: list[NudgeAction] = []

    async def deliver(self, action: NudgeAction) -> str:
        self.attempts.append(action)
        if self.failures:
            return self.failures.pop(0)
        return await super().deliver(action)


@pytest.fixture
async def failing(db: Database) -> tuple[World, Failing]:
    """A quiet participant (sobriety date) whose first DM is due three days after START."""
    discord = Failing()
    world = World(db, FakeClock(START), discord)
    await world.setting(G1, "moderator_channel", "4242")
    await world.sober(G1, U1)
    await world.active(G1, U1)
    return world, discord


async def test_a_dm_failing_in_passing_is_claimed_again_a_minute_later(failing: tuple[World, Failing]) -> None:
    """The DM's first attempt fails in passing: recorded 'failed', due again FIRST_RETRY later; the sweep
    then claims the same step (the same nonce), and it is sent once."""
    world, discord = failing
    discord.failures = [TRANSIENT]
    await world.sweep(days=3)
    assert await world.steps(G1, U1) == [(1, "failed")]
    assert (await world.member(G1, U1)).next_check_at == world.clock() + FIRST_RETRY
    await world.sweep(seconds=30)
    assert len(discord.attempts) == 1  # not before its time
    await world.sweep(seconds=30)
    first, retry = discord.attempts
    assert (retry.spell, retry.step, retry.ref) == (first.spell, first.step, first.ref)
    assert await world.steps(G1, U1) == [(1, "sent")]
    assert len(discord.delivered) == 1


async def test_a_second_failure_backs_off_to_the_sweeps_interval(failing: tuple[World, Failing]) -> None:
    """The retry a minute later fails in passing too: the next one comes RETRY_AFTER_FAILURE later."""
    world, discord = failing
    discord.failures = [TRANSIENT, TRANSIENT]
    await world.sweep(days=3)
    await world.sweep(seconds=FIRST_RETRY.total_seconds())
    assert len(discord.attempts) == 2
    assert (await world.member(G1, U1)).next_check_at == world.clock() + RETRY_AFTER_FAILURE
    await world.sweep(seconds=FIRST_RETRY.total_seconds())
    assert len(discord.attempts) == 2
    await world.sweep(seconds=(RETRY_AFTER_FAILURE - FIRST_RETRY).total_seconds())
    assert len(discord.attempts) == 3 and len(discord.delivered) == 1


async def test_a_refusal_is_claimed_again_at_the_sweeps_interval(failing: tuple[World, Failing]) -> None:
    """A refusal (a 4xx other than closed DMs) made nothing: no retry within the minute."""
    world, discord = failing
    discord.failures = ["failed"]
    await world.sweep(days=3)
    assert (await world.member(G1, U1)).next_check_at == world.clock() + RETRY_AFTER_FAILURE


async def test_failures_in_passing_are_retried_for_a_day_at_most(failing: tuple[World, Failing]) -> None:
    """Failing in passing every time: retried (a minute later, then every RETRY_AFTER_FAILURE) for
    RETRY_FAILED_FOR after the first attempt; then the failure stands and nothing more is tried."""
    world, discord = failing
    discord.failures = [TRANSIENT] * 1000
    await world.sweep(days=3)
    first = world.clock()
    await world.sweep(seconds=FIRST_RETRY.total_seconds())
    while world.clock() - first < RETRY_FAILED_FOR + timedelta(hours=1):
        await world.sweep(seconds=RETRY_AFTER_FAILURE.total_seconds())
    attempts = len(discord.attempts)
    assert attempts <= 2 + RETRY_FAILED_FOR // RETRY_AFTER_FAILURE
    assert await world.steps(G1, U1) == [(1, "failed")]
    await world.sweep(hours=3)
    assert len(discord.attempts) == attempts and discord.delivered == []


def test_retry_delay_is_short_only_after_a_first_attempt_failed_in_passing() -> None:
    """FIRST_RETRY only for the attempt claimed when the step was first claimed, and only in passing."""
    claimed = START + timedelta(days=3)
    first = NudgeAction(G1, U1, 1, 1, U1, 3, claimed_at=claimed)
    again = NudgeAction(G1, U1, 1, 1, U1, 3, claimed_at=claimed + FIRST_RETRY)
    unknown = NudgeAction(G1, U1, 1, 1, U1, 3)
    assert retry_delay(first, claimed, transient=True) == FIRST_RETRY
    assert retry_delay(first, claimed, transient=False) == RETRY_AFTER_FAILURE
    assert retry_delay(again, claimed, transient=True) == RETRY_AFTER_FAILURE
    assert retry_delay(unknown, claimed, transient=True) == RETRY_AFTER_FAILURE
