"""Fixtures of the source-update tests: both platforms' stand-ins (``tests.support``)."""

from tests.support.discord import (  # noqa: F401 - fixtures, used by name
    fake_discord,
    restore_discord_endpoints,
    start_bot,
)
from tests.support.slack import (  # noqa: F401 - fixtures, used by name
    fake_slack,
    feedback,
    service,
    slack_app,
    slack_http,
    slack_settings,
)
