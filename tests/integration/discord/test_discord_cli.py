"""`readout serve discord` run as a user runs it: a subprocess with the real model and index,
talking to the local Discord stand-in over loopback sockets."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support.discord import TOKEN
from tests.support.fake_discord import APP_ID, GUILD_ID, FakeDiscord
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

TIMEOUT = 120.0
INVITE = (
    f"https://discord.com/oauth2/authorize?client_id={APP_ID}"
    "&scope=bot+applications.commands&permissions=274877990912"
)


@pytest.fixture
def serve_env(tmp_path: Path, article_store_dir: Path) -> dict[str, str]:
    """The environment for `readout serve discord`, with its own copy of the article index."""
    store = tmp_path / "store"
    shutil.copytree(article_store_dir, store)
    return {**os.environ, "READOUT_STORE": str(store), "READOUT_LOG_LEVEL": "DEBUG"}


async def readout_serve_discord(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "discord",
        *args,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_rejected_token_exits_with_a_clear_error(
    fake_discord: FakeDiscord, serve_env: dict[str, str]
) -> None:
    fake_discord.reject_token = True
    env = {
        **serve_env,
        "DISCORD_TOKEN": TOKEN,
        "READOUT_DISCORD_API_URL": fake_discord.api_url,
        "READOUT_DISCORD_GATEWAY_URL": fake_discord.gateway_url,
    }
    process = await readout_serve_discord(env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    err = stderr.decode()
    assert process.returncode == 2, err
    assert "error: Discord rejected DISCORD_TOKEN (401 Unauthorized)" in err
    assert "Traceback" not in err
    assert TOKEN not in err and TOKEN not in stdout.decode()
    [login] = fake_discord.calls_to("GET", "/users/@me")
    assert login.authorization == f"Bot {TOKEN}"
    assert not fake_discord.identifies  # never got as far as the gateway


async def test_serve_discord_syncs_prints_the_invite_answers_and_stops_on_sigterm(
    fake_discord: FakeDiscord, serve_env: dict[str, str]
) -> None:
    fake = fake_discord
    env = {
        **serve_env,
        "DISCORD_TOKEN": TOKEN,
        "READOUT_DISCORD_API_URL": fake.api_url,
        "READOUT_DISCORD_GATEWAY_URL": fake.gateway_url,
        "READOUT_DISCORD_GUILD": GUILD_ID,
    }
    process = await readout_serve_discord(env, "--sync", "--health-port", "0")
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode()
    health = re.fullmatch(r"Health check at http://0\.0\.0\.0:(\d+)/healthz\n", first)
    assert health, first
    try:
        await fake.wait_for(lambda: fake.identifies, timeout=TIMEOUT)
        url = f"http://127.0.0.1:{health.group(1)}/healthz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            report = await response.json()  # the full report: asked from the loopback
            assert report["ok"] and report["index"]["ok"] and report["model"]["loaded"]
        [registration] = fake.calls_to("PUT", rf"/applications/{APP_ID}/guilds/{GUILD_ID}/commands")
        assert {c["name"] for c in registration.body} == {"ask", "quote", "source", "help"}

        interaction = await fake.slash("ask", {"question": "What did Xi say about Taiwan?"})
        token = interaction["token"]
        [post] = await fake.wait_for(
            lambda: fake.calls_to("POST", rf"/webhooks/{APP_ID}/{token}"), timeout=TIMEOUT
        )
        assert post.embeds[0]["fields"][0]["name"] == "[1] ¶12 · Xi Biden Call"
        assert post.body["allowed_mentions"] == {"parse": []}
    except (TimeoutError, AssertionError) as failure:
        process.kill()
        _, stderr = await process.communicate()
        raise AssertionError(f"{failure!r}; stderr:\n{stderr.decode()[-5000:]}") from failure
    process.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    out, err = first + stdout.decode(), stderr.decode()
    assert process.returncode == 0, err
    assert INVITE in out
    assert f"Registered 4 slash commands in guild {GUILD_ID}" in out
    assert "Traceback" not in err
    assert "DEBUG" in err  # debug logging was on, and still:
    assert TOKEN not in out and TOKEN not in err
    assert not fake.unhandled


def test_the_cli_does_not_import_discord_until_serving() -> None:
    code = "import sys, bot.cli; sys.exit('discord' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0
