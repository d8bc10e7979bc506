# llmrail: every target does its own set-up on a fresh machine (Rust, Python 3.10+, gcc, git).
#   make demo    build, then run a chat, a stream and a tool call (mock server unless a key is set)
#   make test    cargo test, clippy, rustfmt, stub check, mypy on the README, pytest, sdist check
#   make bench   llmrail against the openai SDK, httpx and a plain Rust client; prompt-cache cost
#   make soak    10,000 calls through retries, breakers and limits against 30 % injected faults
#   make fuzz    the decoders' property tests on fresh random inputs for FUZZ_SECONDS (600)
#   make dist    the release files in dist/: sdist and manylinux wheel, audited; make dist-check
#   make help    every target, and `make dev` for the fast edit-test loop

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# cargo and maturin build pyo3 with different settings: separate target dirs avoid rebuilds.
export CARGO_TERM_COLOR ?= never
MATURIN_TARGET := target/maturin
STAMP  := $(VENV)/.llmrail-installed
SOURCES := Cargo.toml pyproject.toml $(shell find src python -type f \( -name '*.rs' -o -name '*.py' -o -name '*.pyi' \) 2>/dev/null)

.PHONY: help setup build bench-build release-wheel dev demo test test-rust test-py lint fmt bench soak fuzz redis chromium check-windows dist dist-check clean

help:  ## this list
	@grep -E '^[a-zA-Z_ -]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | \
		awk -F'\t' '{printf "  make %-14s %s\n", $$1, $$2}'

# --no-deps for packages whose pins clash with the openai SDK's (instructor's jiter<0.15); see that file.
$(VENV)/.deps: requirements-dev.txt requirements-dev-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-dev-nodeps.txt
	touch $@

# The wheel for this machine only (tagged linux_x86_64): dist/ is for the release files (make dist).
DEV_WHEELS := $(MATURIN_TARGET)/dev-wheels
$(STAMP): $(VENV)/.deps $(SOURCES)
	rm -rf $(DEV_WHEELS) python/llmrail/_core*.so  # the latter: what `make dev` built in place
	CARGO_TARGET_DIR=$(MATURIN_TARGET) $(VENV)/bin/maturin build --release --out $(DEV_WHEELS) --interpreter $(PY) --quiet
	$(PY) -m pip install --quiet --force-reinstall --no-deps $(DEV_WHEELS)/llmrail-*.whl
	rm -f $(BENCH_STAMP)
	touch $@

# The wheel PyPI gets, which bench measures too: the dist profile (thin LTO, one codegen unit; the
# release profile's quicker build for tests trades it away: achat 0.88x CPU), linked by zig against
# glibc 2.17 (manylinux2014), and profile-guided (PGO): built once instrumented, run through
# bench/pgo_train.py (what users run, ~5 s), then built again laid out by the counts: hot code
# together and branches the way calls take them (a sequential chat ~0.78x the CPU, bench/ab.py).
# A profile finds functions by their symbol names, which carry each crate's -Cmetadata: so both
# builds name the target (cargo hashes host and explicit-target builds differently) and neither
# lets cargo configure the linker (it hashes that too): zig links through -Clinker in RUSTFLAGS,
# which cargo leaves out (scripts/zigcc.sh says why the instrumented build links with cc).
HOST_TRIPLE  := $(shell rustc -vV | sed -n 's/^host: //p')
PGO_DIR      := $(MATURIN_TARGET)/pgo
PGO_PROFDATA := $(PGO_DIR)/merged.profdata
# rustc's own LLVM's llvm-profdata (rustup's llvm-tools): a distro's older one cannot read its files.
LLVM_PROFDATA = $(shell rustc --print sysroot)/lib/rustlib/$(HOST_TRIPLE)/bin/llvm-profdata

# Unpacked, not installed: the training imports it by PYTHONPATH and .venv keeps its own wheel.
$(PGO_DIR)/instrumented/.built: $(VENV)/.deps $(SOURCES)
	rm -rf $(PGO_DIR)/instrumented $(PGO_DIR)/wheel
	CARGO_TARGET_DIR=$(PGO_DIR)/target RUSTFLAGS=-Cprofile-generate=$(abspath $(PGO_DIR)/raw) \
		$(VENV)/bin/maturin build --profile dist --target $(HOST_TRIPLE) --out $(PGO_DIR)/wheel \
		--interpreter $(PY) --quiet
	$(PY) -m zipfile -e $(PGO_DIR)/wheel/llmrail-*.whl $(PGO_DIR)/instrumented
	touch $@

