"""The nginx configuration rendered from the sample group_data."""

import pytest

from holdfast import nginx, settings
from tests.conftest import REPO


@pytest.fixture(scope="module")
def web_settings():
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        return settings.load(settings.read_inventory("inventories/prod.py"))["web1.example.com"]


def test_one_server_file_per_site_besides_nginx_conf(web_settings):
    paths = [file.path for file in nginx.config_files(web_settings)]
    assert paths == ["/etc/nginx/nginx.conf", *(f"{nginx.SITES_DIR}/{name}.conf" for name in web_settings.sites)]


def test_site_file_names_its_hosts_and_backend(web_settings):
    for file in nginx.config_files(web_settings)[1:]:
        name = file.path.rsplit("/", 1)[1].removesuffix(".conf")
        site = web_settings.sites[name]
        assert f"server_name {' '.join(site.server_names)};" in file.content
        assert f"server {site.backend.address};" in file.content
