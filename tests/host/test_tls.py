"""HTTPS on every site with tls: each site's name on each web host answers over HTTPS with
a certificate from the lab's ACME CA (pebble, lab/acme.py) that a client trusting only that
CA verifies; port 80 redirects, except the ACME challenge; a forced renewal reloads nginx
under a visitor's feet without one failed request; and an nginx that already serves a site
of its own is never taken over silently.
"""

import re
import subprocess
import threading
import time
from collections import Counter

import pytest

from holdfast import nginx
from lab import acme
from lab.harness import traffic
from lab.harness.deploys import run_deploy
from lab.topology import LAB
from tests.conftest import append, copy_project

pytestmark = pytest.mark.hosts("web")


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory) -> str:
    """The lab ACME CA's root as a file, for curl on this machine."""
    path = tmp_path_factory.mktemp("ca") / "lab-acme-root.pem"
    path.write_text(acme.issuing_root())
    return str(path)


@pytest.fixture
def tls_site(site):
    if not site.tls:
        pytest.skip("the site has no tls")
    return site


def curl(*arguments: str) -> subprocess.CompletedProcess:
    """curl on this machine (verbose: the certificate's issuer is in stderr)."""
    return subprocess.run(["curl", "-sS", "-v", "-m", "10", *arguments], capture_output=True, text=True)


def test_each_name_is_served_over_https_verified_by_the_lab_ca(target, tls_site, lab_ca):
    """Each name answers with the page, or (WordPress's canonical redirect: www.shop to shop)
    with a redirect to another of its names, followed over HTTPS only, to this host."""
    resolved = [argument for name in tls_site.server_names for argument in ("--resolve", f"{name}:443:{target.address}")]
    for name in tls_site.server_names:
        result = curl("--cacert", lab_ca, *resolved, "-L", "--max-redirs", "2", "--proto-redir", "=https",
                      f"https://{name}{tls_site.content_path}")
        assert result.returncode == 0, result.stderr[-500:]
        assert tls_site.content_expect in result.stdout
        assert re.search(r"issuer: CN=Pebble Intermediate CA", result.stderr), result.stderr[-800:]


def test_https_is_http2_with_hsts(target, tls_site, lab_ca):
    name = tls_site.server_names[0]
    result = curl("--cacert", lab_ca, "--http2", "-o", "/dev/null", "-D", "-",
                  "--resolve", f"{name}:443:{target.address}", f"https://{name}{tls_site.content_path}")
    assert result.stdout.startswith("HTTP/2 200")
    if tls_site.tls.hsts:
        assert f"strict-transport-security: max-age={tls_site.tls.hsts}" in result.stdout.lower()


def test_a_client_without_the_lab_ca_refuses_the_certificate(target, tls_site):
    name = tls_site.server_names[0]
    result = curl("--resolve", f"{name}:443:{target.address}", f"https://{name}/")
    assert result.returncode == 60  # the peer's certificate cannot be verified


def test_port_80_redirects_to_https(target, tls_site):
    name = tls_site.server_names[0]
    result = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", f"Host: {name}",
                  f"http://{target.address}/some/page?x=1")
    assert result.stdout == f"301 https://{name}/some/page?x=1"


def test_acme_challenge_is_answered_on_port_80_by_any_web_host(targets, target, tls_site):
    """A token on one web host is answered by every web host (the CA reaches whichever host
    the name points to), with no redirect."""
    token = f"holdfast-test-{target.name}-{time.time_ns()}"
    path = f"{nginx.ACME_WEBROOT}{nginx.ACME_CHALLENGE_URI}{token}"
    target.testinfra.check_output(f"mkdir -p $(dirname {path}) && echo {token} > {path}")
    try:
        for other in (t for t in targets.values() if "web" in t.groups):
            result = curl("-H", f"Host: {tls_site.server_names[0]}",
                          f"http://{other.address}{nginx.ACME_CHALLENGE_URI}{token}")
            assert result.stdout.strip() == token, (other.name, result.stderr[-300:])
    finally:
        target.testinfra.run(f"rm -f {path}")


def test_private_key_is_root_only(host, site_name, tls_site):
    key = host.file(host.check_output(f"readlink -f {nginx.certificate_paths(site_name, tls_site.tls).key}"))
    assert (key.user, key.mode & 0o077) == ("root", 0)


def test_renewal_is_timed_and_reloads_nginx_through_nginx_t(host, tls_site):
    if tls_site.tls.mode != "acme":
        pytest.skip("certbot renews acme sites only")
    assert host.service("certbot.timer").is_running
    hook = host.file(nginx.DEPLOY_HOOK)
    assert hook.mode & 0o111 and "nginx -t" in hook.content_string


# --- a forced renewal under traffic (lab only) ------------------------------------------


def served_serial(address: str, name: str) -> str:
    with traffic.connect(LAB.client_addresses["office"], address, name, 10, tls=True) as connection:
        return connection.getpeercert()["serialNumber"]


@pytest.mark.disruptive
def test_forced_renewal_reloads_nginx_and_no_visitor_request_fails(host, target, site_name, tls_site):
    if tls_site.tls.mode != "acme":
        pytest.skip("certbot renews acme sites only")
    name = tls_site.server_names[0]
    before = served_serial(target.address, name)
    answers: list[traffic.Answer] = []

    def visitor():  # the office: allow-listed, so no limit answers for it
        answers.extend(traffic.paced(LAB.client_addresses["office"], target.address, name, tls_site.content_path,
                                     count=60, per_second=5, tls=True))

    loop = threading.Thread(target=visitor)
    loop.start()
    time.sleep(2)
    renewal = host.run(f"certbot renew --force-renewal --cert-name {site_name} --no-random-sleep-on-renew")
    loop.join()
    assert renewal.rc == 0, renewal.stderr
    assert Counter(answer.status for answer in answers) == {200: 60}
    assert served_serial(target.address, name) != before


