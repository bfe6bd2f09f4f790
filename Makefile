# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU build on the project machines; override e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml setup.py $(wildcard vesseltree/_kernels/*.pyx) $(wildcard vesseltree/_kernels/*.pxd)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install $(TORCH_SPEC)
	$(PIP) install -e ".[net,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m vesselnet.demo --out results

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	mkdir -p results
	$(PY) -m pytest benchmarks --benchmark-enable -q -s --benchmark-json=results/bench.json
	$(PY) benchmarks/report.py results/bench.json > results/bench.md

clean:
	rm -rf build *.egg-info results .pytest_cache .benchmarks
	find vesseltree -name '*.so' -delete
