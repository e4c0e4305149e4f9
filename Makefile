# CircleTel Billing: `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
# `make run` is the local demo: debug on, embedded SQLite unless DATABASE_URL says otherwise.
RUN_ENV := DEBUG=$${DEBUG:-true}
# The local development settings `make run` writes when missing (never overwritten; git-ignored).
DEV_ENV ?= .env
# Links in the demo's emails and provider return URLs point at the server `make run` starts.
DEV_SITE := SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)}

.PHONY: run serve test install install-dev migrate seed lint check clean bench browsers test-books test-recovery test-api

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

# A local .env for development (DEBUG on, a generated SECRET_KEY, demo data, sandbox, emails to var/mail),
# so commands run by hand work like `make run`. Written only when missing (circletel/.../dev_env.py).
$(DEV_ENV): | $(VENV)/.installed
	@$(RUN_ENV) $(PY) manage.py dev_env --path $@

migrate: install | $(DEV_ENV)
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py createcachetable

# The demo data's output (and the emails it sends, one line each) goes to var/log/seed.log; the logins are
# printed here and again, last, by `make run`.
seed: migrate
	@mkdir -p var/log
	@echo "Loading the demo data (output in var/log/seed.log) ..."
	@$(RUN_ENV) $(DEV_SITE) $(PY) manage.py seed_demo > var/log/seed.log 2>&1 || { tail -n 40 var/log/seed.log; exit 1; }
	@$(RUN_ENV) $(PY) manage.py setup_schedules >> var/log/seed.log 2>&1 || { tail -n 40 var/log/seed.log; exit 1; }
	@grep -i "login:" var/log/seed.log || true

# The development processes of Procfile.dev under honcho: the web server, the django-q2 clusters (main,
# documents, zoho) and a banner that prints the URL and the logins last, once the site answers. Ctrl-C
# (or SIGTERM to make) stops every one of them within seconds. `make serve` starts them without seeding.
SERVE = PATH="$(abspath $(VENV))/bin:$$PATH" DEV_HOST=$(HOST) DEV_PORT=$(PORT) $(RUN_ENV) $(DEV_SITE) \
	exec $(VENV)/bin/honcho --env $(DEV_ENV) -f Procfile.dev start

run: $(VENV)/.installed-dev seed
	@$(SERVE)

serve: $(VENV)/.installed-dev | $(DEV_ENV)
	@$(SERVE)

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# Issue 20: kill -9 real workers mid invoice run and mid webhook drain, both brokers, on PostgreSQL (a few
# minutes; .ci/run runs it after the suite). Figures: `.venv/bin/python bench/recovery.py`.
test-recovery: install-dev
	RECOVERY_TESTS=1 $(PY) -m pytest -p no:randomly -s -rs tests/recovery

# Issue 18: schemathesis against the OpenAPI schema (customer and staff, in-process on the test database)
# and the docs' promises. `make test` runs the same with 10 examples an operation; this runs more.
test-api: install-dev
	API_FUZZ_EXAMPLES=$${API_FUZZ_EXAMPLES:-50} DJANGO_SETTINGS_MODULE=circletel.settings_test \
	  $(PY) -m pytest -q -p no:randomly tests/test_api_schema_fuzz.py tests/test_api_docs.py

# The model-based test of the books with many more sequences (nightly; PostgreSQL when DATABASE_URL is set).
test-books: install-dev
	BOOKS_EXAMPLES=$${BOOKS_EXAMPLES:-300} BOOKS_STEPS=$${BOOKS_STEPS:-40} BOOKS_RANDOM=1 \
	  $(PY) -m pytest -q -p no:randomly tests/billing/test_books_model.py

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
