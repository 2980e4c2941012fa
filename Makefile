# The two commands a newcomer needs: `make run` and `make test`.
# Both install what they need first (a Python venv in .venv, Debian packages when missing).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat setup.cfg setup.py | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

# Debian packages: what `make run` needs, and what the real servers of `make test` need.
RUN_DEBS  := tesseract-ocr tesseract-ocr-rus fonts-dejavu-core
TEST_DEBS := $(RUN_DEBS) redis-server dovecot-imapd postgresql poppler-utils chromium chromium-driver

.PHONY: run test bench sandbox install system-deps-run system-deps-test clean

run: system-deps-run $(STAMP)
	$(VENV)/bin/itrader run $(ARGS)

sandbox: system-deps-run $(STAMP)
	$(VENV)/bin/itrader sandbox $(ARGS)

test: system-deps-test $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: system-deps-test $(STAMP)
	$(PY) tests/bench/run.py $(ARGS)

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	@echo "==> installing Python packages into $(VENV)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,postgres]'
	rm -f $(VENV)/.installed-*
	touch $@

system-deps-run:
	@DEBS="$(RUN_DEBS)" sh .ci/system-deps.sh

system-deps-test:
	@DEBS="$(TEST_DEBS)" sh .ci/system-deps.sh

clean:
	rm -rf $(VENV) var build *.egg-info
