"""Fixtures of the Discord end-to-end tests (defined in ``tests.support.discord``)."""

from tests.support.discord import (  # noqa: F401 - fixtures, used by name
    bot,
    fake_discord,
    feedback,
    make_service,
    restore_discord_endpoints,
    start_bot,
)
