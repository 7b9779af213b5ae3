"""The cases of the suite, in the order they run (``python -m bench --case NAME`` picks some)."""

from __future__ import annotations

from bench.cases import activity, chart, commands, dbsize, looplag, matching, startup, sweep
from bench.core import Case

__all__ = ["CASES", "select"]

CASES: tuple[Case, ...] = (
    Case("activity", "MESSAGE_CREATE through discord.py's parser: the bot's cost per message", activity.run_tracking),
    Case("flush", "the activity buffer written: 100,000 dirty members, one transaction", activity.run_flush),
    Case("commands", "/checkin today, /checkin history, /buddy status, /peersupport quote in-process", commands.run),
    Case("chart", "/checkin history with its chart", chart.run),
    Case("sweep", "the nudge sweep with 1,000 members due, at 10,000 and 100,000 members", sweep.run),
    Case("matching", "buddy matching: 10,000 waiting, 3,000 volunteers, 50 groups", matching.run),
    Case("dbsize", "bytes on disk per check-in without a note", dbsize.run),
    Case("looplag", "a 1 ms timer's lateness while messages flow, a flush and a sweep run", looplag.run),
    Case("startup", "start-up to ready against the stand-in, and memory per cached member", startup.run),
)


def select(names: list[str] | None) -> list[Case]:
    """The cases named (all when ``names`` is empty); :class:`KeyError` naming an unknown one."""
    if not names:
        return list(CASES)
    known = {case.name: case for case in CASES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise KeyError(f"unknown case(s) {', '.join(unknown)}; the cases are: {', '.join(known)}")
    return [case for case in CASES if case.name in names]
