"""``python -m bench.instructions [matching|sweep|command] [--quick]``: one run's instructions, by callgrind.

On a machine shared with others (this one), a run's time moves by 30-80 % from one second to the
next while its work does not: two versions of the code can only be compared by time when
alternated many times, and a few per cent are lost in the noise. Valgrind's callgrind counts the
instructions executed instead, the same to ±0.1 % from run to run whatever the machine is doing.
Run under callgrind with its counting off; the script turns it on for one
:meth:`~bot.services.buddies.BuddyService.run_matching` (``matching``, the default) or one nudge
sweep (``sweep``, 1,000 members due in the server of ``--members``: 100,000 by default) or 100 of
one command handled in-process one after the other (``command --name "checkin today"``, as the
commands case runs them, in the server of 100,000), after one run that warms the caches up (undone
like the bench's repetitions; 20 commands for a command), and off again::

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python -m bench.instructions

Valgrind then prints ``Collected : N``: that run's instructions, on every thread (the event loop
and the database's). ``callgrind_annotate /tmp/cg.out`` shows where they went (SQLite's
functions by name; Python's own code as the interpreter's). An instruction count is not a time:
it misses cache misses, system calls (the commit's WAL writes) and waits; a change that saves
instructions saves time only if it does not add those. Without valgrind it runs the same work
uncounted (as the tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.cases.commands import COMMANDS, Members, sequential
from bench.cases.common import server_bot, spec_for
from bench.cases.matching import _restore, _snapshot
from bench.cases.sweep import sweep_setup
from bench.core import Config, check, seeded
from bench.data import NOW, dataset, fresh_copy
from bench.harness import quiet_logging
from bot.db.connection import Database
from bot.services.buddies import BuddyService, MatchReport
from bot.services.guidance import GuidanceLibrary

__all__ = ["counted", "main", "under_callgrind"]


def under_callgrind() -> bool:
    """Whether this process runs under valgrind (which preloads its own library into it)."""
    return "vgpreload" in os.environ.get("LD_PRELOAD", "")


def _instrument(on: bool) -> None:
    tool = shutil.which("callgrind_control")
    if tool is None:
        raise RuntimeError("callgrind_control is not on PATH")
    # It asks the running process (this one, by pid) to switch counting; it returns once done.
    subprocess.run([tool, "--instr=on" if on else "--instr=off", str(os.getpid())], check=True, capture_output=True)  # noqa: S603 - a fixed tool, our own pid


@contextlib.contextmanager
def counted() -> Iterator[None]:
    """Count the instructions of the block (when under callgrind; otherwise nothing)."""
    if not under_callgrind():
        yield
        return
    _instrument(True)
    try:
        yield
    finally:
        _instrument(False)


async def matching(config: Config) -> MatchReport:
    """One warm-up matching run, undone, then the counted one; its report."""
    quiet_logging()
    spec = spec_for(config)
    cached, plan = await dataset(config.data_dir, spec, "buddies")
    with tempfile.TemporaryDirectory(prefix="soberpeers-bench-") as folder:
        db = await Database.open(fresh_copy(cached, Path(folder)))
        try:
            service = BuddyService(db, lambda: NOW, GuidanceLibrary.load())
            last, queue = await db.read(_snapshot)
            warm = await service.run_matching(plan.guild_id)
            await db.transaction(lambda conn: _restore(conn, last, queue))
            with counted():
                report = await service.run_matching(plan.guild_id)
            check(report.made == warm.made, "the counted run made other pairs than the warm-up")
            return report
        finally:
            await db.close()


async def sweep(config: Config, members: int) -> tuple[int, int]:
    """One warm-up sweep, undone, then the counted one: (members due, nudges sent) of the counted one."""
    quiet_logging()
    async with sweep_setup(config, members) as setup:
        await setup.sweep()
        await setup.reset()
        gc.collect()  # as the bench does before it starts its clock
        with counted():
            report = await setup.sweeper.run_once()
        expected = setup.plan.nudged_now()
        check(report.sent == expected, f"the sweep sent {report.sent} nudges, not {expected}")
        return len(setup.plan.due), report.sent


async def commands(config: Config, name: str, count: int) -> int:
    """Twenty of the command to warm up, then ``count`` counted; how many were answered rightly."""
    quiet_logging()
    (command,) = [c for c in COMMANDS if c.label == name]
    async with server_bot(config) as harness:
        check(command.available(harness), f"/{name} is not available")
        members, rng = Members(command.members(harness.plan), 5), seeded(5)
        await sequential(harness, command, members.take(20), rng)
        gc.collect()
        with counted():
            latencies = await sequential(harness, command, members.take(count), rng)  # checks each answer
        return len(latencies)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, print what was counted."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("case", nargs="?", choices=("matching", "sweep", "command"), default="matching")
    parser.add_argument("--name", default="checkin today", choices=[c.label for c in COMMANDS], help="the command")
    parser.add_argument("--quick", action="store_true", help="the quick data sets (1,000 members)")
    parser.add_argument("--members", type=int, default=100_000, help="the sweep's server (10000 or 100000)")
    parser.add_argument("--data-dir", type=Path, default=Config().data_dir, help="where generated data sets are cached")
    args = parser.parse_args(argv)
    config = Config(quick=args.quick, data_dir=args.data_dir)
    where = "counted" if under_callgrind() else "not counted (not under callgrind)"
    if args.case == "command":
        answered = asyncio.run(commands(config, args.name, 100))
        print(f"/{args.name}: {answered} answered; {where}")
        return 0
    if args.case == "sweep":
        members = config.size(args.members, 1_000)
        due, sent = asyncio.run(sweep(config, members))
        print(f"sweep of {members} members: {due} due, {sent} nudged; {where}")
        return 0
    report = asyncio.run(matching(config))
    print(f"matching: {len(report.made)} pairs made, {report.still_waiting} still waiting; {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
