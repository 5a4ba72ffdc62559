"""`readout stats --html` end to end: questions asked through `readout ask` land in the log and
on the page, and the page renders in headless Chromium (Debian's `chromium` package) with its
charts drawn and no request made. `make test` installs Chromium where it may (root or
passwordless sudo with apt-get); elsewhere the browser tests are skipped, saying why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image

from bot.questions.page import HELPFUL_COLOUR, OUTCOME_COLOURS
from tests.support.paths import run_readout as readout
from tests.support.question_logs import write_known_log

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary on PATH: `make test` installs Debian's chromium package when "
    "run as root or with passwordless sudo; otherwise `sudo apt-get install chromium` (README)",
)
BROWSER_TIMEOUT = 90.0
WINDOW = (1100, 3200)
# chromium's own background requests (its clock, accounts) have no page origin behind them
OWN_REQUEST = "not an origin"


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on ``page`` with a throwaway profile and a log of its requests."""
    assert CHROMIUM is not None
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root otherwise
    command = [
        CHROMIUM,
        "--headless",
        *sandbox,
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--log-net-log={tmp_path / 'net.json'}",
        "--hide-scrollbars",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
        page.as_uri(),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def page_requests(tmp_path: Path) -> list[str]:
    """The URLs the page itself asked for (from Chromium's net log)."""
    log = json.loads((tmp_path / "net.json").read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start
        and event.get("params", {}).get("initiator", OWN_REQUEST) != OWN_REQUEST
        and not event["params"]["url"].startswith("file:")
    ]


def pixels_near(image: Image.Image, colour: str, tolerance: int = 12) -> int:
    """How many pixels of ``image`` are within ``tolerance`` of ``colour`` (#rrggbb)."""
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int(np.all(np.abs(pixels - target) <= tolerance, axis=-1).sum())


def test_questions_asked_through_readout_ask_are_on_the_page(
    article_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**article_env, "READOUT_QUESTION_LOG": str(tmp_path / "questions.sqlite3")}
    asked = readout(
        env,
        "ask",
        "--json",
        stdin="What did Xi say about Taiwan?\nWho will travel to China?\nTell me a joke\n",
    )
    assert asked.returncode == 0, asked.stderr
    abstained = [json.loads(line)["abstained"] for line in asked.stdout.splitlines()]
    assert abstained == [False, False, True]

    report = json.loads(readout(env, "stats", "--json").stdout)
    target = tmp_path / "report.html"
    written = readout(env, "stats", "--html", str(target))
    assert written.returncode == 0, written.stderr
    page = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
    shown = {tag["data-stat"]: tag.get_text(strip=True) for tag in page.select("[data-stat]")}
    assert shown["questions"] == str(report["questions"]) == "3"
    assert shown["outcomes.answered"] == str(report["outcomes"]["answered"]) == "2"
    assert shown["outcomes.abstained"] == str(report["outcomes"]["abstained"]) == "1"
    assert "xi-biden-call:¶12" in page.get_text()  # the most cited paragraph


@needs_chromium
def test_the_page_renders_in_headless_chromium_and_fetches_nothing(tmp_path: Path) -> None:
    log = write_known_log(tmp_path / "questions.sqlite3")
    target = tmp_path / "report.html"
    written = readout(
        dict(os.environ), "stats", "--db", str(log), "--since", "all", "--html", str(target)
    )
    assert written.returncode == 0, written.stderr

    dom = BeautifulSoup(chromium(target, tmp_path, "--dump-dom").stdout, "html.parser")
    assert dom.h1 is not None and "readout" in dom.h1.get_text()
    assert len(dom.find_all("svg")) == 4
    assert page_requests(tmp_path) == []

    shot = tmp_path / "page.png"
    chromium(target, tmp_path, f"--screenshot={shot}")
    image = Image.open(shot)
    assert image.size == WINDOW
    # the bars, the line and the feedback share are drawn, in their colours
    for colour in (*OUTCOME_COLOURS.values(), HELPFUL_COLOUR):
        assert pixels_near(image, colour) > 2000, colour


@needs_chromium
def test_the_request_check_sees_a_page_that_fetches(tmp_path: Path) -> None:
    """The net-log check above can fail: a page with a remote image is caught."""
    page = tmp_path / "remote.html"
    page.write_text('<img src="https://images.invalid/chart.png">', encoding="utf-8")
    chromium(page, tmp_path, "--dump-dom")
    assert page_requests(tmp_path) == ["https://images.invalid/chart.png"]
