# facesr_arch: `make demo` and `make test` create (or reuse) the environment and run.
PYTHON ?= python3
# the pinned versions (constraints.txt) key the cached environment: a new lock builds a new one
ENV_KEY := $(shell cat requirements.txt constraints.txt scripts/make_venv.sh | sha256sum | cut -c1-12)
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/facesr_arch
VENV ?= $(CACHE_DIR)/venv-$(ENV_KEY)
PY := $(VENV)/bin/python
# The package runs from the checkout: no install step that would tie the shared environment to one clone.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
PYTEST_ARGS ?=
# the suite runs on two pytest-xdist workers of one thread each (CI machines have 2 cores)
TEST_WORKERS ?= 2

.PHONY: venv hook demo test lock clean-venv
venv: $(VENV)/.complete

$(VENV)/.complete: requirements.txt constraints.txt scripts/make_venv.sh
	PYTHON=$(PYTHON) bash scripts/make_venv.sh $(VENV)

# start-up hook (facesr_arch/_compat.py): `import basicsr` before `import facesr_arch` works; idempotent
hook: venv
	$(PY) facesr_arch/_compat.py --install

demo: hook
	$(PY) scripts/demo.py $(if $(HQ_DIR),--hq-dir $(HQ_DIR))

test: hook
	FACESR_TEST_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --durations=15 $(PYTEST_ARGS) tests

# after a green suite, pin the environment's exact versions (constraints.txt) for the next `make venv`
lock: test
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --all | grep -v -i -e '^facesr.arch' -e '^-e '; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean-venv:
	rm -rf $(VENV) $(VENV).lock
