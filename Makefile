# Two set-up commands (see README): `make demo` and `make test`.
# Each provisions what it needs (Python 3.13, 3.14 and 3.15, a venv per version) on first use;
# later runs reuse the cache and spend a second or two on set-up.
PYTHONS := 3.13 3.14 3.15
PROVISION := scripts/provision.sh

# The version-independent layers (tests marked `version_independent`: the benchmarks,
# the docs' examples, the stress run, doctor, the crawler example, the property tests)
# run once, on 3.14.  3.15 runs the rest (the Dask backend included); 3.13 the engine
# and the API, without the Dask backend (marked `dask`), so that CI stays short.  The
# markers are declared in pyproject.toml.  `make test-all` runs everything everywhere.
PYTEST_3.13 := -m 'not version_independent and not dask'
PYTEST_3.15 := -m 'not version_independent'

# Style, types (for 3.14 and 3.13) and the import contracts of pyproject.toml.
LINT_DIRS := src tests examples scripts benchmarks
LINT = $$PY -m ruff check $(LINT_DIRS) && $$PY -m ruff format --check $(LINT_DIRS) \
	&& $$PY -m mypy && $$PY -m mypy --python-version 3.13 && $$(dirname $$PY)/lint-imports --no-cache

.PHONY: demo test test-all bench lint clean

# The quick seed comparison (under a minute): table on stdout, JSON, text and the
# chart in build/demo/ (quick-3.14.png), outside the tracked results.
demo:
	@PY=$$($(PROVISION) 3.14) && $$PY -m interpool bench --quick --output build/demo \
	    && echo "chart: build/demo/quick-3.14.png (JSON and table beside it)"

test:
	@# The first provisioning builds the shared Debian tree if needed; the others
	@# (venvs and their pip installs) then run side by side.
	@set -e; $(PROVISION) $(firstword $(PYTHONS)) >/dev/null; pids=""; \
	for v in $(wordlist 2,9,$(PYTHONS)); do $(PROVISION) $$v >/dev/null & pids="$$pids $$!"; done; \
	for p in $$pids; do wait $$p; done
	@PY=$$($(PROVISION) 3.14) && $(LINT)
	@failed=""; for v in $(PYTHONS); do \
	    echo "=== tests on Python $$v ==="; \
	    PY=$$($(PROVISION) $$v); \
	    case "$$v" in 3.13) args="$(PYTEST_3.13)";; 3.15) args="$(PYTEST_3.15)";; *) args="";; esac; \
	    eval $$PY -m pytest -q $$args || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "tests FAILED on:$$failed"; exit 1; fi; \
	echo "tests passed on: $(PYTHONS)"

# The whole suite on every Python, 3.13 included (about 15 minutes).
test-all:
	@$(MAKE) --no-print-directory test PYTEST_3.13= PYTEST_3.15=

# Everything, on every Python: the seed comparison (with its chart), the core and the
# data-plane benchmarks, written to benchmarks/results/ (~8 minutes per Python).
bench:
	@set -e; for v in $(PYTHONS); do PY=$$($(PROVISION) $$v); $$PY -m interpool bench --all --output benchmarks/results; done

lint:
	@PY=$$($(PROVISION) 3.14) && $(LINT)

clean:
	rm -rf .venv-* build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
