# Two set-up commands (see README): `make demo` and `make test`.
# Each provisions what it needs (Python 3.13, 3.14 and 3.15, a venv per version) on first use;
# later runs reuse the cache and spend a second or two on set-up.
PYTHONS := 3.13 3.14 3.15
PROVISION := scripts/provision.sh

.PHONY: demo test bench lint clean

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
	@PY=$$($(PROVISION) 3.14) && $$PY -m ruff check src tests examples scripts && $$PY -m ruff format --check src tests examples scripts && $$PY -m mypy && $$PY -m mypy --python-version 3.13
	@failed=""; for v in $(PYTHONS); do \
	    echo "=== tests on Python $$v ==="; \
	    PY=$$($(PROVISION) $$v); \
	    $$PY -m pytest -q || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "tests FAILED on:$$failed"; exit 1; fi; \
	echo "tests passed on: $(PYTHONS)"

# Everything, on every Python: the seed comparison (with its chart), the core and the
# data-plane benchmarks, written to benchmarks/results/ (~8 minutes per Python).
bench:
	@set -e; for v in $(PYTHONS); do PY=$$($(PROVISION) $$v); $$PY -m interpool bench --all; done

lint:
	@PY=$$($(PROVISION) 3.14) && $$PY -m ruff check src tests examples scripts && $$PY -m ruff format --check src tests examples scripts && $$PY -m mypy && $$PY -m mypy --python-version 3.13

clean:
	rm -rf .venv-* build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
