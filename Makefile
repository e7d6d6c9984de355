# Descent: `make book` builds the website, `make test` runs everything CI checks.
# Both create .venv on first use; nothing else needs installing by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# nbgrader shells out to alembic: the venv's bin must come first on PATH.
export PATH := $(BIN):$(PATH)
# Every assignment in solutions/ (a folder holding <id>/<id>.ipynb), numbered or not.
CHAPTERS := $(patsubst solutions/%/,%,$(dir $(wildcard solutions/*/*.ipynb)))
ASSIGNMENT ?=
SUBMISSIONS ?=
OUT ?= .grading/results/$(ASSIGNMENT)
# JupyterLab opens Markdown (the book's MyST pages) as notebooks, via jupytext.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

.PHONY: help venv book book-clean lab lab-full lab-extras release grade hub test lint lock clean screenshots

help:
	@echo "make book      build the website into _build/html (creates .venv on first use)"
	@echo "make test      everything CI checks: lint, checks, notebooks, grading, strict book build"
	@echo "make lab       JupyterLab on notebooks/ (book/*.md open as live notebooks too)"
	@echo "make release   regenerate notebooks/ from solutions/ (nbgrader generate_assignment)"
	@echo "make grade ASSIGNMENT=01_activations SUBMISSIONS=path [OUT=dir] [WORKERS=n] [DB=url] [SOURCE=dir] [SITE_URL=url] [CLUSTER=dask-scheduler-address]"
	@echo "make lab-full [DEVICE=cuda]  chapter 09's full optimizer comparison -> book/_data/lenet_lab[_cuda].json"
	@echo "make lab-extras  LeNet-5 with schedules, EMA/SWA, BatchNorm (ch 06-08) -> book/_data/lenet_extras.json"
	@echo "sudo make hub  the course on a JupyterHub at http://127.0.0.1:8000 (students, TA, instructor; formgrader; exchange)"
	@echo "make screenshots  PNGs of the site and of JupyterLab for the README (docs/screenshots/)"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

book: venv
	DESCENT_STATIC=1 $(BIN)/jupyter-book build . --keep-going
	@echo "Open file://$(CURDIR)/_build/html/index.html"

book-clean:
	rm -rf _build

$(LAB_SETTINGS): lab-overrides.json $(STAMP)
	@mkdir -p $(dir $@) && cp $< $@

lab: venv $(LAB_SETTINGS)
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)

# Needs Chromium (apt-get install chromium); see scripts/screenshots.py.
screenshots: book
	$(BIN)/python scripts/screenshots.py

# Chapters 06-08's LeNet-5 runs (about 3 min on one CPU thread): the pages plot the cache.
lab-extras: venv
	$(BIN)/python scripts/lenet_extras.py

# Chapter 09's full experiment (long on a CPU): the page plots the cache it writes.
lab-full: venv
	$(BIN)/python scripts/lenet_full.py $(if $(DEVICE),--device $(DEVICE))

release: venv
	@mkdir -p .grading
	cd autograder && for id in $(sort $(CHAPTERS)); do \
		$(BIN)/nbgrader generate_assignment $$id --force || exit 1; done

grade: venv
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" || \
		{ echo "usage: make grade ASSIGNMENT=01_activations SUBMISSIONS=folder-or-zip [OUT=dir] [WORKERS=n] [DB=url]"; exit 2; }
	$(BIN)/python -m autograder grade $(ASSIGNMENT) $(SUBMISSIONS) --out $(OUT) \
		$(if $(WORKERS),--workers $(WORKERS)) $(if $(DB),--db $(DB)) $(if $(SOURCE),--source $(SOURCE)) \
		$(if $(SITE_URL),--site-url $(SITE_URL)) $(if $(CLUSTER),--cluster $(CLUSTER))

# The course on a JupyterHub on this machine (deploy/local/hub.py says what it sets up). Root:
# it creates the course's local users. Its proxy comes from npm (apt-get install nodejs npm).
HUB_PROXY := .hub/proxy/node_modules/.bin/configurable-http-proxy
$(HUB_PROXY):
	npm install --silent --no-audit --no-fund --prefix .hub/proxy configurable-http-proxy@5.3.0

hub: venv $(HUB_PROXY) $(LAB_SETTINGS)
	$(BIN)/python deploy/local/hub.py

lint: venv
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

# Resolve requirements*.txt afresh (no constraints) and pin the result.
lock:
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	( echo "# Every package of the course's environment, pinned: pip install -c constraints.txt."; \
	  echo "# Regenerate with \`make lock\` after changing requirements*.txt."; \
	  $(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' | grep -v '^descent' ) > constraints.txt

clean:
	rm -rf _build .grading .pytest_cache
