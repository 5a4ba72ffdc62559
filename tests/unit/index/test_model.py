from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from index.embedder import ONNX_BATCH_TOKENS, ONNX_MAX_BATCH, OnnxEmbedder, _token_batches
from index.errors import ModelError
from index.model import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_ID,
    MODEL_FILE_SHA256,
    ONNX_DIR,
    ONNX_FILE,
    ONNX_FORMAT,
    ONNX_MANIFEST,
    _safe_extract,
    resolve_model,
    verify_model_dir,
    verify_onnx,
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
    from tests.support.paths import MODEL_DIR

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


def _fake_export(model_dir: Path, graph: bytes = b"an onnx graph") -> Path:
    """A model folder with the pinned tokenizer and config, and a stand-in export + manifest."""
    from tests.support.paths import MODEL_DIR

    for name in ("tokenizer.json", "config.json"):
        shutil.copy(MODEL_DIR / name, model_dir / name)
    (model_dir / ONNX_DIR).mkdir()
    (model_dir / ONNX_DIR / ONNX_FILE).write_bytes(graph)
    manifest = {
        "format": ONNX_FORMAT,
        "files": {ONNX_FILE: hashlib.sha256(graph).hexdigest()},
        "source_sha256": MODEL_FILE_SHA256["model.safetensors"],
        "max_seq_length": 256,
        "dimension": 384,
    }
    (model_dir / ONNX_DIR / ONNX_MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return model_dir / ONNX_DIR / ONNX_FILE


def test_onnx_export_verifies_against_its_recorded_hash(tmp_path: Path) -> None:
    path = _fake_export(tmp_path)
    model = verify_onnx(tmp_path)
    assert (model.path, model.model_id, model.max_seq_length) == (path, DEFAULT_MODEL_ID, 256)


def test_tampered_onnx_export_is_refused_naming_the_repair(tmp_path: Path) -> None:
    path = _fake_export(tmp_path)
    path.write_bytes(b"an onnx graph, edited")
    with pytest.raises(ModelError, match=r"does not match the sha256 recorded.*make install"):
        verify_onnx(tmp_path)


def test_missing_onnx_export_names_the_repair(tmp_path: Path) -> None:
    _fake_export(tmp_path)
    (tmp_path / ONNX_DIR / ONNX_MANIFEST).unlink()
    with pytest.raises(ModelError, match=r"missing.*python -m index.model export"):
        verify_onnx(tmp_path)


def test_onnx_export_of_other_weights_is_refused(tmp_path: Path) -> None:
    _fake_export(tmp_path)
    manifest_path = tmp_path / ONNX_DIR / ONNX_MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["source_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelError, match="not made from the pinned weights"):
        verify_onnx(tmp_path)


def test_onnx_embedder_checks_the_export_when_made(tmp_path: Path) -> None:
    path = _fake_export(tmp_path)
    path.write_bytes(b"swapped in later")
    with pytest.raises(ModelError, match="python -m index.model export"):
        OnnxEmbedder.from_model_dir(tmp_path)


def test_unloadable_export_is_a_model_error(tmp_path: Path) -> None:
    _fake_export(tmp_path)
    embedder = OnnxEmbedder.from_model_dir(tmp_path)
    with pytest.raises(ModelError, match="could not load the ONNX model"):
        embedder.load()  # the stand-in bytes are not an ONNX graph


def test_token_batches_fill_a_padded_budget() -> None:
    lengths = np.array([10] * 500 + [256] * 40, dtype=np.int64)
    per_long_batch = ONNX_BATCH_TOKENS // 256
    # Short texts: as many as allowed; long ones: as many as the budget holds once padded.
    assert _token_batches(lengths) == [ONNX_MAX_BATCH] * 3 + [116] + [per_long_batch] * 2 + [8]
