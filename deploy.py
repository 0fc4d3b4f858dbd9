"""Holdfast: one call per capability, per group of hosts.

    pyinfra inventories/prod.py deploy.py
"""

from pyinfra import host

from holdfast import audit, base, nginx, php_fpm, replication, slices
from holdfast.audit import deploy_audit
from holdfast.bans import deploy_bans
from holdfast.base import deploy_base
from holdfast.copies import deploy_copies
from holdfast.deploy_lock import release_deploy_lock, take_deploy_lock
from holdfast.failover import deploy_failover
from holdfast.firewall import deploy_firewall
from holdfast.hosted_monitors import deploy_heartbeat, deploy_hosted_monitors
from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP
from holdfast.monit import deploy_monit
from holdfast.monitoring import deploy_monitor_host, deploy_node_exporter
from holdfast.nginx import deploy_nginx
from holdfast.php_fpm import deploy_php_fpm
from holdfast.planning import read_together
from holdfast.replication import deploy_replication
from holdfast.slices import deploy_slices
from holdfast.tuning import place_and_type_operations_once, send_without_delay

place_and_type_operations_once()  # pyinfra's own cost per operation, cut (holdfast/tuning.py)
send_without_delay()  # each SSH command some 40 ms sooner
take_deploy_lock()  # the first operation: nothing runs on a host another deploy holds
# What the capabilities read of the host to plan them, in one command:
read_together(audit.reads, base.reads, slices.reads, php_fpm.reads, nginx.reads, replication.reads)
deploy_audit()
deploy_base()
deploy_firewall()  # early: what the later steps start listening is already filtered
deploy_heartbeat()

if WATCHED_GROUP in host.groups:
    deploy_slices()  # first: a service installed after it starts in its slice
    deploy_php_fpm()  # before nginx: the pool listens where nginx sends
    deploy_nginx()
    deploy_bans()  # after nginx: its jail reads what nginx refuses
    deploy_failover()  # after nginx: its track script checks the site through nginx
    deploy_replication()  # the database of the host the address moves to
    deploy_copies()  # and the files the site serves
    deploy_node_exporter()

if MONITOR_GROUP in host.groups:
    deploy_monitor_host()

deploy_monit()  # after what it supervises is installed

# Once per deploy, from the control machine; last, so that a provider failing while the
# deploy runs keeps no host from its configuration.
deploy_hosted_monitors()

release_deploy_lock()  # last