# --- an nginx with a site of its own, before Holdfast's first deploy (lab only) ----------

OTHER_SITE = "/etc/nginx/sites-enabled/blog"
OTHER_NAME = "blog.example.com"
# An nginx as a company had it: Debian's includes, its untouched default site, and a site of
# its own on port 80.
PRE_HOLDFAST = f"""
systemctl stop nginx && mv /etc/nginx/holdfast /etc/nginx/holdfast.before-test &&
printf '%s\\n' 'user www-data; pid /run/nginx.pid; events {{}}' \
  'http {{ include /etc/nginx/mime.types; include /etc/nginx/conf.d/*.conf; include /etc/nginx/sites-enabled/*; }}' \
  > /etc/nginx/nginx.conf &&
mkdir -p /srv/www/blog && echo 'the blog' > /srv/www/blog/index.html &&
printf '%s\\n' 'server {{ listen 80; server_name {OTHER_NAME}; root /srv/www/blog; }}' > {OTHER_SITE} &&
ln -sf /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default &&
systemctl start nginx
"""


@pytest.fixture(scope="module")
def taken_over(pytestconfig, target, tmp_path_factory):
    """The deploys of a web host whose nginx serves a site of its own: as group_data is, then
    with the site kept (edge.keep). Afterwards the site is removed and Holdfast's own
    configuration deployed again."""
    inventory, host = pytestconfig.getoption("inventory"), target.testinfra
    project = copy_project(tmp_path_factory.mktemp("project"))
    host.check_output(PRE_HOLDFAST)
    try:
        refused = run_deploy(inventory, "--limit", target.name, cwd=project)
        served_before = host.run(f"curl -sS -m 5 -H 'Host: {OTHER_NAME}' http://127.0.0.1/").stdout
        append(project / "group_data/lab.py", f'edge = {{**edge, "keep": ["{OTHER_SITE}"]}}')
        kept = run_deploy(inventory, "--limit", target.name, cwd=project)
        blog = host.run(f"curl -sS -m 5 -H 'Host: {OTHER_NAME}' http://127.0.0.1/").stdout
        yield refused, served_before, kept, blog
    finally:
        host.run(f"rm -f {OTHER_SITE}; rm -rf /etc/nginx/holdfast.before-test")
        restored = run_deploy(inventory, "--limit", target.name)
        assert restored.returncode == 0, restored.output[-2000:]


@pytest.mark.disruptive
def test_deploy_refuses_to_drop_a_site_it_does_not_manage(taken_over, target):
    refused, served_before, _, _ = taken_over
    assert refused.returncode != 0
    assert f"invalid group_data for {target.name}" in refused.output
    assert "edge.keep" in refused.output and f"{OTHER_SITE} ({OTHER_NAME})" in refused.output
    assert "sites-enabled/default" not in refused.output  # Debian's, untouched: replaced by Holdfast's catch-all
    assert served_before.strip() == "the blog"  # refused before anything changed


@pytest.mark.disruptive
def test_with_the_site_kept_both_are_served(taken_over, target, tls_site, lab_ca):
    _, _, kept, blog = taken_over
    assert kept.returncode == 0, kept.output[-2000:]
    assert blog.strip() == "the blog"
    name = tls_site.server_names[0]
    result = curl("--cacert", lab_ca, "--resolve", f"{name}:443:{target.address}", f"https://{name}/")
    assert tls_site.content_expect in result.stdout


@pytest.mark.disruptive
def test_a_web_host_certified_after_the_others_gets_its_certificate_in_one_deploy(pytestconfig, targets):
    """A web host added next to certified ones asks the CA, and the CA asks the host holding
    the site's address, which asks its peers for the token: that host's list of peers must
    name the newcomer before the newcomer asks. Here the holder's list names no one who
    answers (as before a host was added), and the newcomer's certificate is deleted: one
    deploy puts the holder's peers back first, and the newcomer gets its certificate."""
    web = [target for target in targets.values() if "web" in target.groups]
    if len(web) < 2:
        pytest.skip("needs two web hosts")
    [(site_name, service)] = web[0].settings.failover.sites.items()
    site = web[0].settings.sites[site_name]
    if not (site.tls and site.tls.mode == "acme"):
        pytest.skip("the site has no certificate from an ACME CA")
    [holder] = [target for target in web if f" {service.address}/" in target.testinfra.check_output(
        "ip -4 -br addr show dev host0")]
    newcomer = next(target for target in web if target is not holder)
    edge = f"{nginx.CONFIG_DIR}/edge.conf"
    holder.testinfra.check_output(
        f"sed -i '/^upstream holdfast_acme_peers {{/,/^}}/ s/^    server .*;$/    server 127.0.0.2:9;/' {edge} "
        "&& nginx -t -q && systemctl reload nginx")
    newcomer.testinfra.check_output(f"certbot delete --non-interactive --cert-name {site_name}")
    chain = nginx.certificate_paths(site_name, site.tls).chain
    try:
        deployed = run_deploy(pytestconfig.getoption("inventory"))
        assert deployed.returncode == 0, "\n".join(
            line for line in deployed.output.splitlines() if f"[{newcomer.name}]" in line)[-3000:]
        assert f"server {newcomer.address}:80;" in holder.testinfra.file(edge).content_string
        assert newcomer.testinfra.file(chain).exists
    finally:
        if not newcomer.testinfra.file(chain).exists:  # the next deploy gets it: the holder's peers are back
            restored = run_deploy(pytestconfig.getoption("inventory"))
            assert restored.returncode == 0, restored.output[-2000:]
