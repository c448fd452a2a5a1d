# Two entry points for a fresh clone: `make app` and `make test`. Both set up what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# On the project's own machines MNIST sits in ../shared; elsewhere the app downloads it to ./data.
SHARED_MNIST := $(abspath ../shared/data/mnist)
export MNIST_DATA_DIR ?= $(if $(wildcard $(SHARED_MNIST)/*.gz),$(SHARED_MNIST),)
PORT ?= 8501

.PHONY: app test test-fast lint setup setup-dev system-deps bench clean

# requirements.txt is Streamlit Community Cloud's (the CPU-only torch); here and in CI the
# local set, whose torch is the default index's build.
$(BIN)/.installed: requirements-local.txt requirements-common.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-local.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(BIN)/.installed
setup-dev: $(BIN)/.installed-dev

# Chromium for the browser tests, Fashion-MNIST, and PostgreSQL for the storage tests (a
# temporary server each run; none is left running) come from Debian; skipped where apt is absent.
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/datasets/fashion-mnist ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium dataset-fashion-mnist postgresql >/dev/null; \
	  else echo "note: install chromium, dataset-fashion-mnist and postgresql (Debian) for the browser, Fashion-MNIST and storage tests"; fi; \
	fi

app: setup
	$(BIN)/streamlit run app.py --server.port $(PORT)

test: setup-dev system-deps
	$(BIN)/python -m pytest

# The engine's and the pages' tests without a browser: the quick check while working.
test-fast: setup-dev
	$(BIN)/python -m pytest -m "not browser and not slow" tests/core tests/studio tests/test_requirements.py

lint: setup-dev
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
