"""The offline demo: the local Discord stand-in and the bot, playing a short scene."""

from __future__ import annotations

import sys

__all__ = ["run_demo"]


async def run_demo(*, keep: bool = False) -> int:
    """Play the scene; 0 when it completed. Not available until the stand-in lands."""
    print("error: the offline demo is not available yet in this version.", file=sys.stderr)
    return 1
