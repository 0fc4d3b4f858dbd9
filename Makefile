# Holdfast. Quick start: `make demo` (lab + deploy) and `make test` (the whole suite).
# Every target does its own set-up and is safe to run again.

PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
PYINFRA   := $(VENV)/bin/pyinfra
PYTEST    := $(VENV)/bin/pytest
INVENTORY ?= inventories/lab.py
# The lab's heartbeats ping the lab's Healthchecks.io double with this key (group_data/lab.py
# names it); production's ping key is another variable, HOLDFAST_HEALTHCHECKS_PING_KEY.
export HOLDFAST_LAB_PING_KEY ?= lab-ping-key

.PHONY: demo test unit mutation machine-check lab-check lab lab-down deploy verify cut-off cut-off-first audit status maintenance end rollback runbook drill bench clean

demo: lab deploy
	@$(PY) -m lab status

test: unit lab-check lab deploy verify

unit: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PYTEST) tests/unit

# Mutation testing (mutmut 3, not part of `make test`): how many deliberate changes to the
# modules of [tool.mutmut] only_mutate (pyproject.toml) the unit tests catch; each survivor
# is listed, `.venv/bin/mutmut show <name>` prints its change. Starts afresh: slow (minutes
# per module).
mutation: $(VENV)/.installed
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

# lab down leaves no trace, lab up brings the same hosts back (run as root, on the machine).
lab-check: $(VENV)/.installed
	$(PYTEST) tests/lab

# Whether this machine can run the lab (root, cgroup v1 controllers, the tools), with the
# machine's own python3 before anything is installed: a machine that cannot stops here.
machine-check:
	@$(PYTHON) lab/prerequisites.py

lab: machine-check $(VENV)/.installed
	$(PY) -m lab up
	$(PYINFRA) -y inventories/lab.py lab/deploy.py

lab-down: $(VENV)/.installed
	$(PY) -m lab down

deploy: $(VENV)/.installed
	$(PYINFRA) -y $(INVENTORY) deploy.py

verify: $(VENV)/.installed
	$(PYTEST) tests/host --inventory $(INVENTORY) --durations=25

# Deploys of every lab host SIGKILLed at each cut point (`make verify` cuts one web host's).
cut-off: $(VENV)/.installed
	$(PYTEST) tests/host/test_cut_off.py --inventory $(INVENTORY) --cut-every-host

# A fresh lab's first deploy (of one web host) SIGKILLed at ten points, each run further on.
cut-off-first: $(VENV)/.installed
	$(PY) -m lab down
	$(MAKE) lab
	$(PYTEST) tests/host/test_cut_off.py --inventory $(INVENTORY) --first-deploy -k first_deploy

# The single-point-of-failure audit alone: reads the hosts, changes nothing.
audit: $(VENV)/.installed
	$(PYINFRA) -y --dry $(INVENTORY) audit.py

# The fleet at a glance (reads, changes nothing); STATUS_FLAGS=--json for JSON.
status: $(VENV)/.installed
	$(PY) -m holdfast status $(INVENTORY) $(STATUS_FLAGS)

# make maintenance HOST=web1 FOR=30m REASON="kernel update" [SERVICES="nginx php8.2-fpm"]
# make maintenance HOST=web1 end
maintenance: $(VENV)/.installed
	$(PY) -m holdfast maintenance $(INVENTORY) "$(HOST)" \
	  $(if $(filter end,$(MAKECMDGOALS)),--end,--for "$(FOR)" --reason "$(REASON)" --services "$(SERVICES)")
end:
	@:

# make rollback HOST=web1 CONFIG=nginx: the files the last deploy replaced, put back (validated).
rollback: $(VENV)/.installed
	$(if $(HOST),,$(error HOST=<host> is required, e.g. make rollback HOST=web1 CONFIG=nginx))
	$(PYINFRA) -y $(INVENTORY) rollback.py --limit "$(HOST)" --data rollback="$(CONFIG)"

# docs/RUNBOOK.md from the escalation plan and the production inventory (a unit test
# fails while the committed one differs).
runbook: $(VENV)/.installed
	$(PY) -m holdfast.runbook > docs/RUNBOOK.md

# The seed's outage replayed on the lab, with and without Holdfast: table, JSON, PNG.
drill: $(VENV)/.installed
	$(PY) -m bench.drill

bench: $(VENV)/.installed
	$(PY) -m bench.deploy_times
	$(PY) -m bench.ssh_latency
	$(PY) -m bench.edge_flood
	$(PY) -m bench.monit_reaction
	$(PY) -m bench.wordpress_capacity

clean:
	rm -rf $(VENV)

# The virtualenv, with the exact versions of requirements.txt.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@
