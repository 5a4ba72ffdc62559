"""A bot core as ``readout serve`` starts it (settings, store, model, snapshot, warm-up): prints
``ready`` after its first answer, then answers the questions eight times over concurrently and
prints its peak RSS in KiB. The serving rows time the first line from outside."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from benchmarks.probes import peak_rss_kib
from bot import runtime
from bot.service import Asker
from bot.settings import Settings


async def serve(questions: Sequence[str]) -> None:
    service = runtime.open_service(Settings.from_env())
    try:
        await service.start()
        await service.ask(Asker("bench", "first"), questions[0])
        print("ready", flush=True)
        await asyncio.gather(
            *(service.ask(Asker("bench", str(i)), q) for i, q in enumerate(list(questions) * 8))
        )
    finally:
        service.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1:]))
    print(peak_rss_kib())