# raw/ goes first: an earlier training's counts would add up. The counters' thread-local state
# outgrows the static TLS glibc keeps for a dlopen()ed library ("cannot allocate memory in static
# TLS block"): the tunable gives it more.
$(PGO_PROFDATA): $(PGO_DIR)/instrumented/.built bench/pgo_train.py bench/peers.py bench/server.py
	rustup component add llvm-tools
	rm -rf $(PGO_DIR)/raw
	GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096 PYTHONPATH=$(PGO_DIR)/instrumented $(PY) bench/pgo_train.py
	$(LLVM_PROFDATA) merge -o $@ $(PGO_DIR)/raw

# A new profile rebuilds every crate (rustc lists it among each crate's inputs): ~10 min here.
# C code (mimalloc) compiles with zig's cc too, against glibc 2.17's headers.
RELEASE_WHEELS := $(MATURIN_TARGET)/release-wheels
$(RELEASE_WHEELS)/.built: $(VENV)/.dist-deps $(PGO_PROFDATA) scripts/zigcc.sh
	rm -rf $(RELEASE_WHEELS)
	CARGO_TARGET_DIR=$(MATURIN_TARGET) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" MATURIN=$(CURDIR)/$(VENV)/bin/maturin \
		ZIG_TARGET=$(firstword $(subst -, ,$(HOST_TRIPLE)))-linux-gnu.2.17 \
		CC_$(subst -,_,$(HOST_TRIPLE))=$(CURDIR)/scripts/zigcc.sh \
		RUSTFLAGS="-Cprofile-use=$(abspath $(PGO_PROFDATA)) -Clinker=$(CURDIR)/scripts/zigcc.sh" \
		$(VENV)/bin/maturin build --profile dist --target $(HOST_TRIPLE) --compatibility manylinux2014 \
		--interpreter $(PY) --out $(RELEASE_WHEELS) --quiet
	touch $@

release-wheel: $(RELEASE_WHEELS)/.built  ## the manylinux, PGO wheel dist ships and bench measures

# Bench measures what pip users get. Each build keeps its own directory under MATURIN_TARGET, so
# switching between this and `make build` only reinstalls.
BENCH_STAMP := $(VENV)/.llmrail-bench-installed
$(BENCH_STAMP): $(RELEASE_WHEELS)/.built
	rm -f python/llmrail/_core*.so
	$(PY) -m pip install --quiet --force-reinstall --no-deps $(RELEASE_WHEELS)/llmrail-*.whl
	rm -f $(STAMP)
	touch $@

bench-build: $(BENCH_STAMP)  ## the release wheel (what PyPI gets) installed into .venv, for bench

setup build: $(STAMP)  ## virtualenv, dev dependencies, release abi3 wheel installed into .venv

# The inner loop: a debug build installed in place (seconds after an edit). The stamp goes, so the
# next `make test`, `make demo` or `make bench` installs its wheel again.
dev: $(VENV)/.deps  ## fast debug build into .venv (maturin develop) for the edit-test loop
	rm -f $(STAMP) $(BENCH_STAMP)
	CARGO_TARGET_DIR=$(MATURIN_TARGET) $(VENV)/bin/maturin develop --quiet

demo: $(STAMP)  ## chat, stream and tool call end to end over real HTTP
	$(PY) -m llmrail demo

# dist-check last: ~30 s, since it reuses the release build test-py used (measured; see the target).
test: test-rust lint test-py dist-check  ## everything CI runs

# Tests start their own redis-server on a free port; this only installs Debian's package.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
redis:  ## redis-server for the shared rate-limit and breaker tests, installed if missing
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# The benchmark report's test opens the HTML in a real headless browser to see its charts drawn.
chromium:  ## headless Chromium for the benchmark report's rendering test, installed if missing
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Every Rust test, built with no Python at all (the `python` feature off: no pyo3, no src/py/), which
# is how a `use pyo3` outside src/py/ shows; then only the tests that need the feature, the
# wrappers' own (src/py/): the core's would run the same code a second time.
test-rust: redis  ## the core without Python, then the pyo3 wrappers' unit tests
	cargo test --all-targets --quiet --no-default-features
	cargo test --lib --quiet py::

