# The README's commands. Each target sets up what it needs from a fresh clone (idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
READOUT := $(VENV)/bin/readout
STAMP := $(VENV)/.installed
EVAL_SET ?= ../shared/eval/dev.jsonl
SQUAD_SET ?= ../shared/eval/squad
EVAL_STORE ?= .readout-eval

# Nothing may reach a model hub at run time: the model is a verified local folder.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install browser run test lint eval train bench lock clean

install: $(STAMP)
	@$(PY) -m index.model fetch >/dev/null

$(STAMP): pyproject.toml constraints.txt scripts/install.sh
	VENV=$(VENV) ./scripts/install.sh
	@touch $@

# Answers the demo question (building the bundled article's index if there is none yet),
# then opens the chat when run from a terminal.
run: install
	$(READOUT) index --demo --if-missing
	$(READOUT) ask "What did Xi say about Taiwan?"
	@if [ -t 0 ] && [ -t 1 ]; then $(READOUT) chat; fi

test: install browser
	$(PY) -m pytest

# Headless Chromium for the stats page's browser test, from Debian's packages, where this
# machine lets us install it (root or passwordless sudo). Never fails: without it, that test
# is skipped and says why.
browser:
	@./scripts/install_chromium.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

# Scores the dev set on its own index of the bundled article, leaving ./.readout alone.
eval: install
	$(READOUT) index --demo --store $(EVAL_STORE)
	$(READOUT) eval --store $(EVAL_STORE) $(EVAL_SET)
	$(READOUT) index --store $(EVAL_STORE)-squad $(SQUAD_SET)/corpus
	$(READOUT) eval --store $(EVAL_STORE)-squad $(SQUAD_SET)/questions.jsonl

# Refits retrieval/ranker.json (ranking and abstention) from the public sets in data/, with
# whole documents held out for validation. Two runs write the same file. About 10 min on 2
# cores (it indexes every training corpus first).
train: install
	$(PY) scripts/train_ranker.py

# Speed and memory as ratios measured in one run (about 26 min on 2 cores: it builds 1k, 10k
# and 100k-paragraph corpora; see BENCHMARKS.md).
bench: install
	$(PY) -m benchmarks

# Re-pin constraints.txt from the current virtualenv (after changing pyproject.toml).
lock: install
	@{ echo "# Exact versions CI tested: every install uses them (pip install -c constraints.txt)."; \
	   echo "# Regenerate after changing pyproject.toml: make lock"; \
	   $(PY) -m pip freeze --exclude-editable | grep -vi '^readout' | sed 's/+cpu//'; } > constraints.txt

clean:
	rm -rf $(VENV) $(EVAL_STORE) $(EVAL_STORE)-squad .pytest_cache .mypy_cache .ruff_cache
