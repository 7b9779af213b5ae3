"""Tests of reminders: the schedule in local time, and the dispatcher (ordering, wake, restart, closed DMs).

The dispatcher runs on virtual time: its ``sleep`` returns only when the test moves the clock
past the deadline, so nothing here waits for real time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime

import pytest

from bot.db.connection import Database
from bot.errors import UserError
from bot.services.checkins import CheckinService
from bot.services.guidance import GuidanceLibrary
from bot.services.reminders import (
    DMS_CLOSED_REASON,
    RETRY_AFTER_FAILURE,
    DueReminder,
    ReminderDispatcher,
    ReminderService,
    retry_delay,
)
from bot.services.retry import FIRST_RETRY, RefusedSendError, TransientSendError
from tests.bot.services.checkin_fakes import G1, G2, U1, U2, U3, VirtualTime, at

NY = "America/New_York"
START = at("UTC", 2024, 5, 1, 8, 0)


class Outbox:
    """The reminders "sent", and which members have their DMs closed or make sending fail."""

    def __init__(self) -> None:
        self.sent: list[DueReminder] = []
        self.closed: set[int] = set()
        self.broken: set[int] = set()

    async def send(self, reminder: DueReminder) -> bool:
        if reminder.user_id in self.broken:
            raise RuntimeError("network trouble")
        if reminder.user_id in self.closed:
            return False
        self.sent.append(reminder)
        return True

    def who(self) -> list[tuple[int, int, date]]:
        return [(r.guild_id, r.user_id, r.day) for r in self.sent]


@pytest.fixture
def vt() -> VirtualTime:
    """Virtual time starting at 08:00 UTC on 1 May 2024."""
    return VirtualTime(START)


@pytest.fixture
def reminders(db: Database, vt: VirtualTime) -> ReminderService:
    """A reminder service on virtual time."""
    return ReminderService(db, vt.clock)


@pytest.fixture
def checkins(db: Database, vt: VirtualTime, reminders: ReminderService) -> CheckinService:
    """A check-in service on virtual time, wired to wake the dispatcher on timezone changes."""
    return CheckinService(db, vt.clock, GuidanceLibrary.load(), on_reminders_changed=reminders.notify_changed)


@pytest.fixture
def outbox() -> Outbox:
    """Where the dispatcher's reminders go."""
    return Outbox()


Starter = Callable[..., Awaitable[ReminderDispatcher]]


@pytest.fixture
async def start(reminders: ReminderService, vt: VirtualTime, outbox: Outbox) -> AsyncIterator[Starter]:
    """Start a dispatcher on virtual time and wait until it sleeps; stopped at the end of the test."""
    started: list[ReminderDispatcher] = []

    async def go(**options: float) -> ReminderDispatcher:
        dispatcher = ReminderDispatcher(reminders, outbox.send, sleep=vt.sleep, **options)  # type: ignore[arg-type]
        vt.idle = lambda: dispatcher.idle
        dispatcher.start()
        started.append(dispatcher)
        await vt.settle()
        return dispatcher

    yield go
    for dispatcher in started:
        await dispatcher.stop()


# --------------------------------------------------------------------------- the schedule


async def test_set_reminder_schedules_in_the_members_timezone(
    reminders: ReminderService, checkins: CheckinService
) -> None:
    """The next reminder is the member's local time, today if still ahead, else tomorrow."""
    await checkins.set_timezone(G1, U1, NY)  # 04:00 in New York
    info = await reminders.set_reminder(G1, U1, "07:30")
    assert (info.time, info.timezone, info.next_due_at) == ("07:30", NY, at(NY, 2024, 5, 1, 7, 30))
    info = await reminders.set_reminder(G1, U1, "3:00")
    assert info.next_due_at == at(NY, 2024, 5, 2, 3, 0)
    assert info.paused_reason is None and not info.timezone_notice


async def test_timezone_not_set_is_said_once(reminders: ReminderService) -> None:
    """Without a timezone, UTC is used and the first reply says so."""
    first = await reminders.set_reminder(G1, U1, "20:00")
    assert first.timezone == "UTC" and first.timezone_notice and first.next_due_at == at("UTC", 2024, 5, 1, 20)
    assert not (await reminders.set_reminder(G1, U1, "21:00")).timezone_notice


