# fastvrrp: `make test` and `make demo` work on a fresh Debian machine (as root).
VENV         ?= .venv
PY           := $(VENV)/bin/python
STAMP        := $(VENV)/.bootstrapped
FUZZ_SECONDS ?= 300

.PHONY: test bench fuzz debug build clean hunt

$(STAMP): pyproject.toml setup.py scripts/bootstrap
	VENV=$(VENV) scripts/bootstrap
	touch $@

build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace

test: build
	$(PY) -m pytest -q

hunt: build
	HYPOTHESIS_PROFILE=hunt $(PY) -m pytest -q tests/test_wire_properties.py

bench: build
	$(PY) -m bench.wire

fuzz: $(STAMP)
	FASTVRRP_ASAN=1 $(PY) setup.py -q build_ext --inplace --force
	status=0; $(PY) fuzz/run.py --seconds $(FUZZ_SECONDS) || status=$$?; \
	$(PY) setup.py -q build_ext --inplace --force; exit $$status

debug: $(STAMP)
	FASTVRRP_DEBUG_BUILD=1 $(PY) setup.py -q build_ext --inplace --force
	@echo "annotated source: fastvrrp/_wire.html"

clean:
	rm -rf build fastvrrp/_wire.c fastvrrp/_wire.html fastvrrp/*.so
