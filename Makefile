# Holdfast. Quick start: `make demo` (lab + deploy) and `make test` (the whole suite).
# Every target does its own set-up and is safe to run again.

PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
PYINFRA   := $(VENV)/bin/pyinfra
# Each pytest run has a temporary directory of its own (per checkout and target), emptied
# when it starts: pytest's clean-up of older runs' numbered directories under
# /tmp/pytest-of-<user> once failed at the end of a green host run (EMFILE).
PYTEST     = $(VENV)/bin/pytest --basetemp=$(or $(TMPDIR),/tmp)/holdfast-pytest-$(CHECKOUT)-$@
CHECKOUT  := $(shell printf %s "$(CURDIR)" | md5sum | cut -c1-8)
INVENTORY ?= inventories/lab.py
# Where an inventory and its group_data/ are: the lab's in lab/fleet (the sample fleet the
# tests expect), any other in the repository (group_data/, inventories/prod.py: your own).
project_of = $(if $(filter inventories/lab.py,$(1)),lab/fleet,.)
# A command run in the project of inventory $(1), with the repository's code and config.py.
in_project = cd $(call project_of,$(1)) && PYTHONPATH=$(CURDIR)
RUN_PYINFRA = $(abspath $(PYINFRA)) --config $(CURDIR)/config.py
# `make check` reads production's inventory unless INVENTORY is given.
CHECK_INVENTORY := $(if $(filter command line environment,$(origin INVENTORY)),$(INVENTORY),inventories/prod.py)
# Which inventory a target acts on, said before it starts (the lab's is the default).
say_inventory = @echo "$@: inventory $(INVENTORY)$(if $(filter inventories/lab.py,$(INVENTORY)), (the lab; production: INVENTORY=inventories/prod.py))"
# The lab's heartbeats ping the lab's Healthchecks.io double with this key (lab/fleet/group_data/lab.py
# names it); production's ping key is another variable, HOLDFAST_HEALTHCHECKS_PING_KEY.
export HOLDFAST_LAB_PING_KEY ?= lab-ping-key
# Likewise the lab's chat webhook (the secret part of its URL) and PagerDuty routing key,
# for the doubles tests/host/test_channels.py serves; production's are HOLDFAST_SLACK_WEBHOOK
# and HOLDFAST_PAGERDUTY_ROUTING_KEY.
export HOLDFAST_LAB_CHAT_KEY ?= T0LAB/B0LAB/lab-chat-key
export HOLDFAST_LAB_PAGERDUTY_KEY ?= labpagerdutyroutingkey0000000000
# The password of the lab's database replication (production's: HOLDFAST_DB_REPLICATION_PASSWORD).
export HOLDFAST_LAB_REPLICATION_PASSWORD ?= lab-replication-password

.PHONY: demo test unit check mutation machine-check lab-check lab lab-down deploy verify cut-off cut-off-first audit ack status maintenance end promote rollback uninstall runbook drill bench clean

demo: lab deploy
	@$(PY) -m lab status

test: unit lab-check lab deploy verify

# The alert rules' tests run promtool (Debian's prometheus package) on this machine.
unit: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	command -v promtool >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; }
	$(PYTEST) tests/unit

# Mutation testing (mutmut 3, not part of `make test`): how many deliberate changes to the
# modules of holdfast/ the unit tests catch; each survivor is listed, `.venv/bin/mutmut show
# <name>` prints its change. Starts afresh: slow (minutes per module, about an hour in all).
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
	$(call in_project,inventories/lab.py) $(RUN_PYINFRA) -y inventories/lab.py $(CURDIR)/lab/deploy.py

lab-down: $(VENV)/.installed
	$(PY) -m lab down

# Offline, no SSH: group_data validated for every host of the inventory, every file
# rendered and checked (crossplane, gixy; promtool, amtool where installed), the audit's
# inventory-wide rules. Production's inventory by default.
check: $(VENV)/.installed
	$(call in_project,$(CHECK_INVENTORY)) $(abspath $(PY)) -m holdfast check $(CHECK_INVENTORY)

deploy: $(VENV)/.installed
	$(say_inventory)
	$(call in_project,$(INVENTORY)) $(RUN_PYINFRA) -y $(INVENTORY) $(CURDIR)/deploy.py

verify: $(VENV)/.installed
	$(say_inventory)
	$(PYTEST) tests/host --inventory $(INVENTORY) --durations=25

# Deploys of every lab host SIGKILLed at each of twelve cut points, the monitor host's swaps
# among them (`make verify` cuts one web host's deploy at four).
cut-off: $(VENV)/.installed
	$(PYTEST) tests/host/test_cut_off.py --inventory $(INVENTORY) --cut-every-host

