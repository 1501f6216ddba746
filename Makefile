# RRP's front door. Every target is phony; `make help` lists them; `make` alone runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The main job's stamp: only the spec, the reference and the suite (a few seconds), not the test and docs tools.
SUITE_STAMP := $(VENV)/.installed-suite
SUITE_PACKAGES := spec python-ref conformance
# The suite with its `secure` extra: the reference run serves and grades RRP/1-S and RRP/1 over TLS too.
SUITE_EXTRAS := $(foreach p,$(SUITE_PACKAGES),$(if $(filter conformance,$(p)),$(p)[secure],$(p)))
# Every package with a pyproject.toml (spec, python-ref, conformance, ...) is installed and checked.
PACKAGES := $(patsubst %/pyproject.toml,%,$(wildcard */pyproject.toml))

.DEFAULT_GOAL := test
.PHONY: help venv suite-venv dist lint typecheck vectors check-vectors test clean bench bench-tools bench-publish fuzz soak docs docs-serve conformance conformance-client wireshark

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "RRP needs Python 3.11 or newer: '$(PYTHON)' is $$($(PYTHON) -V 2>&1); try make PYTHON=python3.11 ..." >&2; exit 1; }
	@echo "creating $(VENV) with $$($(PYTHON) -V)"
	@$(PYTHON) -m venv $(VENV)

# Progress: pip's step lines (unbuffered, so they show as they happen); its errors go to stderr untouched.
PIP_PROGRESS := { grep --line-buffered -E '^(Obtaining|Collecting|Installing collected|Successfully installed)' || true; }

# The build backend goes into the venv once (as every pyproject.toml's [build-system] names it), and the packages
# are built without isolation: one backend install instead of one throwaway environment per package, twice as fast.
BUILD_REQUIRES = $$($(BIN)/python -c 'import tomllib; print(*tomllib.load(open("spec/pyproject.toml", "rb"))["build-system"]["requires"])')
PIP_INSTALL := PYTHONUNBUFFERED=1 $(BIN)/python -m pip install --disable-pip-version-check

$(SUITE_STAMP): $(foreach p,$(SUITE_PACKAGES),$(p)/pyproject.toml) | $(BIN)/python
	@echo "installing the spec, the reference and the suite into $(VENV) (first run only; make test adds the rest)"
	@set -o pipefail; $(PIP_INSTALL) "$(BUILD_REQUIRES)" | $(PIP_PROGRESS)
	@set -o pipefail; $(PIP_INSTALL) --no-build-isolation $(foreach p,$(SUITE_EXTRAS),-e './$(p)') | $(PIP_PROGRESS)
	@touch $@

# Order-only on the suite's stamp: the full install includes the suite, so it never needs redoing for it.
$(STAMP): requirements-dev.txt $(wildcard */pyproject.toml) | $(SUITE_STAMP)
	@echo "installing the test, docs, benchmark and fuzzing tools into $(VENV) (first run only: a few minutes)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-build-isolation -r requirements-dev.txt $(foreach p,$(PACKAGES),-e './$(p)[test]')
	@touch $@ $(SUITE_STAMP)

suite-venv: $(SUITE_STAMP) ## create .venv with just the spec, the reference and the suite (what make conformance needs)

venv: $(STAMP) ## create .venv from a bare python3 and install every package, editable, with test extras

lint: $(STAMP) ## ruff: lint and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict over every package, one package at a time (and the shared conftest.py)
	@set -e; for p in $(PACKAGES); do echo "mypy $$p"; $(BIN)/mypy $$p; done
	$(BIN)/mypy conftest.py release

vectors: $(STAMP) ## regenerate the test vectors (spec/src/rrp_spec/data/rrp-v1.json) from the spec
	$(BIN)/python -m rrp_spec.vectors
	$(BIN)/python -m rrp_spec.secure_vectors

check-vectors: $(STAMP) ## fail when the checked-in test vectors are stale
	$(BIN)/python -m rrp_spec.vectors --check
	$(BIN)/python -m rrp_spec.secure_vectors --check

# pytest in 2 processes (pytest-xdist), a test module per process at a time: most of the slow modules wait on
# sockets and child processes, so two of them share 2 cores well. The root conftest.py runs the slowest first.
PYTEST_WORKERS ?= 2

test: lint typecheck check-vectors ## everything CI runs: ruff, mypy --strict, stale vectors, pytest (PYTEST_WORKERS=2)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

# Conformance: with no variables, start the reference server, grade it and stop it; with UDP/TCP, grade yours.
# make reports every failure as status 2; ./rrp-conformance runs the same suite and passes its status through.
conformance: $(SUITE_STAMP) ## grade the reference server; or yours: make conformance UDP=HOST:PORT TCP=HOST:PORT ARGS='...'
	$(BIN)/rrp-conformance $(if $(UDP)$(TCP),server $(if $(UDP),--udp $(UDP)) $(if $(TCP),--tcp $(TCP)),reference) $(ARGS)

# The client suite: with no CLIENT, grade the reference client through `rrp call`; CLIENT='TEMPLATE' grades yours.
# The command reaches the suite through the environment, so a template may hold any quotes.
REFERENCE_CLIENT := $(BIN)/rrp call {url} {op} --payload-hex {payload_hex} --hex --timeout {timeout} \
	--attempts {attempts} --initial-timeout {initial_timeout} --max-timeout {max_timeout}
