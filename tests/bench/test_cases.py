"""The benchmark's cases in quick mode: each does the work it measures (rows, matches, nudges,
answers) and reports its metrics. No test here asserts a time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.cases import activity, chart, commands, dbsize, looplag, matching, startup, sweep
from bench.cases.commands import COMMANDS, Members, sequential
from bench.cases.common import server_bot, server_copy
from bench.core import Config, Result, seeded
from bench.data import NOW
from bot.db.connection import Database


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of quick data sets for the module."""
    return tmp_path_factory.mktemp("bench-data")


@pytest.fixture
def config(data_dir: Path) -> Config:
    """A quick run with one repetition per case."""
    return Config(quick=True, data_dir=data_dir, repeat=1)


def _names(results: list[Result]) -> list[str]:
    return [r.name for r in results]


def _well_formed(results: list[Result]) -> None:
    for r in results:
        assert r.min <= r.median <= r.max
        assert r.samples >= 1
        assert (r.target is None) == (r.met is None)


async def test_each_command_answers_and_is_measured(config: Config) -> None:
    async with server_bot(config) as harness:
        rng = seeded(1)
        for command in COMMANDS:
            if not command.available(harness):
                continue
            members = Members(command.members(harness.plan), 1)
            latencies = await sequential(harness, command, members.take(3), rng)
            assert len(latencies) == 3 and all(t > 0 for t in latencies)
        # A check-in was stored for today for each of the 3 members who checked in.
        today = await harness.bot.db.read(
            lambda conn: conn.execute(
                "SELECT count(*) FROM checkins WHERE day = ?", (int(NOW.timestamp()) // 86_400,)
            ).fetchone()[0]
        )
        assert today == 3


async def test_the_commands_case_reports_four_metrics_per_command(config: Config) -> None:
    results = await commands.run(config)
    _well_formed(results)
    assert "command.checkin_today.p50" in _names(results)
    assert "command.peersupport_quote.p99_burst50" in _names(results)
    assert len(results) % 4 == 0 and len(results) >= 12
    load = next(r for r in results if r.name == "command.checkin_today.p99_5000msg_s")
    assert load.extra["messages_per_second"] > 0


async def test_the_tracking_case_notes_every_author(config: Config) -> None:
    results = await activity.run_tracking(config)  # checks that the bot noted every author
    assert _names(results) == ["activity.tracking_overhead", "activity.bot_overhead"]
    assert set(results[0].extra["us_per_message"]) == {"discord.py", "bot, no activity", "bot"}


async def test_the_tracking_case_pauses_the_bots_periodic_write_while_it_feeds(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No periodic write of the buffer while messages are fed (one landing in the last feed would take
    authors out of the count), and the bot writing periodically again afterwards."""
    feed = activity._feed
    writing: list[bool] = []
    async with server_bot(config) as harness:
        flusher = harness.bot.get_cog("Nudges").flusher  # type: ignore[union-attr]

        async def observed(parsers: activity.Parsers, frames: Sequence[str]) -> float:
            writing.append(flusher.running)
            return await feed(parsers, frames)

        monkeypatch.setattr(activity, "_feed", observed)
        assert flusher.running
        results = await activity.measure_tracking(harness, config)  # checks that every author was noted
        assert flusher.running
    assert writing and not any(writing)
    assert _names(results) == ["activity.tracking_overhead", "activity.bot_overhead"]


async def test_the_flush_writes_every_member_in_one_transaction(config: Config) -> None:
    results = await activity.run_flush(config)  # checks: entries, one transaction, rows updated
    assert _names(results) == ["flush.1k_members"]
    assert results[0].samples == 1


async def test_the_sweep_looks_at_every_due_member_and_nudges_the_quiet_participants(config: Config) -> None:
    async with sweep.sweep_setup(config, 1_000) as setup:
        assert len(setup.due_rows) == 25
        _, report = await setup.sweep()  # checks that nobody is due afterwards
        assert report.sent == 2 == len(setup.messenger.delivered)
        assert {a.user_id for a in setup.messenger.delivered} == set(setup.plan.quiet_due)
        await setup.reset()
        _, again = await setup.sweep()
        assert again.sent == 2
    results = await sweep.run(config)
    assert _names(results) == ["sweep.500_members", "sweep.1k_members", "sweep.ratio_large_small"]


async def test_matching_makes_a_pair_per_free_place(config: Config) -> None:
    results = await matching.run(config)  # checks: pairs made, still waiting, one group per pair
    assert _names(results) == ["matching.run"]
    assert "50 pairs made" in results[0].note


async def test_the_database_size_counts_the_rows_written(config: Config) -> None:
    results = await dbsize.run(config)
    assert _names(results) == ["dbsize.checkin_bytes", "dbsize.checkin_bytes_vacuumed"]
    rows = results[0].extra["rows"]
    assert 100 * 30 * 0.75 < rows < 100 * 30 * 0.95  # 100 members, 30 days, about 85 %
    assert 20 < results[0].median < 200


async def test_the_chart_case_renders_real_charts(config: Config) -> None:
    results = await chart.run(config)
    assert _names(results) == ["chart.history_30_days.p50", "chart.history_90_days.p50"]


async def test_the_loop_lag_case_flushes_and_sweeps(config: Config) -> None:
    results = await looplag.run(config)  # checks: 2 nudges sent, every member flushed
    assert _names(results) == ["looplag.p99"]
    _well_formed(results)


async def test_a_start_up_reports_time_members_and_memory(tmp_path: Path) -> None:
    standin = startup._world(50)
    async with standin:
        found = await startup.start_once(standin, "bare", tmp_path, 0.05)
    assert found["kind"] == "bare"
    assert found["members"] >= 50
    assert found["ready_s"] > 0 and found["VmRSS"] > 10_000_000


async def test_a_fresh_copy_is_the_cached_data_set_untouched(config: Config) -> None:
    async with server_copy(config) as (first, plan):
        db = await Database.open(first)
        try:
            await db.transaction(lambda conn: conn.execute("DELETE FROM checkins"))
        finally:
            await db.close()
    async with server_copy(config) as (second, _):
        db = await Database.open(second)
        try:
            count = await db.read(lambda conn: conn.execute("SELECT count(*) FROM checkins").fetchone()[0])
        finally:
            await db.close()
    assert count > len(plan.participants)
