"""Where the tests' data lives, and running the ``readout`` CLI as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from index.model import default_model_dir

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED = PROJECT_ROOT.parent / "shared"
DEV_SET = SHARED / "eval" / "dev.jsonl"
TEST_DATA = PROJECT_ROOT / "tests" / "data"
# Resolved at import, before any test clears the environment: where `make install` put the model.
MODEL_DIR = Path(os.environ.get("READOUT_MODEL_DIR") or default_model_dir())


def run_readout(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does: its own process, the real model and store."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
