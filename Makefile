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
# What the set-up's tools (venv, pip, uv, apt-get) print goes here, not to the screen; a step
# that fails says so, names this file and shows its end.
SETUP_LOG := setup.log
# apt-get waits up to 10 minutes for another apt or dpkg run instead of failing at once, and
# two set-ups on this machine take turns (flock).
APT := apt-get -q -o DPkg::Lock::Timeout=600
APT_LOCK := /tmp/riskgrid-apt.lock
FLOCK := $(if $(shell command -v flock),flock $(APT_LOCK))
RISKGRID := $(VENV)/bin/riskgrid
CITY := experiments/synthetic_city.toml
DEMO_STEPS := 8

# $(call logged,WHAT,COMMAND): run COMMAND with its output in $(SETUP_LOG).
logged = from=$$(( $$(cat $(SETUP_LOG) 2>/dev/null | wc -l) + 1 )); \
  { echo "== $$(date '+%F %T') $(1)"; $(2); } >>$(SETUP_LOG) 2>&1 || { \
  echo "$(1) failed; its output is in $(SETUP_LOG), which ends:" >&2; \
  tail -n +$$from $(SETUP_LOG) | tail -n 30 >&2; exit 1; }
# $(call step,N,WHAT,COMMAND): one step of `make demo`, "[N/8] WHAT ..." and then its time.
step = echo "[$(1)/$(DEMO_STEPS)] $(2) ..."; began=$$(date +%s); $(3) || { \
  echo "[$(1)/$(DEMO_STEPS)] $(2) failed" >&2; exit 1; }; took=$$(( $$(date +%s) - began )); \
  echo "[$(1)/$(DEMO_STEPS)] $(2): done in $$([ $$took -ge 60 ] && echo "$$((took / 60)) min \
  ")$$((took % 60)) s"

.PHONY: demo test bench lock clean system debian-packages

system:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || $(FLOCK) $(MAKE) -s --no-print-directory \
	  debian-packages

# The packages, installed by one set-up at a time (system holds the lock around it).
debian-packages:
	@dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1 || { \
	  if command -v sudo >/dev/null && [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  echo "installing $(DEBIAN_PACKAGES) with apt-get (output in $(SETUP_LOG))"; \
	  $(call logged,apt-get update,$$SUDO $(APT) update); \
	  $(call logged,apt-get install,$$SUDO env DEBIAN_FRONTEND=noninteractive $(APT) install \
	    -y $(DEBIAN_PACKAGES)); }

# Packages are compiled to bytecode as they are installed (as pip does; uv does not by
# default), so no command compiles them at its start, even where PYTHONDONTWRITEBYTECODE is set.
$(STAMP): requirements.lock pyproject.toml
	@echo "setting up $(VENV) from requirements.lock (output in $(SETUP_LOG))"
	@$(call logged,python -m venv,test -x $(PY) || $(PYTHON) -m venv $(VENV))
	@$(call logged,pip install uv,$(PY) -m pip install --quiet uv==$(UV_VERSION))
	@$(call logged,uv pip install,$(VENV)/bin/uv pip install --quiet --compile-bytecode \
	  --python $(PY) -r requirements.lock)
	@$(call logged,uv pip install -e .,$(VENV)/bin/uv pip install --quiet --python $(PY) \
	  --no-deps -e .)
	@touch $(STAMP)

# Each step says "[N/8] what ..." before it and how long it took after it; `riskgrid train`
# and the others write their progress into the output as timestamped lines when it is a log.
demo:
	@$(call step,1,set-up: $(VENV) and Debian packages,$(MAKE) -s --no-print-directory \
	  $(STAMP) system)
	@$(call step,2,synth,$(RISKGRID) synth)
	@$(call step,3,ingest,$(RISKGRID) ingest $(CITY) --json \
	  data/synthetic_city/ingest_summary.json)
	@$(call step,4,features,$(RISKGRID) features $(CITY))
	@$(call step,5,train,$(RISKGRID) train $(CITY))
	@$(call step,6,promote,$(RISKGRID) promote $(CITY) --reason "make demo")
	@$(call step,7,report,$(RISKGRID) report $(CITY))
	@echo
	@echo "Outputs:"
	@echo "  raw exports and ground truth  data/synthetic_city/ (truth/ holds the planted mechanisms)"
	@echo "  clean tables and quarantine   data/synthetic_city/clean/"
	@echo "  feature panel and catalogue   data/synthetic_city/features/ (plots/ for the last training)"
	@echo "  MLflow runs and models        data/mlflow.db: $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///data/mlflow.db"
	@echo "  API key for the demo          data/demo_key.txt (role admin, scope city)"
	@$(RISKGRID) keys create --role admin --scope city --label "make demo" | tail -1 > data/demo_key.txt
	@echo
	@echo "[8/$(DEMO_STEPS)] serve: the service on http://localhost:$${RISKGRID_PORT:-3000} (Ctrl+C stops it). Try:"
	@echo "  curl -s localhost:$${RISKGRID_PORT:-3000}/score -H \"Authorization: Bearer $$(cat data/demo_key.txt)\" -H 'Content-Type: application/json' -d '{\"area_ids\": [\"D01S01C01G01\"], \"horizons\": [1, 2]}'"
	@$(RISKGRID) serve $(CITY)

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
	rm -rf $(VENV) data test-output $(SETUP_LOG)
