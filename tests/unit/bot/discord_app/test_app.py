"""The Discord adapter's wiring, without a network: invite URL, client options, command
definitions, custom ids, and the checks made before connecting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.buttons import AnswerRef, ButtonSigner, derive_key
from bot.discord_app.app import (
    create_app,
    invite_url,
    parse_shards,
    strip_mention,
)
from bot.discord_app.buttons import SOURCES_ID, SOURCES_TEMPLATE, VOTE_ID, VOTE_TEMPLATE
from bot.discord_app.serve import serve
from bot.service import AnswerService
from bot.settings import Settings
from index.errors import ConfigError
from tests.support.fakes import FakeEngine


@pytest.fixture
def service() -> Iterator[AnswerService]:
    service = AnswerService(FakeEngine())
    yield service
    service.close()


@pytest.fixture(autouse=True)
def restore_discord_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Route, "BASE", Route.BASE)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", DiscordWebSocket.DEFAULT_GATEWAY)


def test_the_invite_asks_for_the_two_scopes_and_only_the_permissions_answering_needs() -> None:
    url = yarl.URL(invite_url(1234))
    assert url.query["client_id"] == "1234"
    assert url.query["scope"] == "bot applications.commands"
    permissions = discord.Permissions(int(url.query["permissions"]))
    granted = {name for name, value in permissions if value}
    assert granted == {
        "send_messages",
        "embed_links",
        "send_messages_in_threads",
        "read_message_history",
    }


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("auto", "auto"), ("4", 4)])
def test_parse_shards(value: str | None, expected: Any) -> None:
    assert parse_shards(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "many", ""])
def test_parse_shards_refuses_nonsense(value: str) -> None:
    with pytest.raises(ConfigError, match="--shards"):
        parse_shards(value)


async def test_the_client_pings_nobody_uses_default_intents_and_the_configured_endpoints(
    service: AnswerService,
) -> None:
    settings = Settings(
        discord_api_url="http://proxy.internal/api/v10/",
        discord_gateway_url="ws://proxy.internal/gateway",
    )
    app = create_app(settings, service)
    client = app.client
    assert isinstance(client, discord.Client)
    assert not isinstance(client, discord.AutoShardedClient)
    assert client.allowed_mentions is not None
    assert client.allowed_mentions.to_dict() == {"parse": []}
    assert client.intents == discord.Intents.default()
    assert not client.intents.message_content
    assert Route.BASE == "http://proxy.internal/api/v10"
    assert DiscordWebSocket.DEFAULT_GATEWAY == yarl.URL("ws://proxy.internal/gateway")
    await client.close()


async def test_shards_choose_the_sharded_client(service: AnswerService) -> None:
    auto = create_app(Settings(), service, shards="auto").client
    fixed = create_app(Settings(), service, shards=3).client
    assert isinstance(auto, discord.AutoShardedClient) and auto.shard_count is None
    assert isinstance(fixed, discord.AutoShardedClient) and fixed.shard_count == 3
    # never logged in, so nothing to close (and AutoShardedClient.close() needs a login)


async def test_the_slash_commands_and_their_limits(service: AnswerService) -> None:
    app = create_app(Settings(), service)
    commands = {c.name: c.to_dict(app.tree) for c in app.tree.get_commands()}
    assert set(commands) == {"ask", "quote", "source", "help"}
    [question] = commands["ask"]["options"]
    assert (question["name"], question["required"]) == ("question", True)
    assert (question["min_length"], question["max_length"]) == (1, 500)
    assert [o["name"] for o in commands["quote"]["options"]] == ["speaker"]
    assert [o["name"] for o in commands["source"]["options"]] == ["n"]
    assert commands["help"]["options"] == []
    assert all(len(c["description"]) <= 100 for c in commands.values())
    await app.client.close()


def test_custom_ids_carry_the_signed_answer_ref_and_fit_discord() -> None:
    ref = ButtonSigner(derive_key("secret")).seal_short(AnswerRef("0123456789abcdef", 10**15))
    sources = SOURCES_ID.format(ref=ref)
    match = re.fullmatch(SOURCES_TEMPLATE, sources)
    assert match and match["ref"] == ref
    vote = VOTE_ID.format(vote="down", ref=ref)
    match = re.fullmatch(VOTE_TEMPLATE, vote)
    assert match and (match["vote"], match["ref"]) == ("down", ref)
    assert len(sources) <= 100 and len(vote) <= 100


def test_strip_mention_removes_only_our_mentions() -> None:
    assert strip_mention("<@42> what about <@7>? <@!42>", 42).split() == ["what", "about", "<@7>?"]


async def test_a_non_numeric_guild_is_refused_before_connecting(service: AnswerService) -> None:
    settings = Settings(discord_token="t", discord_guild="my-server")
    with pytest.raises(ConfigError, match="READOUT_DISCORD_GUILD"):
        await serve(settings, service, announce=print, sync=True)


async def test_start_up_work_runs_in_discords_setup_hook(service: AnswerService) -> None:
    app = create_app(Settings(), service)
    announced: list[str] = []
    app.announce = announced.append
    await app.client.setup_hook()  # what discord.py calls after login, before the gateway
    assert app.corpus == "T"  # the service warmed up and named the corpus
    assert announced == []  # no application id yet, no --sync: nothing to tell
    await app.client.close()
