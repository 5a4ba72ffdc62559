"""Fixtures of the operations tests (``tests.support.ops``), plus the Slack and Discord
stand-ins and the running Discord bot they drive."""

from tests.support.discord import restore_discord_endpoints, start_bot  # noqa: F401
from tests.support.ops import (  # noqa: F401 - fixtures and the summary hook, used by name
    counting_discord,
    counting_slack,
    no_secrets_anywhere,
    ops_log,
    pytest_terminal_summary,
    question_log_path,
    report_load,
)
