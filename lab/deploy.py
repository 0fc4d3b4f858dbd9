"""The lab's own deploy (`make lab` runs it): what production has and Holdfast does not
install. Debian's nginx and Monit, then WordPress (with MariaDB and PHP-FPM) and its faults
on the web hosts; the mail sink and the ACME CA (pebble) on the monitor host, whose roots
every host trusts; last, the web hosts' state before Holdfast is noted."""

from pyinfra import host

from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP
from lab.acme import deploy_lab_trust, deploy_pebble
from lab.before import deploy_debian_edge, note_state_before
from lab.mailsink import deploy_mail_sink
from lab.site import deploy_standin
from lab.wordpress import deploy_wordpress

if WATCHED_GROUP in host.groups:
    deploy_debian_edge()
    deploy_wordpress()
    deploy_standin()
if MONITOR_GROUP in host.groups:
    deploy_mail_sink()
    deploy_pebble()
deploy_lab_trust()  # after pebble started: each start makes a new root
if WATCHED_GROUP in host.groups:
    note_state_before()  # last
