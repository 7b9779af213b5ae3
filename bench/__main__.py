"""``python -m bench [--quick] [--json FILE] [--case NAME…]``: run the suite and print the table.

Exit status: 0 when every case ran (whether or not its targets were met: timing never fails the
run), 1 when a case failed (an error, or a measurement that did not do what it measures), 2 for
a bad argument.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cases import CASES, select
from bench.core import NOTES, BenchError, Config, Result, format_table

__all__ = ["machine", "main", "run_suite"]


def machine() -> dict[str, Any]:
    """The machine the run is on: cores, CPU model, Python, platform."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


async def run_suite(config: Config, names: Sequence[str] | None = None) -> tuple[list[Result], list[str]]:
    """Run the selected cases; the results, and the cases that failed (with why)."""
    results: list[Result] = []
    failures: list[str] = []
    for case in select(list(names or [])):
        print(f"== {case.name}: {case.summary}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            found = await case.run(config)
        except BenchError as exc:
            failures.append(f"{case.name}: {exc}")
            print(f"   FAILED: {exc}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - any failure of a case is reported, the others still run
            failures.append(f"{case.name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        else:
            results.extend(found)
            print(f"   {len(found)} results in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        gc.collect()
    return results, failures


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a small version in a few seconds (CI's smoke test)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    names = ", ".join(c.name for c in CASES)
    parser.add_argument("--case", nargs="+", metavar="NAME", help=f"only these cases: {names}")
    parser.add_argument("--repeat", type=int, metavar="N", help="repetitions per case (default: each case's own)")
    parser.add_argument("--data-dir", type=Path, default=Config().data_dir, help="where generated data sets are cached")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; the exit status."""
    args = _arguments(argv)
    try:
        select(args.case)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    config = Config(quick=args.quick, data_dir=args.data_dir, repeat=args.repeat)
    before = machine()
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    results, failures = asyncio.run(run_suite(config, args.case))
    duration = time.perf_counter() - started
    print(format_table(results))
    for text in NOTES:
        print(f"note: {text}")
    missed = [r.name for r in results if r.met is False]
    print(
        f"\n{len(results)} results, {len(missed)} targets missed, {len(failures)} cases failed, "
        f"{duration:.1f} s ({'quick' if config.quick else 'full'} run); "
        f"{before['nproc']} cores, {before['cpu']}, Python {before['python']}, load average {before['loadavg'][0]} "
        f"at the start, {os.getloadavg()[0]:.2f} at the end"
    )
    for failure in failures:
        print(f"FAILED {failure}")
    if args.json is not None:
        document = {
            "suite": "soberpeers-bench",
            "mode": "quick" if config.quick else "full",
            "started_at": started_at.isoformat(timespec="seconds"),
            "ended_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(duration, 2),
            "machine": before,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "results": [r.as_json() for r in results],
            "notes": list(NOTES),
            "failures": failures,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
