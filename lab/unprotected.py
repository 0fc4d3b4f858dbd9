"""Deploy file of the drill's unprotected twin lab (bench/drill): what the lab's own deploy
puts on a web host, and the site behind a plain nginx. Never Holdfast's deploy.py."""

from pyinfra import host

from holdfast.inventory import WATCHED_GROUP
from lab.plain import deploy_plain_nginx, deploy_probe_tools
from lab.site import deploy_standin
from lab.wordpress import deploy_wordpress

deploy_probe_tools()
if WATCHED_GROUP in host.groups:
    deploy_wordpress()
    deploy_standin()
    deploy_plain_nginx()
