# CircleTel Billing: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
# `make run` is the local demo: debug on, embedded SQLite unless DATABASE_URL says otherwise.
RUN_ENV := DEBUG=$${DEBUG:-true}

.PHONY: run test install install-dev migrate seed lint check clean bench browsers

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py createcachetable

seed: migrate
	$(RUN_ENV) $(PY) manage.py seed_demo
	$(RUN_ENV) $(PY) manage.py setup_schedules

# Serve the site and run the django-q2 clusters (main and documents) beside it; Ctrl-C stops all three.
run: seed
	@echo ""
	@echo "  Site:  http://$(HOST):$(PORT)/        Admin: http://$(HOST):$(PORT)/admin/"
	@echo ""
	@trap 'kill 0' INT TERM EXIT; \
	  $(RUN_ENV) $(PY) manage.py qcluster & \
	  $(RUN_ENV) Q_CLUSTER_NAME=documents $(PY) manage.py qcluster & \
	  $(RUN_ENV) $(PY) manage.py runserver $(HOST):$(PORT) --noreload & \
	  wait

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .

check: install-dev
	$(VENV)/bin/ruff check .
	DJANGO_SETTINGS_MODULE=circletel.settings_test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=circletel.settings_test $(PY) manage.py check
	DJANGO_SETTINGS_MODULE=circletel.settings_test $(PY) manage.py spectacular --fail-on-warn --validate --file /dev/null
	$(PY) -m pytest -q -p no:randomly tests/test_layering.py  # imports point down only (ARCHITECTURE "Layering")

browsers:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* media staticfiles .pytest_cache
