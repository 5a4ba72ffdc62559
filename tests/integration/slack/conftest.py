"""Fixtures of the Slack end-to-end tests (defined in ``tests.support.slack``)."""

from tests.support.slack import (  # noqa: F401 - fixtures, used by name
    fake_slack,
    feedback,
    service,
    slack_app,
    slack_http,
    slack_settings,
)
