"""group_data validation: the sample data is valid, and bad values are refused with a
message naming the file, the key, the value and the expected form."""

import pytest

from holdfast import reference
from holdfast.settings import Fallback
from tests.conftest import FLEET, REPO, append, edit, load_settings, settings_error


@pytest.mark.parametrize("inventory", ["inventories/lab.py", "inventories/prod.py"])
def test_sample_group_data_is_valid(inventory, monkeypatch):
    monkeypatch.chdir(FLEET)
    loaded = load_settings(inventory)
    assert len(loaded) == 3
    assert all(host.escalation.tiers for host in loaded.values())


def test_lab_hosts_get_the_lab_overrides(monkeypatch):
    monkeypatch.chdir(FLEET)
    loaded = load_settings()
    assert loaded["web1"].disposable and loaded["web1"].mail.relay == "mon1"
    assert not any(host.disposable for host in load_settings("inventories/prod.py").values())


def test_defaults_are_applied_and_parsed(monkeypatch):
    monkeypatch.chdir(FLEET)
    assert load_settings()["mon1"].apt.cache_time == 3600
    assert load_settings()["mon1"].sites == {}


def test_typo_in_a_top_level_key_names_file_and_suggests(project_copy):
    edit(project_copy / "group_data/web.py", "services = {", "servics = {")
    message = settings_error()
    assert "group_data/web.py: servics: unknown key; did you mean 'services'?" in message


def test_typo_in_a_nested_key(project_copy):
    edit(project_copy / "group_data/web.py", '"health_path":', '"helth_path":')
    assert "group_data/web.py: sites.shop.helth_path" in settings_error()
    assert "did you mean 'health_path'?" in settings_error()


def test_an_unknown_key_like_no_other_lists_the_keys_of_its_place(project_copy):
    """Four levels down (sites.shop.fallback.<key>): the keys of a site's fallback, not of a site."""
    edit(project_copy / "group_data/web.py", '"health_path":', '"fallback": {"zzzz": 1}, "health_path":')
    assert (f"group_data/web.py: sites.shop.fallback.zzzz = 1: unknown key; known keys: "
            f"{', '.join(Fallback.model_fields)}" in settings_error())


def test_string_where_a_number_belongs(project_copy):
    edit(project_copy / "group_data/lab.py", '"port": 25,', '"port": "twenty-five",')
    assert "group_data/lab.py: mail.port = 'twenty-five': expected a whole number" in settings_error()


def test_out_of_range(project_copy):
    edit(project_copy / "group_data/all.py", '"port": 587,', '"port": 70000,')
    assert "group_data/all.py: mail.port = 70000: expected less than or equal to 65535" in settings_error(
        "inventories/prod.py"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"escalate_after": "15m"', '"escalate_after": "a while"', "escalation.tiers[1].escalate_after = 'a while': expected a duration"),
        ('"escalate_after": "15m"', '"escalate_after": -5', "escalation.tiers[1].escalate_after = -5: expected a duration"),
        ('"alice@example.com"', '"alice at example"', "escalation.contacts.alice.email = 'alice at example': expected an email address"),
        ('"members": ["alice", "bob"]', '"members": ["alice", "bobby"]', "escalation.tiers[0].members = 'bobby': expected a key of escalation.contacts"),
        ('"members": ["alice", "bob"]', '"members": ["alice", "alice"]', "listed more than once: alice"),
        ('"channels": ["email", "chat"]', '"channels": ["email", "pager"]', "channels[1] = 'pager': expected 'email', 'phone', 'sms' or 'chat'"),
    ],
)
@pytest.mark.parametrize("inventory", ["inventories/prod.py", "inventories/lab.py"])
def test_bad_escalation_values(project_copy, old, new, expected, inventory):
    # The lab's plan is built from production's (group_data/lab.py): its copy names all.py too.
    edit(project_copy / "group_data/all.py", old, new)
    message = settings_error(inventory)
    assert "group_data/all.py: " in message and expected in message


def test_the_lab_waits_at_most_90_s_and_takes_shorter_waits(project_copy):
    assert [tier.escalate_after for tier in load_settings()["mon1"].escalation.tiers] == [0, 90]
    edit(project_copy / "group_data/all.py", '"escalate_after": "15m"', '"escalate_after": "20s"')
    assert [tier.escalate_after for tier in load_settings()["mon1"].escalation.tiers] == [0, 20]


def test_a_bad_value_of_the_labs_own_names_lab_py(project_copy):
    edit(project_copy / "group_data/lab.py", '"provider": "pagerduty"', '"provider": "pagerduty2"')
    assert "group_data/lab.py: escalation.providers.phone.provider = 'pagerduty2'" in settings_error()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"unit": "php8.2-fpm.service"', '"unit": "php8.2-fpm"', "services.php-fpm.unit = 'php8.2-fpm': expected a systemd unit name"),
        ('"service": "php-fpm"', '"service": "php"', "sites.shop.backend.service = 'php': expected a key of services (php-fpm, mariadb)"),
        ('"unix:/run/php/php8.2-fpm.sock"', '"localhost:http"', "sites.shop.backend.address = 'localhost:http': expected 'unix:/path/to.sock' or 'host:port'"),
        ('"root": "/usr/share/wordpress"', '"root": "usr/share"', "sites.shop.root = 'usr/share': expected an absolute path"),
        ('"shop.example.com", "www', '"shop example.com", "www', "sites.shop.server_names[0] = 'shop example.com': expected a hostname"),
    ],
)
def test_bad_site_values(project_copy, old, new, expected):
    edit(project_copy / "group_data/web.py", old, new)
    message = settings_error()
    assert "group_data/web.py: " in message and expected in message