# The secure profiles' calls: the reference's own, or yours with TLS_CLIENT='...{ca}' and SUDP_CLIENT='...{key_file}'.
conformance-client: export RRP_CLIENT_COMMAND = $(or $(CLIENT),$(REFERENCE_CLIENT))
conformance-client: export RRP_TLS_CLIENT_COMMAND = $(if $(CLIENT),$(TLS_CLIENT),$(REFERENCE_CLIENT) --ca {ca})
conformance-client: export RRP_SUDP_CLIENT_COMMAND = \
	$(if $(CLIENT),$(SUDP_CLIENT),$(REFERENCE_CLIENT) --key-file {key_file} --key-id {key_id})
conformance-client: $(SUITE_STAMP) ## grade the reference client; or yours: make conformance-client CLIENT='cmd {url} {op} {payload_hex}'
	$(BIN)/rrp-conformance client --command "$$RRP_CLIENT_COMMAND" \
		$${RRP_TLS_CLIENT_COMMAND:+--tls-command "$$RRP_TLS_CLIENT_COMMAND"} \
		$${RRP_SUDP_CLIENT_COMMAND:+--sudp-command "$$RRP_SUDP_CLIENT_COMMAND"} \
		--report-dir build/conformance-client $(ARGS)

# The Wireshark/tshark dissector, generated from rrp_spec (wireshark/src/rrp_wireshark); never edited by hand.
wireshark: $(STAMP) ## generate the Lua dissector for Wireshark and tshark into build/wireshark/rrp.lua
	$(BIN)/python -m rrp_wireshark --out build/wireshark/rrp.lua

# The spec site: mkdocs with the rrp-spec plugin (docs/src/rrp_docs) rendering every table and figure from spec/.
DOCS_ENV := NO_MKDOCS_2_WARNING=1
DOCS_WATCH := $(foreach d,$(wildcard spec/src python-ref/src conformance/src docs/src),--watch $(d))

docs: $(STAMP) ## grade the reference server for the Conformance page, then build the site into site/, strictly
	@# Exit 1 only means a check failed: the report is still written, and the page shows it as it is.
	@mkdir -p build
	$(BIN)/rrp-conformance reference --report-dir build/reference-conformance > build/reference-conformance.log 2>&1 \
		|| test $$? -eq 1 || (cat build/reference-conformance.log; exit 1)
	$(DOCS_ENV) $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP) ## serve the spec site on 127.0.0.1:8000, rebuilding when pages or spec/ change
	$(DOCS_ENV) $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000 $(DOCS_WATCH)

clean: ## remove build outputs (the virtual environment stays)
	rm -rf build site dist .mypy_cache .ruff_cache .pytest_cache .hypothesis

dist: $(SUITE_STAMP) ## build the wheels (spec, rrp, rrp-conformance and their dependencies) and rrp-conformance.pyz into dist/
	$(BIN)/python release/build_dist.py --out dist

# The benchmark's C programs, built with the system compiler against a header generated from rrp_spec.
CC ?= cc
BENCH_BUILD := build/bench
BENCH_CFLAGS := -O2 -std=gnu11 -Wall -Wextra -Werror -I$(BENCH_BUILD) -Ibench/c

$(BENCH_BUILD)/rrp_spec.h: $(STAMP) $(wildcard spec/src/rrp_spec/*.py) bench/src/rrp_bench/gen_c_header.py
	@mkdir -p $(BENCH_BUILD)
	$(BIN)/python -m rrp_bench.gen_c_header > $@.tmp && mv $@.tmp $@

$(BENCH_BUILD)/%: bench/c/%.c bench/c/rrp_wire.h $(BENCH_BUILD)/rrp_spec.h
	@command -v $(CC) >/dev/null 2>&1 || { echo "make bench needs a C compiler: '$(CC)' was not found (install gcc or clang, or set CC=...)" >&2; exit 1; }
	$(CC) $(BENCH_CFLAGS) -o $@ $<

bench-tools: $(BENCH_BUILD)/rrp-load $(BENCH_BUILD)/rrp-server ## build the C load generator and C server into build/bench/

bench: bench-tools ## benchmark the reference server against naive and C servers (BENCH_ARGS="--duration 2 --rounds 3")
	$(BIN)/python -m rrp_bench $(BENCH_ARGS)
	$(BIN)/python -m rrp_bench.secure_cost --out $(BENCH_BUILD)

# The site's Performance page is generated from bench/published/, never from build/: publishing is a choice.
bench-publish: $(STAMP) ## copy the last make bench run (build/bench) into bench/published/, the Performance page's snapshot
	$(BIN)/python -m rrp_bench.publish --from $(BENCH_BUILD) --to bench/published $(PUBLISH_ARGS)

# Robustness: bounded-time fuzzing and the soak under attack (robustness/); results land in build/.
FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 60

fuzz: $(STAMP) ## fuzz the spec decoders and server cores with atheris, FUZZ_SECONDS (60) per target, into build/fuzz/
	$(BIN)/python -m rrp_robustness.fuzz.runner --seconds $(FUZZ_SECONDS) --workdir build/fuzz

soak: $(STAMP) ## soak the reference server under attack for SOAK_SECONDS (60); report in build/soak/
	$(BIN)/python -m rrp_robustness.soak --seconds $(SOAK_SECONDS) --out build/soak
