# The course's commands. Quickstart: `make demo` (set-up + main job) and `make test` (set-up + all tests).
# Every target puts .venv/bin first on PATH: nbgrader runs `alembic` from PATH when it creates a gradebook.

SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3.11
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LABS := $(notdir $(wildcard solutions/lab*))
PYTEST_WORKERS ?= 2

.PHONY: help install data demo test test-fast test-notebooks test-browser browser-deps postgres-deps lab formgrader validate release lint format clean

help:
	@echo "make demo       set up everything and run the course's main job (release, sample grading)"
	@echo "make test       set up everything, then lint and run all tests (what CI runs)"
	@echo "make test-fast  lint + unit tests, no notebook execution (< 2 minutes)"
	@echo "make lab        JupyterLab on the course"
	@echo "make formgrader  tutors: JupyterLab with nbgrader's formgrader (menu Nbgrader) on the course gradebook"
	@echo "make validate LAB=lab1_sequence  check your notebook before submitting (nbgrader validate)"
	@echo "make test-browser  open every student notebook in headless Chromium and run its Setup cell"
	@echo "make data       build the offline synthetic data set"
	@echo "make release    regenerate notebooks/ from solutions/ (nbgrader generate_assignment)"

$(PY):
	$(PYTHON_BOOTSTRAP) -m venv $(VENV) || python3 -m venv $(VENV)

# Re-install only when the pins or the package metadata change: offline once installed.
$(STAMP): requirements.txt pyproject.toml | $(PY)
	@# Best effort: offline (pins already installed) the venv keeps its pip and the install below needs no index.
	$(PY) -m pip install --quiet --upgrade pip || echo "note: pip not upgraded (offline?)"
	$(PY) -m pip install --quiet -r requirements.txt
	@# jsonschema[format-nongpl] (via nbformat and jupyter-events) pulls in rfc3987-syntax, whose import builds
	@# about 35 Earley parsers: 2.2 of the 3.4 CPU s that importing nbgrader takes (measured), in every grading
	@# worker, nbgrader command, trusted test process and JupyterLab start. It only checks the "iri" formats,
	@# which no Jupyter or nbgrader schema uses (jsonschema skips formats it has no checker for; pip check agrees).
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m course_utils.kernel
	@# The grading sandbox uses bubblewrap (Debian package); without it grading says so loudly and runs unsandboxed.
	@command -v bwrap >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null) || \
		echo "WARNING: bubblewrap not installed: student kernels will not be sandboxed"; }
	touch $(STAMP)

install: $(STAMP)

data: install
	$(PY) data_fetch.py synthetic

release: install
	$(PY) -m autograder release

demo: data
	$(PY) -m autograder demo

lint: install
	ruff format --check .
	ruff check .

format: install
	ruff format .
	ruff check --fix .

# --dist loadgroup keeps each lab's nbval cells and mutant suite on one worker (tests/conftest.py). Solution notebooks run under nbval (--nbval-lax: only `# NBVAL_CHECK_OUTPUT` cells compare
# outputs); student copies are executed by the tests, not by nbval.
NBVAL := --nbval-lax --nbval-kernel-name dlcourse --nbval-cell-timeout 300 --nbval-sanitize-with tests/nbval_sanitize.cfg
SOLUTION_NOTEBOOKS := $(foreach lab,$(LABS),solutions/$(lab)/$(lab).ipynb)
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# browser-deps: Debian's chromium, postgres-deps: PostgreSQL's server binaries, both where apt-get is available (as
# $(STAMP) installs bubblewrap), so the browser and PostgreSQL tests run on a fresh machine and in CI.
test: data lint browser-deps postgres-deps
	$(PYTEST) tests $(SOLUTION_NOTEBOOKS) $(NBVAL)

test-fast: data lint
	$(PYTEST) -m "not notebook" tests

# The file browser shows the four labs in order (and nothing else); new notebooks get the course kernel.
# LAB_ARGS passes more options, e.g. `make lab LAB_ARGS="--no-browser --port 8890"`.
LAB_ARGS ?=
# Started from autograder/: nbgrader's Validate button reads the nbgrader_config.py of the server's working
# directory, so it validates with the course's settings (300 s per cell, course kernel, log-noise filter).
lab: data
	@echo "JupyterLab on notebooks/: open lab1_sequence/lab1_sequence.ipynb first, kernel \"DL lab course (TF 2.21)\"."
	@echo "Stop the server with Ctrl+C (twice)."
	cd autograder && jupyter lab --ServerApp.root_dir=$(CURDIR)/notebooks \
		--MappingKernelManager.default_kernel_name=dlcourse $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Tutors: nbgrader's formgrader (menu Nbgrader -> Formgrader) on the course gradebook, after `python -m autograder
# grade`. nbgrader 0.9 has no `nbgrader formgrader` command: the JupyterLab extension reads nbgrader_config.py of the
# server's working directory (autograder/) and needs the course folder inside the server's root.
formgrader: install
	cd autograder && jupyter lab --ServerApp.root_dir=$(CURDIR) \
		--MappingKernelManager.default_kernel_name=dlcourse $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Students, before submitting: runs notebooks/<LAB>/<LAB>.ipynb top to bottom with the visible checks, under the
# course's nbgrader settings (autograder/nbgrader_config.py: per-cell timeout, course kernel, log-noise filter).
# `nbgrader validate` exits 0 even when cells fail, so success is its own verdict line: exit 1 without it (scriptable).
# NOTEBOOK= validates another copy of the lab (default: the one in notebooks/).
LAB ?=
NOTEBOOK ?= $(CURDIR)/notebooks/$(LAB)/$(LAB).ipynb
VALIDATE_OK := Success! Your notebook passes all the tests.
validate: install
	@test -n "$(LAB)" || { echo "usage: make validate LAB=<one of: $(LABS)>"; exit 2; }
	@test -f "$(NOTEBOOK)" || { echo "no notebook $(NOTEBOOK); labs: $(LABS)"; exit 2; }
	@cd autograder && output=$$(nbgrader validate "$(abspath $(NOTEBOOK))" 2>&1); status=$$?; echo "$$output"; \
		if [ $$status = 0 ] && grep -qxF "$(VALIDATE_OK)" <<<"$$output"; then exit 0; fi; \
		echo "make validate: $(LAB) did NOT pass validation (see above)" >&2; exit 1

# Debian's Chromium for the browser smoke test (tests/browser); Playwright drives it, so it downloads no browser.
BROWSER := /usr/bin/chromium
browser-deps:
	@test -x $(BROWSER) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "WARNING: $(BROWSER) missing and not installable here (needs root and apt-get):" \
			"run 'sudo apt-get install chromium'; the browser test will be skipped"; }

# PostgreSQL server binaries for tests/test_postgres.py (a shared gradebook: initdb/pg_ctl on PATH or in
# /usr/lib/postgresql/<version>/bin); without them those tests skip with the reason.
postgres-deps:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null) || \
		echo "WARNING: PostgreSQL's initdb missing and not installable here (needs root and apt-get):" \
			"run 'sudo apt-get install postgresql'; tests/test_postgres.py will be skipped"; }

# Opens each student notebook in JupyterLab (a temporary copy of notebooks/), runs its Setup cell in the course
# kernel, saves build/screenshots/<lab>.png. Also part of `make test` whenever /usr/bin/chromium exists.
test-browser: install data browser-deps
	$(PY) -m pytest -m browser tests/browser -p no:cacheprovider

clean:
	rm -rf .pytest_cache .ruff_cache autograder/gradebook.db autograder/submitted autograder/autograded autograder/feedback \
		autograder/similarity autograder/submission_times autograder/export
