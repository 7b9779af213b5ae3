"""Through the stand-in: the connected bot's caches are frozen out of the garbage collector's sight once ready."""

from __future__ import annotations

import asyncio
import gc

from tests.e2e import Scene


async def test_the_connected_bot_keeps_its_cache_out_of_the_collectors_sight(scene: Scene) -> None:
    """Once ready, the cached members are frozen: no full collection walks them again."""
    member = scene.bot.guilds[0].members[0]
    for _ in range(200):  # on_ready runs as its own task, right after the ready event
        if not any(obj is member for obj in gc.get_objects()):
            break
        await asyncio.sleep(0.01)
    assert gc.get_freeze_count() > 0
    assert not any(obj is member for obj in gc.get_objects())
    gc.unfreeze()  # leave the test process as it was
    assert any(obj is member for obj in gc.get_objects())
