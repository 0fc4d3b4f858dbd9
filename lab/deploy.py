"""The lab's own deploy (`make lab` runs it): what production has and Holdfast does not
install. WordPress and its faults on the web hosts, the mail sink on the monitor host."""

from pyinfra import host

from lab.mailsink import deploy_mail_sink
from lab.site import deploy_standin
from lab.wordpress import deploy_wordpress

if "web" in host.groups:
    deploy_wordpress()
    deploy_standin()
if "monitors" in host.groups:
    deploy_mail_sink()
