# readout: the same install step CI runs (scripts/install.sh), then the `readout` CLI.
FROM python:3.11-slim

ENV VENV=/opt/readout/venv \
    READOUT_MODEL_DIR=/opt/readout/models/all-MiniLM-L6-v2 \
    READOUT_STORE=/data/index \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/readout/src
COPY pyproject.toml constraints.txt README.md ./
COPY scripts ./scripts
COPY bot ./bot
COPY retrieval ./retrieval
COPY index ./index
RUN READOUT_DEV=0 READOUT_EDITABLE=0 TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu \
    ./scripts/install.sh

ENV PATH=/opt/readout/venv/bin:$PATH
ENTRYPOINT ["readout"]
CMD ["--help"]
