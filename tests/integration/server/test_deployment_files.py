"""The Dockerfile, .dockerignore, compose.yaml and .env.example agree with the code.

No Docker engine runs here, so nothing in these files is executed by Docker in CI. What can be
checked without one is: the Dockerfile lints clean (hadolint), its one build step is the
install script CI runs, the files it copies are in the build context and are enough to build
readout, its health check and entry point are real commands, and compose pins the Chroma
server to the client's version and wires the services the way docs/deployment.md says.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import chromadb
import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from tests.support.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
COMPOSE = PROJECT_ROOT / "compose.yaml"
SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DISCORD_TOKEN")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each Dockerfile instruction, continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (it is in the dev dependency group)")
    done = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_builds_with_the_ci_install_step_as_an_unprivileged_user() -> None:
    instructions = _instructions()
    [base] = [args for keyword, args in instructions if keyword == "FROM"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base)
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    [install] = [run for run in runs if "scripts/install.sh" in run]
    assert "READOUT_DEV=0" in install and "READOUT_EDITABLE=0" in install
    # Indexes are pip's own settings, passed through (the CPU build of torch on x86-64).
    assert "PIP_INDEX_URL" in install and "PIP_EXTRA_INDEX_URL" in install
    environment = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "READOUT_MODEL_DIR=" in environment  # install.sh fetches the model there
    [user] = [args for keyword, args in instructions if keyword == "USER"]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    assert dict(instructions)["ENTRYPOINT"] == '["readout"]'
    [check] = [args for keyword, args in instructions if keyword == "HEALTHCHECK"]
    command = check.split("CMD", 1)[1].strip()
    assert command.startswith('["readout", "health"')


def test_the_healthcheck_command_exists() -> None:
    instructions = _instructions()
    [check] = [args for keyword, args in instructions if keyword == "HEALTHCHECK"]
    argv = yaml.safe_load(check.split("CMD", 1)[1].strip())
    assert argv[0] == "readout"
    result = CliRunner().invoke(main, [*argv[1:], "--help"])
    assert result.exit_code == 0, result.output
    assert "one line of JSON" in result.output


def test_what_the_image_copies_is_in_the_context_and_enough_to_build_readout(
    tmp_path: Path,
) -> None:
    ignored = [
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = tmp_path / "context"
    context.mkdir()
    for keyword, args in _instructions():
        if keyword != "COPY":
            continue
        *sources, _ = args.split()
        for source in sources:
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
            origin = PROJECT_ROOT / source
            assert origin.exists(), source
            if origin.is_dir():
                shutil.copytree(
                    origin, context / source, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy(origin, context / source)
    # Build the wheel from exactly those files, as the image's `pip install .` does.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "wheel"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = (tmp_path / "wheel").glob("readout-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"bot/cli.py", "bot/health.py", "index/store.py", "index/lock.py"} <= names
    # Every runtime module ships, subpackages too (an image without bot/slack_app/ or
    # index/formats/ would start and fail at the first Slack event or Markdown file).
    modules = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for package in ("bot", "retrieval", "index")
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules - names == set()
    assert not any(name.startswith(("benchmarks/", "tests/")) for name in names)
    assert "index/data/xi-biden-call.txt" in names  # the bundled article ships
    assert any(name.endswith("entry_points.txt") for name in names)
    for secret_like in (".env", "tests/conftest.py"):
        assert secret_like not in names


def test_compose_pins_chroma_to_the_client_version() -> None:
    services = _compose()["services"]
    assert services["chroma"]["image"] == f"chromadb/chroma:{chromadb.__version__}"
    pinned = (PROJECT_ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert f"chromadb=={chromadb.__version__}" in pinned.splitlines()
    assert "chroma-data:/data" in services["chroma"]["volumes"]
    assert "/api/v2/heartbeat" in " ".join(services["chroma"]["healthcheck"]["test"])


def test_compose_runs_an_indexer_once_then_both_bots_on_the_server() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"chroma", "indexer", "slack", "discord"}
    assert set(compose["volumes"]) == {"chroma-data", "readout-state"}
    for name in ("indexer", "slack", "discord"):
        service = services[name]
        assert service["build"] == "." and service["env_file"] == ".env"
        assert service["environment"]["READOUT_CHROMA_URL"] == "http://chroma:8000"
        assert service["depends_on"]["chroma"] == {"condition": "service_healthy"}
    assert services["indexer"]["command"][0] == "index"
    assert services["indexer"]["restart"] == "no"
    assert services["indexer"]["healthcheck"] == {"disable": True}
    for bot in ("slack", "discord"):
        assert services[bot]["depends_on"]["indexer"] == {
            "condition": "service_completed_successfully"
        }
        assert services[bot]["command"][:2] == ["serve", bot]
    assert "--http" in services["slack"]["command"]
    assert "/healthz" in " ".join(services["slack"]["healthcheck"]["test"])
    # The two bots keep separate question logs on the shared state volume.
    assert (
        services["slack"]["environment"]["READOUT_QUESTION_LOG"]
        != (services["discord"]["environment"]["READOUT_QUESTION_LOG"])
    )


def test_the_env_example_names_every_secret_and_holds_none() -> None:
    lines = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    assert set(SECRETS) <= set(values)
    assert all(value == "" for value in values.values())
    ignored = (PROJECT_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in ignored
    assert ".env" in (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()


# A package index or model hub address: a pip option naming one, a simple-index or wheel-index
# path, or a hub host. (Links to a project's page, as in the test documents, are not indexes.)
_INDEX_ADDRESS = re.compile(
    r"--(extra-)?index-url[ =]+\S|https?://[^\s\"'`)]*(/simple\b|/whl\b)|huggingface\.co|\bhf\.co/"
)


def test_no_package_index_or_model_hub_address_anywhere_in_the_repo() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in tracked:
        path = PROJECT_ROOT / name
        if not path.is_file() or path.suffix in {".pdf", ".bin", ".npy", ".onnx"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{name}: {m.group(0)}" for m in _INDEX_ADDRESS.finditer(text)]
    assert found == []