lint: $(STAMP)  ## rustfmt, clippy -D warnings, module circles, ruff, mypy --strict, stubtest, actionlint
	cargo fmt --all -- --check
	cargo clippy --all-targets --quiet -- -D warnings
	$(PY) scripts/module_cycles.py
	$(VENV)/bin/ruff check python tests_py bench scripts
	$(VENV)/bin/mypy python/llmrail
	$(PY) -m mypy.stubtest llmrail._core --allowlist tests_py/stubtest-allowlist.txt
	$(PY) tests_py/readme_examples.py --check-types
	$(VENV)/bin/actionlint

fmt: $(VENV)/.deps  ## rustfmt, and ruff's safe fixes (import order, modern syntax)
	cargo fmt --all
	$(VENV)/bin/ruff check --fix --quiet python tests_py bench scripts

test-py: $(STAMP) redis chromium  ## pytest against the installed wheel and the built-in mock server
	$(PY) -m pytest -q

bench: $(BENCH_STAMP) redis  ## latency and throughput table, also written to bench-results/
	$(PY) bench/run.py
	$(PY) bench/curves.py
	$(PY) bench/replay.py
	$(PY) bench/telemetry.py
	$(PY) bench/cache.py
	$(PY) bench/extract.py
	$(PY) bench/prompts.py
	$(PY) bench/langchain.py
	$(PY) bench/batch.py
	$(PY) bench/durable_queue.py
	$(PY) bench/tracing.py
	$(PY) bench/gateway.py

soak: $(STAMP) redis  ## resilience soak: 10,000 calls, 64 in flight, 30 % faults; layer overhead
	$(PY) bench/soak.py

# The debug profile on purpose: its overflow checks and debug assertions are what turn a wrong
# number from a server into a failure here instead of a silent wrap in the release wheel.
FUZZ_SECONDS ?= 600
fuzz:  ## every decoder's properties (tests/properties) for FUZZ_SECONDS; prints inputs tried
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ONLY=$(FUZZ_ONLY) cargo test --quiet --test properties -- \
		--ignored --exact fuzz_every_property_for_fuzz_seconds --nocapture

# Not part of `make test` (mingw is a large install): the non-unix code paths (the portable loop
# wake-up, no fork hook) must compile for the Windows wheel; ring and mimalloc need mingw's gcc.
check-windows:  ## cargo check and clippy of the crate for x86_64-pc-windows-gnu
	rustup target add x86_64-pc-windows-gnu
	@command -v x86_64-w64-mingw32-gcc >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null; }
	cargo clippy --quiet --lib --target x86_64-pc-windows-gnu -- -D warnings

# What PyPI gets from this machine: the sdist, and the release wheel above: abi3, its symbols
# needing no newer glibc than 2.17 (the host's is newer), tagged manylinux_2_17, with LTO and PGO.
# check_dist.py makes auditwheel confirm the tag the file name claims; twine checks the metadata and
# README as PyPI renders it. The other platforms' wheels, musllinux among them (this machine's Rust
# has no musl target), come from .github/workflows/release.yml.
$(VENV)/.dist-deps: $(VENV)/.deps requirements-dist.txt
	$(PY) -m pip install --quiet -r requirements-dist.txt
	touch $@

dist: $(RELEASE_WHEELS)/.built  ## sdist + manylinux_2_17 abi3 PGO wheel in dist/, audited and twine-checked
	rm -rf dist
	$(VENV)/bin/maturin sdist --out dist
	cp $(RELEASE_WHEELS)/llmrail-*.whl dist/
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) scripts/check_dist.py dist
	$(VENV)/bin/twine check --strict dist/*

# The sdist as a user's pip meets it: a fresh virtualenv with nothing but pip, which fetches maturin
# itself, builds the wheel and installs it; then scripts/smoke.py. CARGO_TARGET_DIR is the release
# build's, made current first ($(STAMP)): cargo finds the unpacked sdist's sources as fresh as the
# tree's (its fingerprints are relative to the package, and the sdist keeps mtimes), so nothing
# compiles again, while a file missing from the sdist would make it rebuild and fail (tried). 32 s
# here, pip's part 14 s, against 19 min for a cold build of the sdist on this loaded 2-core
# machine; the release workflow's sdist job builds it cold.
dist-check: $(STAMP)  ## the sdist built by pip in a fresh virtualenv, its wheel smoke-tested
	CARGO_TARGET_DIR=$(abspath $(MATURIN_TARGET)) scripts/smoke_sdist.sh $(PYTHON) $(VENV)/bin/maturin

clean:
	rm -rf target dist $(VENV) bench-results
