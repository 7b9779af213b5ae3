"""What several cases share: the data set of a run's size, a fresh copy of it, the offline bot."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bench.core import Config
from bench.data import Plan, Spec, dataset, fresh_copy
from bench.harness import Harness, offline_bot

__all__ = ["FULL_MEMBERS", "QUICK_MEMBERS", "server_bot", "server_copy", "spec_for"]

FULL_MEMBERS = 100_000
QUICK_MEMBERS = 1_000


def spec_for(config: Config, members: int | None = None) -> Spec:
    """The data set spec of this run (``members`` overrides the size)."""
    size = members if members is not None else config.size(FULL_MEMBERS, QUICK_MEMBERS)
    return Spec.quick(size, config.seed) if config.quick else Spec(size, seed=config.seed)


@contextlib.asynccontextmanager
async def server_copy(config: Config, members: int | None = None) -> AsyncIterator[tuple[Path, Plan]]:
    """A fresh copy of the server data set (after one matching run: the steady state), and its plan."""
    cached, plan = await dataset(config.data_dir, spec_for(config, members), matched=True)
    with tempfile.TemporaryDirectory(prefix="soberpeers-bench-") as folder:
        yield fresh_copy(cached, Path(folder)), plan


@contextlib.asynccontextmanager
async def server_bot(config: Config, members: int | None = None) -> AsyncIterator[Harness]:
    """The offline bot on a fresh copy of the server data set, every member in its cache."""
    async with server_copy(config, members) as (path, plan), offline_bot(path, plan) as harness:
        yield harness
