# make demo: masked refresh of a bundled SQLite example (no server needed)
# make test: the whole suite (PostgreSQL: local server, else a throwaway one)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench bench-quick bench-masking bench-detect bench-scan clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: install
	$(BIN)/python examples/demo/make_source.py examples/demo/source.db
	$(BIN)/datacloner refresh dev -c examples/demo/datacloner.yml --yes
	@echo "what masking did to three users (the same rules and secret as the refresh):"
	$(BIN)/datacloner preview users -c examples/demo/datacloner.yml --rows 3

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check datacloner tests examples bench
	$(BIN)/ruff format --check datacloner tests examples bench

# make bench: the slow tests, then every contender at 100k, 200k and 1M users, on 1,100
# small tables and on MariaDB (docs/performance.md, "How to measure"); about 25 min
# on a quiet 2-core machine, twice that when others keep its CPUs busy
bench: install
	$(BIN)/pytest -m slow -o addopts="" -v
	$(BIN)/python bench/bench_masking.py --families
	$(BIN)/python bench/bench_detect.py
	$(BIN)/python bench/run_bench.py

# make bench-quick: 100k users, 300 tables and MariaDB only, about 10 min
bench-quick: install
	$(BIN)/python bench/run_bench.py --quick

bench-masking: install
	$(BIN)/python bench/bench_masking.py
	$(BIN)/python bench/bench_masking.py --families

# make bench-detect: what the C detectors buy (docs/performance.md, "Native code")
bench-detect: install
	$(BIN)/python bench/bench_detect.py

bench-scan: install
	$(BIN)/python bench/scan_quality.py

clean:
	rm -rf $(VENV) examples/demo/*.db examples/demo/*.db.prev
