# fastvrrp: `make test` and `make demo` work on a fresh Debian machine (as root).
VENV         ?= .venv
PY           := $(VENV)/bin/python
STAMP        := $(VENV)/.bootstrapped
FUZZ_SECONDS ?= 300
DEMO_DIR     ?= build/demo

.PHONY: test demo bench bench-vrrp fuzz debug build clean hunt

$(STAMP): pyproject.toml setup.py scripts/bootstrap
	VENV=$(VENV) scripts/bootstrap
	touch $@

build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace

test: build
	$(PY) -m pytest -q

# The experiment of EXPERIMENT.md in throw-away namespaces: v2, 1 s adverts, about 40 s.
demo: build
	mkdir -p $(DEMO_DIR)
	$(PY) -m fastvrrp lab --json $(DEMO_DIR)/lab.json --plot $(DEMO_DIR)/lab.png

hunt: build
	HYPOTHESIS_PROFILE=hunt $(PY) -m pytest -q tests/test_wire_properties.py

bench: build
	$(PY) -m bench.wire

# Namespaces, root, keepalived: takeover (~25 min), advert gaps, CPU and reloads, fastvrrp beside
# keepalived; each writes its section of bench/RESULTS.md.
bench-vrrp: build
	$(PY) -m bench.takeover
	$(PY) -m bench.advert_gap --repeat 2
	$(PY) -m bench.cpu
	$(PY) -m bench.reload

# The sanitizer build goes to build/asan, not in place: other processes importing fastvrrp._wire
# meanwhile keep the ordinary build (an ASan module cannot load without the ASan runtime preloaded).
fuzz: $(STAMP)
	FASTVRRP_ASAN=1 $(PY) setup.py -q build_ext --build-lib build/asan --build-temp build/asan-tmp --force
	$(PY) fuzz/run.py --asan --extension $$(ls build/asan/fastvrrp/_wire.*.so) --seconds $(FUZZ_SECONDS)

debug: $(STAMP)
	FASTVRRP_DEBUG_BUILD=1 $(PY) setup.py -q build_ext --inplace --force
	@echo "annotated source: fastvrrp/_wire.html"

clean:
	rm -rf build fastvrrp/_wire.c fastvrrp/_wire.html fastvrrp/_mmsg.c fastvrrp/_mmsg.html fastvrrp/_repeats.c fastvrrp/_repeats.html fastvrrp/*.so
