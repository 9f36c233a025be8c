# The two commands of the README: `make demo` and `make test`. Both set up .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
# From Debian's packages, installed by the set-up when missing (needs apt and root, as on CI):
# headless Chromium and CJK fonts print the meeting pack to PDF and drive the dashboard test;
# PostgreSQL's server binaries let the tests start a private server where none runs.
DEBIAN_PACKAGES := chromium fonts-noto-cjk postgresql

.PHONY: demo test bench lock clean system

system:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
	  if command -v sudo >/dev/null && [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEBIAN_PACKAGES); }

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

demo: $(STAMP) system
	$(VENV)/bin/riskgrid synth
	$(VENV)/bin/riskgrid ingest experiments/synthetic_city.toml --json data/synthetic_city/ingest_summary.json
	$(VENV)/bin/riskgrid features experiments/synthetic_city.toml
	$(VENV)/bin/riskgrid train experiments/synthetic_city.toml
	$(VENV)/bin/riskgrid promote experiments/synthetic_city.toml --reason "make demo"
	$(VENV)/bin/riskgrid report experiments/synthetic_city.toml
	@echo
	@echo "Outputs:"
	@echo "  raw exports and ground truth  data/synthetic_city/ (truth/ holds the planted mechanisms)"
	@echo "  clean tables and quarantine   data/synthetic_city/clean/"
	@echo "  feature panel and catalogue   data/synthetic_city/features/ (plots/ for the last training)"
	@echo "  MLflow runs and models        data/mlflow.db: $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///data/mlflow.db"
	@echo "  API key for the demo          data/demo_key.txt (role admin, scope city)"
	@$(VENV)/bin/riskgrid keys create --role admin --scope city --label "make demo" | tail -1 > data/demo_key.txt
	@echo
	@echo "Starting the service on http://localhost:$${RISKGRID_PORT:-3000} (Ctrl+C stops it). Try:"
	@echo "  curl -s localhost:$${RISKGRID_PORT:-3000}/score -H \"Authorization: Bearer $$(cat data/demo_key.txt)\" -H 'Content-Type: application/json' -d '{\"area_ids\": [\"D01S01C01G01\"], \"horizons\": [1, 2]}'"
	$(VENV)/bin/riskgrid serve experiments/synthetic_city.toml

test: $(STAMP) system
	$(VENV)/bin/pytest

# Every benchmark, then bench/results.md and bench/results.json. Builds the synthetic city's
# champion first when there is none. BENCH_QUICK=1: a smoke run with small sizes;
# ENDURANCE_MINUTES (10) and ENDURANCE_RATE (40/s) set the endurance load; BENCH_ONLY=a,b.
bench: $(STAMP)
	$(PY) bench/run_all.py

lock:
	$(VENV)/bin/uv pip compile requirements.in -o requirements.lock --python-version 3.11

clean:
	rm -rf $(VENV) data test-output