@pytest.mark.parametrize("text", ["25:00", "7pm", "", "12.30", "12:3"])
async def test_invalid_time_is_refused(reminders: ReminderService, text: str) -> None:
    """A time not in HH:MM is a UserError, and no reminder is set."""
    with pytest.raises(UserError, match="HH:MM"):
        await reminders.set_reminder(G1, U1, text)
    assert await reminders.get_reminder(G1, U1) is None


async def test_nonexistent_local_time_on_dst_day(
    reminders: ReminderService, checkins: CheckinService, vt: VirtualTime
) -> None:
    """A 02:30 reminder on New York's spring-forward day comes at 03:30 EDT, then 02:30 again."""
    vt.now = at(NY, 2024, 3, 9, 12)
    await checkins.set_timezone(G1, U1, NY)
    info = await reminders.set_reminder(G1, U1, "02:30")
    assert info.next_due_at == at(NY, 2024, 3, 10, 3, 30)
    vt.now = info.next_due_at
    assert [r.day for r in await reminders.claim_due()] == [date(2024, 3, 10)]
    after = await reminders.get_reminder(G1, U1)
    assert after is not None and after.next_due_at == at(NY, 2024, 3, 11, 2, 30)


async def test_ambiguous_local_time_fires_once(
    reminders: ReminderService, checkins: CheckinService, vt: VirtualTime
) -> None:
    """A 01:30 reminder on the fall-back day comes at the first 01:30 only."""
    vt.now = at(NY, 2024, 11, 2, 12)
    await checkins.set_timezone(G1, U1, NY)
    info = await reminders.set_reminder(G1, U1, "01:30")
    assert info.next_due_at is not None
    vt.now = info.next_due_at
    assert len(await reminders.claim_due()) == 1
    vt.now = at("UTC", 2024, 11, 3, 6, 30)  # the second 01:30 (EST)
    assert await reminders.claim_due() == []
    after = await reminders.get_reminder(G1, U1)
    assert after is not None and after.next_due_at == at(NY, 2024, 11, 4, 1, 30)


async def test_remove_reminder(reminders: ReminderService) -> None:
    """Removing stops the reminder; removing again says there was none."""
    await reminders.set_reminder(G1, U1, "20:00")
    assert await reminders.remove_reminder(G1, U1)
    assert not await reminders.remove_reminder(G1, U1)
    assert await reminders.next_due_at() is None


async def test_claim_skips_a_day_already_checked_in(
    reminders: ReminderService, checkins: CheckinService, vt: VirtualTime
) -> None:
    """No reminder on a local day with a check-in; the next day's still comes."""
    await reminders.set_reminder(G1, U1, "20:00")
    await checkins.record_checkin(G1, U1, 4, 1, True)
    vt.now = at("UTC", 2024, 5, 1, 20)
    assert await reminders.claim_due() == []
    assert await reminders.next_due_at() == at("UTC", 2024, 5, 2, 20)
    vt.now = at("UTC", 2024, 5, 2, 20)
    assert [r.day for r in await reminders.claim_due()] == [date(2024, 5, 2)]


async def test_changing_the_time_never_gives_a_second_reminder_the_same_day(
    reminders: ReminderService, vt: VirtualTime
) -> None:
    """After today's reminder was sent, moving it later today schedules it for tomorrow."""
    await reminders.set_reminder(G1, U1, "09:00")
    vt.now = at("UTC", 2024, 5, 1, 9)
    assert len(await reminders.claim_due()) == 1
    info = await reminders.set_reminder(G1, U1, "21:00")
    assert info.next_due_at == at("UTC", 2024, 5, 2, 21)


# --------------------------------------------------------------------------- the dispatcher


