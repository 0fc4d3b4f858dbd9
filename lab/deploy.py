"""The lab's own deploy (`make lab` runs it): what production has and Holdfast does not
install. WordPress and its faults on the web hosts, the mail sink on the monitor host."""

from pyinfra import host

from holdfast.inventory import MONITOR_GROUP, WATCHED_GROUP
from lab.mailsink import deploy_mail_sink
from lab.site import deploy_standin
from lab.wordpress import deploy_wordpress

if WATCHED_GROUP in host.groups:
    deploy_wordpress()
    deploy_standin()
if MONITOR_GROUP in host.groups:
    deploy_mail_sink()
