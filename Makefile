# The two commands a newcomer needs: `make run` and `make test`.
# Both install what they need first (a Python venv in .venv, Debian packages when missing).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CKSUM  := $(shell cat setup.cfg setup.py | cksum | cut -d' ' -f1)
# `make run` installs what running needs; `make test` (and `make install`) adds the test tools.
RUN_STAMP  := $(VENV)/.installed-run-$(CKSUM)
TEST_STAMP := $(VENV)/.installed-test-$(CKSUM)
PYTEST_ARGS ?=

# Debian packages: what `make run` needs, and what the real servers of `make test` need.
RUN_DEBS  := tesseract-ocr tesseract-ocr-rus fonts-dejavu-core
TEST_DEBS := $(RUN_DEBS) redis-server dovecot-imapd postgresql poppler-utils prometheus chromium chromium-driver

.PHONY: run test bench sandbox install system-deps-run system-deps-test clean

run: system-deps-run $(RUN_STAMP)
	$(VENV)/bin/itrader run $(ARGS)

sandbox: system-deps-run $(RUN_STAMP)
	$(VENV)/bin/itrader sandbox $(ARGS)

test: system-deps-test $(TEST_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: system-deps-test $(TEST_STAMP)
	$(PY) tests/bench/run.py $(ARGS)

install: $(TEST_STAMP)

$(RUN_STAMP): setup.cfg setup.py
	@echo "==> installing Python packages into $(VENV)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[postgres]'
	rm -f $(VENV)/.installed-run-*
	touch $@

$(TEST_STAMP): setup.cfg setup.py
	@echo "==> installing Python packages and test tools into $(VENV)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,postgres]'
	rm -f $(VENV)/.installed-*
	touch $@ $(RUN_STAMP)

system-deps-run:
	@DEBS="$(RUN_DEBS)" sh .ci/system-deps.sh

system-deps-test:
	@DEBS="$(TEST_DEBS)" sh .ci/system-deps.sh

clean:
	rm -rf $(VENV) var build *.egg-info
