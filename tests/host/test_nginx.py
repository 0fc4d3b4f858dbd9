"""nginx serves every site of group_data, as a visitor reaches it."""

import pytest

pytestmark = pytest.mark.hosts("web")


def get(host, site, path: str) -> str:
    """The body nginx on ``host`` answers for ``path`` of ``site`` (by its canonical name)."""
    return host.check_output(f"curl -sS -m 5 -H 'Host: {site.server_names[0]}' 'http://127.0.0.1{path}'")


def test_nginx_is_running_and_enabled(host):
    nginx = host.service("nginx")
    assert nginx.is_running and nginx.is_enabled


def test_live_configuration_is_valid(host):
    assert host.run("nginx -t").rc == 0


def test_site_serves_its_content(host, site):
    assert site.content_expect in get(host, site, site.content_path)


def test_site_answers_its_health_path(host, site):
    assert site.health_expect in get(host, site, site.health_path)


def test_unknown_host_names_get_no_answer(host):
    assert host.run("curl -sS -m 5 -H 'Host: not-a-site.invalid' http://127.0.0.1/").rc == 52  # empty reply
