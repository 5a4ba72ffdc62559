from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from index.errors import ModelError
from index.model import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_ID,
    MODEL_FILE_SHA256,
    _safe_extract,
    resolve_model,
    verify_model_dir,
)


def test_missing_model_folder_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make install"):
        verify_model_dir(tmp_path / "absent")


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    for name in MODEL_FILE_SHA256:
        (tmp_path / name).write_bytes(b"not the real file")
    with pytest.raises(ModelError, match="does not match its pinned sha256"):
        verify_model_dir(tmp_path)


def test_default_model_resolves_only_when_verified(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        resolve_model(DEFAULT_MODEL, tmp_path)


def test_installed_default_model_verifies() -> None:
    from tests.conftest import MODEL_DIR

    source = resolve_model(DEFAULT_MODEL, MODEL_DIR)
    assert source.verified and source.model_id == DEFAULT_MODEL_ID


def test_local_folder_model_gets_an_identity(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    source = resolve_model(str(tmp_path), tmp_path / "unused")
    assert not source.verified
    assert source.model_id.startswith(f"local:{tmp_path.name}:")


def test_path_that_is_not_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a folder"):
        resolve_model(str(tmp_path / "nope"), tmp_path)


def test_zip_slip_is_refused(tmp_path: Path) -> None:
    archive_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("../escape.txt", "x")
    with zipfile.ZipFile(archive_path) as archive, pytest.raises(ModelError, match="unsafe"):
        _safe_extract(archive, tmp_path / "out")