async def test_dispatcher_sends_in_order_of_due_time(
    reminders: ReminderService, checkins: CheckinService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """Reminders across servers and timezones go out in the order they come due, each at its time."""
    await checkins.set_timezone(G1, U1, NY)  # 20:00 NY = 00:00 UTC on 2 May
    await checkins.set_timezone(G1, U2, "Europe/Berlin")  # 21:00 Berlin = 19:00 UTC
    await reminders.set_reminder(G1, U1, "20:00")
    await reminders.set_reminder(G1, U2, "21:00")
    await reminders.set_reminder(G2, U3, "19:30")  # UTC
    await start()
    assert vt.deadlines == [at("UTC", 2024, 5, 1, 8, 15)]  # nothing due for hours: re-reads every 15 min
    await vt.advance_to(at("UTC", 2024, 5, 1, 19, 0))
    assert outbox.who() == [(G1, U2, date(2024, 5, 1))]
    await vt.advance_to(at("UTC", 2024, 5, 1, 19, 30))
    await vt.advance_to(at("UTC", 2024, 5, 2, 0, 0))
    assert [r.user_id for r in outbox.sent] == [U2, U3, U1]
    assert outbox.sent[2].day == date(2024, 5, 1) and outbox.sent[2].timezone == NY
    assert vt.deadlines == [at("UTC", 2024, 5, 2, 0, 15)]


async def test_a_big_jump_sends_in_order_too(
    reminders: ReminderService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """Reminders that all came due during one long sleep are sent earliest first."""
    for user, time in ((U1, "18:00"), (U2, "10:00"), (U3, "14:00")):
        await reminders.set_reminder(G1, user, time)
    await start(max_sleep=86_400.0)
    assert vt.deadlines == [at("UTC", 2024, 5, 1, 10)]
    vt.now = at("UTC", 2024, 5, 1, 23)  # the sleeper overslept, e.g. the machine was suspended
    await vt.advance_to(vt.now)
    assert [r.user_id for r in outbox.sent] == [U2, U3, U1]


async def test_adding_an_earlier_reminder_wakes_the_dispatcher(
    reminders: ReminderService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """A reminder added while the dispatcher sleeps for a later one is sent at its own time."""
    await reminders.set_reminder(G1, U1, "20:00")
    await start(max_sleep=10 * 86_400.0)
    assert vt.deadlines == [at("UTC", 2024, 5, 1, 20)]
    await reminders.set_reminder(G1, U2, "09:00")
    await vt.settle()
    assert vt.deadlines == [at("UTC", 2024, 5, 1, 9)]
    await vt.advance_to(at("UTC", 2024, 5, 1, 9))
    assert outbox.who() == [(G1, U2, date(2024, 5, 1))]
    assert vt.deadlines == [at("UTC", 2024, 5, 1, 20)]


async def test_first_reminder_wakes_an_idle_dispatcher(
    reminders: ReminderService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """With no reminders at all the dispatcher idles; the first one set wakes it."""
    await start(max_sleep=10 * 86_400.0)
    assert vt.deadlines == [at("UTC", 2024, 5, 11, 8)]
    await reminders.set_reminder(G1, U1, "08:05")
    await vt.settle()
    assert vt.deadlines == [at("UTC", 2024, 5, 1, 8, 5)]
    await vt.advance_to(at("UTC", 2024, 5, 1, 8, 5))
    assert [r.user_id for r in outbox.sent] == [U1]


async def test_timezone_change_wakes_the_dispatcher(
    reminders: ReminderService, checkins: CheckinService, vt: VirtualTime, start: Starter
) -> None:
    """Moving to another timezone re-times the sleeping dispatcher to the new local time."""
    await reminders.set_reminder(G1, U1, "20:00")
    await start(max_sleep=10 * 86_400.0)
    await checkins.set_timezone(G1, U1, "Asia/Tokyo")  # 17:00 in Tokyo: today's 20:00 is 11:00 UTC
    await vt.settle()
    assert vt.deadlines == [at("UTC", 2024, 5, 1, 11)]


async def test_checked_in_members_get_no_reminder(
    reminders: ReminderService, checkins: CheckinService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """Only members who have not checked in that local day are reminded."""
    await reminders.set_reminder(G1, U1, "20:00")
    await reminders.set_reminder(G1, U2, "20:00")
    await checkins.record_checkin(G1, U1, 3, 2, True)
    await start()
    await vt.advance_to(at("UTC", 2024, 5, 1, 20))
    assert [r.user_id for r in outbox.sent] == [U2]


async def test_restart_sends_at_most_one_and_none_for_a_passed_day(
    db: Database, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """Back after days down: a reminder whose time came today is sent once; one for today not yet due waits."""
    before = ReminderService(db, vt.clock)
    await before.set_reminder(G1, U1, "20:00")  # missed on 1-3 May; today's (4 May) came at 20:00
    await before.set_reminder(G1, U2, "23:00")  # missed on 1-3 May; today's comes at 23:00
    await before.set_reminder(G2, U1, "21:00")
    vt.now = at("UTC", 2024, 5, 4, 22, 0)  # the bot comes back up
    await start()
    assert outbox.who() == [(G1, U1, date(2024, 5, 4)), (G2, U1, date(2024, 5, 4))]
    assert vt.deadlines == [at("UTC", 2024, 5, 4, 22, 15)]
    await vt.advance_to(at("UTC", 2024, 5, 4, 23, 0))
    assert outbox.who()[2:] == [(G1, U2, date(2024, 5, 4))]
    await vt.advance_to(at("UTC", 2024, 5, 5, 19, 59))
    assert len(outbox.sent) == 3


async def test_restart_after_midnight_sends_nothing_for_yesterday(
    db: Database, checkins: CheckinService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """A reminder missed late last evening (local) is not sent after the member's midnight."""
    await checkins.set_timezone(G1, U1, NY)
    await ReminderService(db, vt.clock).set_reminder(G1, U1, "23:30")
    vt.now = at(NY, 2024, 5, 2, 0, 10)  # down from 08:00 UTC until just after midnight in New York
    dispatcher = await start()
    assert outbox.sent == []
    assert vt.deadlines == [at("UTC", 2024, 5, 2, 4, 25)]
    await vt.advance_to(at(NY, 2024, 5, 2, 23, 30))
    assert outbox.who() == [(G1, U1, date(2024, 5, 2))]
    assert dispatcher.running


async def test_restarting_the_dispatcher_does_not_repeat_a_reminder(
    reminders: ReminderService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """A reminder sent before a restart is not sent again after it the same day."""
    await reminders.set_reminder(G1, U1, "09:00")
    first = await start()
    await vt.advance_to(at("UTC", 2024, 5, 1, 9))
    await first.stop()
    assert not first.running
    await start()
    await vt.advance_to(at("UTC", 2024, 5, 1, 23, 59))
    assert len(outbox.sent) == 1


async def test_closed_dms_pause_the_reminder_and_the_next_checkin_says_why(
    reminders: ReminderService, checkins: CheckinService, vt: VirtualTime, outbox: Outbox, start: Starter
) -> None:
    """send() returning False pauses the reminder; the next check-in reply tells why, once; setting it resumes."""
    outbox.closed.add(U1)
    await reminders.set_reminder(G1, U1, "09:00")
    await reminders.set_reminder(G1, U2, "10:00")
    await start()
    await vt.advance_to(at("UTC", 2024, 5, 1, 9))
    paused = await reminders.get_reminder(G1, U1)
    assert paused is not None and paused.paused_reason == DMS_CLOSED_REASON and paused.next_due_at is None
    await vt.advance_to(at("UTC", 2024, 5, 1, 10))
    await vt.advance_to(at("UTC", 2024, 5, 2, 9, 30))
    assert [r.user_id for r in outbox.sent] == [U2]  # U1 stays paused; U2 is unaffected
    vt.now = at("UTC", 2024, 5, 2, 9, 45)
    result = await checkins.record_checkin(G1, U1, 3, 2, True)
    assert result.reminder_notice == DMS_CLOSED_REASON
    assert (await checkins.record_checkin(G1, U1, 3, 2, True)).reminder_notice is None
    outbox.closed.clear()
    info = await reminders.set_reminder(G1, U1, "09:50")
    await vt.settle()
    assert info.paused_reason is None and info.next_due_at == at("UTC", 2024, 5, 2, 9, 50)
    assert await reminders.take_notice(G1, U1) is None
    await vt.advance_to(at("UTC", 2024, 5, 2, 9, 50))
    assert [r.user_id for r in outbox.sent] == [U2]  # resumed, but U1 already checked in today
    await vt.advance_to(at("UTC", 2024, 5, 2, 10))
    await vt.advance_to(at("UTC", 2024, 5, 3, 9, 50))
    assert [r.user_id for r in outbox.sent] == [U2, U2, U1]


async def test_a_failing_send_does_not_stop_the_others(
    reminders: ReminderService, vt: VirtualTime, outbox: Outbox, start: Starter, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception from send() is logged; the other reminders still go, and the dispatcher lives on."""
    outbox.broken.add(U1)
    await reminders.set_reminder(G1, U1, "09:00")
    await reminders.set_reminder(G1, U2, "09:00")
    dispatcher = await start()
    with caplog.at_level(logging.ERROR, logger="bot.services.reminders"):
        await vt.advance_to(at("UTC", 2024, 5, 1, 9))
    assert [r.user_id for r in outbox.sent] == [U2]
    assert "failed" in caplog.text
    assert dispatcher.running
    info = await reminders.get_reminder(G1, U1)
    assert info is not None and info.paused_reason is None  # not paused: only closed DMs pause


async def test_a_failing_schedule_read_is_retried(
    db: Database, vt: VirtualTime, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    """If reading the schedule fails, the dispatcher logs it and tries again after a pause."""

    class Flaky(ReminderService):
        failures = 1

        async def claim_due(self, now: datetime | None = None, limit: int = 50) -> list[DueReminder]:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("disk trouble")
            return await super().claim_due(now, limit)

    service = Flaky(db, vt.clock)
    await service.set_reminder(G1, U1, "08:30")
    dispatcher = ReminderDispatcher(service, outbox.send, sleep=vt.sleep, retry_delay=60.0)
    vt.idle = lambda: dispatcher.idle
    with caplog.at_level(logging.ERROR, logger="bot.services.reminders"):
        dispatcher.start()
        await vt.settle()
    try:
        assert vt.deadlines == [at("UTC", 2024, 5, 1, 8, 1)]
        assert "disk trouble" in caplog.text
        await vt.advance_to(at("UTC", 2024, 5, 1, 8, 30))
        assert [r.user_id for r in outbox.sent] == [U1]
    finally:
        await dispatcher.stop()


async def test_start_twice_and_stop_twice_are_harmless(
    reminders: ReminderService, vt: VirtualTime, outbox: Outbox
) -> None:
    """start() on a running dispatcher and stop() on a stopped one do nothing."""
    dispatcher = ReminderDispatcher(reminders, outbox.send, sleep=vt.sleep)
    await dispatcher.stop()
    vt.idle = lambda: dispatcher.idle
    dispatcher.start()
    dispatcher.start()
    await vt.settle()
    assert dispatcher.running and len(vt.deadlines) == 1
    await dispatcher.stop()
    await dispatcher.stop()
    assert not dispatcher.running
    await asyncio.sleep(0)
    assert vt.deadlines == []


# --------------------------------------------------------------------------- retries after a failure


class Failing(Outbox):
    """An outbox whose next sends fail: in passing (Discord may have made the DM) or refused."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[Exception] = []
        self.attempts: list[DueReminder] = []

    async def send(self, reminder: DueReminder) -> bool:
        self.attempts.append(reminder)
        if self.failures:
            raise self.failures.pop(0)
        return await super().send(reminder)


def transient() -> TransientSendError:
    """A failure in passing."""
    return TransientSendError("503")


async def test_a_transient_failure_is_retried_a_minute_later_then_backs_off(
    reminders: ReminderService, vt: VirtualTime
) -> None:
    """The day's first attempt fails in passing: due again after FIRST_RETRY (the same day, so the same
    nonce); that retry failing too backs off to RETRY_AFTER_FAILURE; then it is sent once."""
    failing = Failing()
    failing.failures = [transient(), transient()]
    await reminders.set_reminder(G1, U1, "09:00")
    dispatcher = ReminderDispatcher(reminders, failing.send, sleep=vt.sleep)
    vt.idle = lambda: dispatcher.idle
    dispatcher.start()
    try:
        await vt.advance_to(at("UTC", 2024, 5, 1, 9))
        first_retry = at("UTC", 2024, 5, 1, 9) + FIRST_RETRY
        assert (await reminders.next_due_at()) == first_retry
        assert vt.deadlines == [first_retry]  # the dispatcher wakes for it
        await vt.advance_to(first_retry)
        backed_off = first_retry + RETRY_AFTER_FAILURE
        assert (await reminders.next_due_at()) == backed_off
        await vt.advance_to(backed_off)
        assert failing.who() == [(G1, U1, date(2024, 5, 1))]
        assert [(a.day, a.retrying) for a in failing.attempts] == [(date(2024, 5, 1), False)] + [
            (date(2024, 5, 1), True)
        ] * 2
        await vt.advance_to(at("UTC", 2024, 5, 1, 23, 59))
        assert len(failing.attempts) == 3
    finally:
        await dispatcher.stop()


async def test_a_refusal_is_retried_later_not_within_the_minute(reminders: ReminderService, vt: VirtualTime) -> None:
    """A refusal (a 4xx other than closed DMs) made nothing: the retry comes RETRY_AFTER_FAILURE later."""
    failing = Failing()
    failing.failures = [RefusedSendError("403 Missing Access")]
    await reminders.set_reminder(G1, U1, "09:00")
    dispatcher = ReminderDispatcher(reminders, failing.send, sleep=vt.sleep)
    vt.idle = lambda: dispatcher.idle
    dispatcher.start()
    try:
        await vt.advance_to(at("UTC", 2024, 5, 1, 9))
        assert (await reminders.next_due_at()) == at("UTC", 2024, 5, 1, 9) + RETRY_AFTER_FAILURE
    finally:
        await dispatcher.stop()


def test_retry_delay_is_short_only_after_a_first_attempt_failed_in_passing() -> None:
    """FIRST_RETRY after the day's first attempt failed in passing; RETRY_AFTER_FAILURE otherwise."""
    first = DueReminder(G1, U1, date(2024, 5, 1), START, "UTC")
    again = DueReminder(G1, U1, date(2024, 5, 1), START, "UTC", retrying=True)
    assert retry_delay(first, transient=True) == FIRST_RETRY
    assert retry_delay(first, transient=False) == RETRY_AFTER_FAILURE
    assert retry_delay(again, transient=True) == RETRY_AFTER_FAILURE
    assert FIRST_RETRY < RETRY_AFTER_FAILURE


async def test_a_late_reminder_after_a_restart_is_a_first_attempt(db: Database, vt: VirtualTime) -> None:
    """Sent late after downtime, the day's reminder is still its first attempt (a failure in passing is
    retried within the minute); a retry left pending by a restart is a retry (it backs off)."""
    service = ReminderService(db, vt.clock)
    await service.set_reminder(G1, U1, "09:00")
    vt.now = at("UTC", 2024, 5, 1, 11)  # the bot was down at 09:00
    (late,) = await service.claim_due()
    assert not late.retrying and late.due_at == at("UTC", 2024, 5, 1, 9)
    assert await service.retry_later(late, vt.now + FIRST_RETRY)
    vt.now += FIRST_RETRY  # (a restart here changes nothing: it is all in the database)
    (again,) = await ReminderService(db, vt.clock).claim_due()
    assert again.retrying and again.day == late.day


async def test_a_reminder_given_back_is_not_sent_after_the_local_day(db: Database, vt: VirtualTime) -> None:
    """A failure in passing just before the member's midnight: the retry a minute later finds the day
    passed and sends nothing; the next day's reminder is its own first attempt."""
    service = ReminderService(db, vt.clock)
    await service.set_reminder(G1, U1, "23:59")
    vt.now = at("UTC", 2024, 5, 1, 23, 59)
    (due,) = await service.claim_due()
    assert await service.retry_later(due, vt.now + FIRST_RETRY)
    vt.now += FIRST_RETRY
    assert await service.claim_due() == []
    assert await service.next_due_at() == at("UTC", 2024, 5, 2, 23, 59)
    vt.now = at("UTC", 2024, 5, 2, 23, 59)
    (tomorrow,) = await service.claim_due()
    assert tomorrow.day == date(2024, 5, 2) and not tomorrow.retrying