# A fresh lab's first deploy (of one web host) SIGKILLed at ten points, each run further on.
cut-off-first: $(VENV)/.installed
	$(PY) -m lab down
	$(MAKE) lab
	$(PYTEST) tests/host/test_cut_off.py --inventory $(INVENTORY) --first-deploy -k first_deploy

# The single-point-of-failure audit alone: reads the hosts, changes nothing.
audit: $(VENV)/.installed
	$(say_inventory)
	$(call in_project,$(INVENTORY)) $(RUN_PYINFRA) -y --dry $(INVENTORY) $(CURDIR)/audit.py

# Acknowledge an alert: a silence on the monitor hosts' Alertmanager, so no later tier is
# paged for it: make ack ALERT=SiteDown FOR=2h COMMENT="why" [HOST=web1] [BY=$USER].
ack: $(VENV)/.installed
	$(call in_project,$(INVENTORY)) $(abspath $(PY)) -m holdfast.ack --inventory $(INVENTORY) --alert "$(ALERT)" --for "$(FOR)" --comment "$(COMMENT)" \
		--host "$(HOST)" --by "$(BY)"

# The fleet at a glance (reads, changes nothing); STATUS_FLAGS=--json for JSON.
status: $(VENV)/.installed
	$(call in_project,$(INVENTORY)) $(abspath $(PY)) -m holdfast status $(INVENTORY) $(STATUS_FLAGS)

# make maintenance HOST=web1 FOR=30m REASON="kernel update" [SERVICES="nginx php8.2-fpm"]
# make maintenance HOST=web1 end
maintenance: $(VENV)/.installed
	$(call in_project,$(INVENTORY)) $(abspath $(PY)) -m holdfast maintenance $(INVENTORY) "$(HOST)" \
	  $(if $(filter end,$(MAKECMDGOALS)),--end,--for "$(FOR)" --reason "$(REASON)" --services "$(SERVICES)")
end:
	@:

# make promote HOST=web2: web2's database replica becomes the primary, once group_data says so
# (failover.database.primary, and web2 the peer of highest priority); deployed to web2 and the
# monitors (the old primary may be down). The old primary becomes the replica at the next deploy.
promote: $(VENV)/.installed
	$(if $(HOST),,$(error HOST=<host> is required, e.g. make promote HOST=web2))
	$(say_inventory)
	$(call in_project,$(INVENTORY)) $(abspath $(PY)) -m holdfast promote $(INVENTORY) "$(HOST)"
	$(call in_project,$(INVENTORY)) $(RUN_PYINFRA) -y $(INVENTORY) $(CURDIR)/deploy.py --limit "$(HOST)" --limit monitors

# make rollback HOST=web1 CONFIG=nginx: the files the last deploy replaced, put back (validated).
rollback: $(VENV)/.installed
	$(if $(HOST),,$(error HOST=<host> is required, e.g. make rollback HOST=web1 CONFIG=nginx))
	$(say_inventory)
	$(call in_project,$(INVENTORY)) $(RUN_PYINFRA) -y $(INVENTORY) $(CURDIR)/rollback.py --limit "$(HOST)" --data rollback="$(CONFIG)"

# make uninstall HOST=web2: Holdfast's footprint removed, what was there before put back
# (validated); its hosted monitors of the host deleted.
uninstall: $(VENV)/.installed
	$(if $(HOST),,$(error HOST=<host> is required, e.g. make uninstall HOST=web2))
	$(say_inventory)
	$(call in_project,$(INVENTORY)) $(RUN_PYINFRA) -y $(INVENTORY) $(CURDIR)/uninstall.py --limit "$(HOST)"

# docs/RUNBOOK.md from the escalation plan and the production inventory (a unit test
# fails while the committed one differs).
runbook: $(VENV)/.installed
	$(PY) -m holdfast.runbook > docs/RUNBOOK.md

# The seed's outage replayed on the lab, with and without Holdfast: table, JSON, PNG.
drill: $(VENV)/.installed
	$(PY) -m bench.drill $(if $(SCENARIO),--scenario $(SCENARIO))

bench: $(VENV)/.installed
	$(PY) -m bench.deploy_times
	$(PY) -m bench.ssh_latency
	$(PY) -m bench.edge_flood
	$(PY) -m bench.monit_reaction
	$(PY) -m bench.failover
	$(PY) -m bench.wordpress_capacity

clean:
	rm -rf $(VENV)

# The virtualenv, with the exact versions of requirements.txt.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV) || { apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@
