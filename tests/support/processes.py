"""Running ``readout`` as a long-lived subprocess (``readout serve ...``) and reading its
stderr line by line, the way an operator's process manager sees it."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

STARTUP = 120.0  # loading the model in a fresh process; usually a few seconds
STOP = 30.0


class Server:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr: list[str] = []
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace")
            self.stderr.append(line)
            await self._lines.put(line)
        await self._lines.put(None)  # the process closed stderr: it has exited

    async def wait_for_line(self, pattern: str) -> re.Match[str]:
        """The first stderr line matching ``pattern`` (fails with the output so far)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STARTUP
        while True:
            try:
                line = await asyncio.wait_for(self._lines.get(), deadline - loop.time())
            except TimeoutError:
                pytest.fail(f"no line matching {pattern!r}; stderr:\n{''.join(self.stderr)}")
            if line is None:
                pytest.fail(f"exited before {pattern!r}; stderr:\n{''.join(self.stderr)}")
            match = re.search(pattern, line)
            if match:
                return match

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), STOP)
        await self._reader
        return code


@asynccontextmanager
async def readout(env: dict[str, str], *args: str) -> AsyncIterator[Server]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    server = Server(process)
    try:
        yield server
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await server._reader