def test_every_problem_is_reported_once(project_copy):
    edit(project_copy / "group_data/web.py", "services = {", "servics = {")
    edit(project_copy / "group_data/all.py", '"escalate_after": "15m"', '"escalate_after": "soon"')
    message = settings_error("inventories/prod.py")
    assert message.count("servics") == 1  # two web hosts, one message
    assert message.count("soon") == 1


def test_a_required_key_missing(project_copy):
    edit(project_copy / "group_data/web.py", '"content_expect": "Welcome to the shop",', "")
    assert "group_data/web.py: sites.shop.content_expect: required, but not set" in settings_error()


def test_pyinfra_keys_are_not_typos(project_copy):
    append(project_copy / "group_data/web.py", "_sudo = True\nssh_port = 22\n_helper = 'ignored'")
    assert load_settings()["web1"].sites


DOCKER = "other_packages_keys = ['docker_*']\ndocker_version = '27.3'"


def test_a_key_declared_as_another_packages_passes(project_copy):
    append(project_copy / "group_data/all.py", DOCKER)
    assert load_settings()["web1"].other_packages_keys == ["docker_*"]


def test_a_typo_still_stops_the_deploy_beside_declared_keys(project_copy):
    append(project_copy / "group_data/all.py", DOCKER)
    edit(project_copy / "group_data/web.py", "services = {", "servces = {")
    message = settings_error()
    assert "group_data/web.py: servces: unknown key; did you mean 'services'?" in message
    assert "docker_version" not in message


def test_an_undeclared_key_of_another_package_stops_the_deploy(project_copy):
    append(project_copy / "group_data/all.py", "docker_version = '27.3'")
    assert ("group_data/all.py: docker_version: unknown key; if another pyinfra package reads it, add a pattern "
            "matching it to other_packages_keys") in settings_error()


def test_a_pattern_cannot_claim_holdfast_keys(project_copy):
    append(project_copy / "group_data/all.py", "other_packages_keys = ['docker_*', 's*']")
    assert ("group_data/all.py: other_packages_keys[1] = 's*': expected a pattern matching none of Holdfast's keys "
            "(it matches services, sites, slices, slice_budget)") in settings_error()


def test_a_problem_only_the_web_hosts_have_is_reported_beside_their_sites(project_copy):
    # The web hosts' other checks (their sites, ...) add to what was found before, not replace it.
    append(project_copy / "group_data/web.py", "other_packages_keys = ['slic*']")
    assert ("group_data/web.py: other_packages_keys[0] = 'slic*': expected a pattern matching none of Holdfast's "
            "keys (it matches slices, slice_budget)") in settings_error()


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('"start_timeout": "60s",', '"start_timeout": "60s", "memory_limit": "1G",',
     "services.mariadb.supervision.memory_limit = 1073741824: expected less than MemoryMax of slice database "
     "(805306368): the OOM killer acts first"),
    ('"slice": "database",', '"slice": "databse",',
     "services.mariadb.slice = 'databse': expected a key of slices (critical, web, database, batch)"),
], ids=["its-memory", "its-slice"])
def test_a_service_without_a_slice_does_not_end_the_check_of_the_next(project_copy, old, new, expected):
    edit(project_copy / "group_data/web.py", '"slice": "web",', "")  # php-fpm, listed first
    edit(project_copy / "group_data/web.py", old, new)
    assert expected in settings_error()


def test_a_slice_s_memory_as_a_share_of_the_host_s_is_not_compared_with_monit_s_limit(project_copy):
    # Monit's memory_limit is bytes; "50%" is known only on the host: nothing to compare here.
    edit(project_copy / "group_data/web.py", '"MemoryMax": "512M",', '"MemoryMax": "50%",')
    assert load_settings()["web1"].slices["web"].MemoryMax == "50%"


def test_a_name_pointing_into_an_empty_section_says_none_is_defined(project_copy):
    append(project_copy / "group_data/web.py", "slices = {}")
    assert "services.php-fpm.slice = 'web': expected a key of slices (none defined)" in settings_error()


def test_a_unit_two_services_place_names_the_first(project_copy):
    edit(project_copy / "group_data/web.py", '"unit": "mariadb.service",', '"unit": "php8.2-fpm.service",')
    assert ("services.mariadb.unit = 'php8.2-fpm.service': already placed by services.php-fpm.unit"
            in settings_error())


def test_reference_doc_is_current():
    assert (REPO / "docs/settings.md").read_text() == reference.reference(), (
        "docs/settings.md is stale: run `.venv/bin/python -m holdfast.reference > docs/settings.md`"
    )


@pytest.mark.parametrize(("max_size", "expected"), [
    ("100m", "sites.shop.stale_cache.max_size = '100m': expected the sites' caches and a quarter more (131072000 "
             "bytes) below MemoryMax of slice critical (104857600), nginx's: they are held in its memory"),
    ("64m", None),
], ids=["too-large", "fits"])
def test_caches_nginx_s_slice_has_no_memory_for_are_refused(project_copy, max_size, expected):
    # The caches' tmpfs is charged to nginx.service, in the critical slice.
    edit(project_copy / "group_data/web.py", '"MemoryLow": "256M",  # reserved for them',
         '"MemoryLow": "64M", "MemoryMax": "100M",')
    edit(project_copy / "group_data/web.py", '"valid": "10s",', f'"valid": "10s", "max_size": "{max_size}",')
    if expected:
        assert expected in settings_error()
    else:
        assert load_settings()["web1"].cache_memory == 83886080
