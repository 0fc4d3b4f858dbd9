"""The hosted monitor providers, for real over HTTP, against local doubles of UptimeRobot
and Healthchecks.io (lab/doubles/): what a reconcile creates, updates and deletes, what
it never touches, and how it copes with rate limits, bad keys and pagination."""

import email.message
import socket
import threading
import time
import urllib.error
from datetime import UTC, datetime

import pytest

from holdfast import providers, settings, status
from holdfast.providers import api as api_module
from holdfast.providers import healthchecks
from holdfast.providers.api import ProviderError
from holdfast.providers.model import Existing, Wanted, changes
from lab.doubles import Answer
from lab.doubles.healthchecks import HealthchecksDouble
from lab.doubles.uptimerobot import UptimeRobotDouble
from tests.conftest import FLEET, load_settings

# Short on purpose: test values, not secrets.
KEYS = {"uptimerobot": "ur-key", "healthchecks": "hc-key"}
ENVIRONMENT = {
    "HOLDFAST_UPTIMEROBOT_API_KEY": KEYS["uptimerobot"],
    "HOLDFAST_HEALTHCHECKS_API_KEY": KEYS["healthchecks"],
}
PROVIDERS = list(providers.PROVIDERS)


@pytest.fixture
def robot():
    """UptimeRobot, with the escalation plan's contacts, two monitors to a page."""
    with UptimeRobotDouble(KEYS["uptimerobot"], page_size=2) as double:
        for kind, value in [("Email", "alice@example.com"), ("Email", "bob@example.com"),
                            ("Email", "carol@example.com"), ("Voice", "+442079460103")]:
            double.add_contact(kind, value)
        yield double


@pytest.fixture
def checks():
    """Healthchecks.io, with integrations named after tier 1's addresses (alice, bob) and a
    later tier's (carol, tier 2)."""
    with HealthchecksDouble(KEYS["healthchecks"]) as double:
        for address in ("alice@example.com", "bob@example.com", "carol@example.com"):
            double.add_channel(address)
        yield double


@pytest.fixture
def doubles(robot, checks):
    return {"uptimerobot": robot, "healthchecks": checks}


@pytest.fixture
def hosted(robot, checks):
    return settings.HostedMonitors(
        max_wait=10,
        uptimerobot={"api_url": f"{robot.url}/v3"},
        healthchecks={"api_url": f"{checks.url}/api/v3"},
    )


@pytest.fixture
def fleet(monkeypatch) -> dict[str, settings.HostSettings]:
    """The production inventory's hosts; web2 also serves a blog."""
    monkeypatch.chdir(FLEET)
    loaded = load_settings("inventories/prod.py")
    web2 = loaded["web2.example.com"]
    blog = web2.sites["shop"].model_copy(update={"public_url": "https://blog.example.com/", "content_expect": "Posts"})
    return {**loaded, "web2.example.com": web2.model_copy(update={"sites": {**web2.sites, "blog": blog}})}


def reconcile(fleet, hosted, only=PROVIDERS, environment=ENVIRONMENT) -> dict[str, providers.Plan]:
    """What a deploy does: plan each provider, then apply the plan."""
    plans = {key: providers.plan(key, fleet, hosted, environment) for key in only}
    for plan in plans.values():
        providers.apply(plan)
    return plans


def names(double) -> list[str]:
    if isinstance(double, UptimeRobotDouble):
        return sorted(monitor["friendlyName"] for monitor in double.monitors.values())
    return sorted(check["name"] for check in double.checks.values())


def with_site_url(fleet, site: str, url: str):
    return {
        name: host.model_copy(update={"sites": {
            key: value.model_copy(update={"public_url": url}) if key == site else value
            for key, value in host.sites.items()
        }})
        for name, host in fleet.items()
    }


# --- creating, and then nothing ------------------------------------------------------


def test_first_run_creates_one_keyword_monitor_per_site(fleet, hosted, robot):
    reconcile(fleet, hosted, ["uptimerobot"])
    assert [(write.method, write.path) for write in robot.writes] == [("POST", "/v3/monitors")] * 2
    assert {(m["friendlyName"], m["url"], m["type"], m["keywordValue"], m["interval"])
            for m in robot.monitors.values()} == {
        ("blog", "https://blog.example.com/", "KEYWORD", "Posts", 300),
        ("shop", "https://shop.example.com/", "KEYWORD", "Welcome to the shop", 300),
    }


def test_first_run_creates_one_heartbeat_check_per_host(fleet, hosted, checks):
    reconcile(fleet, hosted, ["healthchecks"])
    assert [(write.method, write.path) for write in checks.writes] == [("POST", "/api/v3/checks/")] * 3
    assert sorted((c["name"], c["slug"], c["timeout"], c["grace"], c["tags"]) for c in checks.checks.values()) == [
        (name, f"holdfast-{name.replace('.', '-')}", 300, 300, "holdfast") for name in sorted(fleet)
    ]


def test_monitors_alert_the_escalation_plan_tier_by_tier(fleet, hosted, robot):
    reconcile(fleet, hosted, ["uptimerobot"])
    contact_ids = {contact["value"]: contact_id for contact_id, contact in robot.contacts.items()}
    shop = next(m for m in robot.monitors.values() if m["friendlyName"] == "shop")
    # tier1 (alice, bob) at once by email; tier2 (carol) after escalate_after = 15m, by email and voice.
    assert {(c["alertContactId"], c["threshold"]) for c in shop["assignedAlertContacts"]} == {
        (contact_ids["alice@example.com"], 0), (contact_ids["bob@example.com"], 0),
        (contact_ids["carol@example.com"], 15), (contact_ids["+442079460103"], 15),
    }


def test_checks_alert_the_integrations_named_after_the_first_tier_only(fleet, hosted, checks):
    """Tier 2 (carol) has an integration too, but Healthchecks.io cannot delay it: not assigned."""
    reconcile(fleet, hosted, ["healthchecks"])
    tier1 = {"alice@example.com", "bob@example.com"}
    assert {check["channels"] for check in checks.checks.values()} == {
        ",".join(sorted(channel["id"] for channel in checks.channels if channel["name"] in tier1))
    }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_second_run_makes_no_write_call(fleet, hosted, doubles, provider):
    reconcile(fleet, hosted, [provider])
    written = len(doubles[provider].writes)
    plans = reconcile(fleet, hosted, [provider])
    assert len(doubles[provider].writes) == written
    assert plans[provider].writes == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_plan_alone_writes_nothing(fleet, hosted, doubles, provider):
    plan = providers.plan(provider, fleet, hosted, ENVIRONMENT)
    assert plan.writes and doubles[provider].writes == []


# --- changes ---------------------------------------------------------------------------


def test_changing_one_site_url_updates_exactly_its_monitor(fleet, hosted, robot):
    reconcile(fleet, hosted, ["uptimerobot"])
    blog = next(m for m in robot.monitors.values() if m["friendlyName"] == "blog")
    written = len(robot.writes)
    reconcile(with_site_url(fleet, "blog", "https://news.example.com/"), hosted, ["uptimerobot"])
    assert [(w.method, w.path, w.body) for w in robot.writes[written:]] == [
        ("PATCH", f"/v3/monitors/{blog['id']}", {"url": "https://news.example.com/"})
    ]


def test_changing_one_host_heartbeat_updates_exactly_its_check(fleet, hosted, checks):
    reconcile(fleet, hosted, ["healthchecks"])
    written = len(checks.writes)
    mon1 = fleet["mon1.example.net"]
    slower = {**fleet, "mon1.example.net": mon1.model_copy(update={"heartbeat": settings.Heartbeat(grace="10m")})}
    reconcile(slower, hosted, ["healthchecks"])
    [update] = checks.writes[written:]
    assert (update.method, update.body) == ("POST", {"grace": 600})
    assert checks.checks[update.path.rsplit("/", 1)[-1]]["name"] == "mon1.example.net"


def test_removing_a_host_deletes_exactly_its_monitors(fleet, hosted, robot, checks):
    reconcile(fleet, hosted)
    blog = next(m["id"] for m in robot.monitors.values() if m["friendlyName"] == "blog")
    web2 = next(uuid for uuid, c in checks.checks.items() if c["name"] == "web2.example.com")
    written = len(robot.writes), len(checks.writes)
    reconcile({name: host for name, host in fleet.items() if name != "web2.example.com"}, hosted)
    assert [(w.method, w.path) for w in robot.writes[written[0]:]] == [("DELETE", f"/v3/monitors/{blog}")]
    assert [(w.method, w.path) for w in checks.writes[written[1]:]] == [("DELETE", f"/api/v3/checks/{web2}")]
    assert names(robot) == ["shop"]
    assert names(checks) == ["mon1.example.net", "web1.example.com"]


def without_notes(plan) -> list[str]:
    """The plan's lines as the deploy prints them, but its notes (the fleet's contacts)."""
    return [line for line in plan.lines() if ":   note: " not in line]


def test_the_plan_says_what_each_write_does(fleet, hosted, robot):
    first = reconcile(fleet, hosted, ["uptimerobot"])["uptimerobot"]
    assert without_notes(first) == ["UptimeRobot: create 2, update 0, delete 0",
                                    "UptimeRobot:   create 'blog' (https://blog.example.com/)",
                                    "UptimeRobot:   create 'shop' (https://shop.example.com/)"]
    blog = next(m["id"] for m in robot.monitors.values() if m["friendlyName"] == "blog")
    moved = providers.plan("uptimerobot", with_site_url(fleet, "blog", "https://news.example.com/"), hosted, ENVIRONMENT)
    assert without_notes(moved) == [
        "UptimeRobot: create 0, update 1, delete 0",
        f"UptimeRobot:   update 'blog' (id {blog}): url 'https://blog.example.com/' -> 'https://news.example.com/'"]
    gone = providers.plan("uptimerobot", {name: host for name, host in fleet.items() if name != "web2.example.com"},
                          hosted, ENVIRONMENT)
    assert without_notes(gone) == ["UptimeRobot: create 0, update 0, delete 1",
                                   f"UptimeRobot:   delete 'blog' (id {blog}, https://blog.example.com/)"]
    assert without_notes(providers.plan("uptimerobot", fleet, hosted, ENVIRONMENT)) == [
        "UptimeRobot: up to date, nothing to change"]


def test_the_plan_names_every_member_it_cannot_alert(fleet, hosted):
    """The sample's plan has addresses the doubles lack: each is named, with what to do."""
    assert providers.plan("uptimerobot", fleet, hosted, ENVIRONMENT).notes == [
        "no Email alert contact for oncall@acme-hosting.example (acme, email): add and verify it in UptimeRobot",
        "no Voice alert contact for +44 20 7946 0199 (acme, phone): add and verify it in UptimeRobot"]
    assert providers.plan("healthchecks", fleet, hosted, ENVIRONMENT).notes == [
        "no integration named '@alice:example.com' (alice, chat): add it in Healthchecks.io under that name",
        "no integration named '@bob:example.com' (bob, chat): add it in Healthchecks.io under that name",
        "not alerted of a silent host: acme, carol, whom the escalation plan alerts only after a delay, "
        "which Healthchecks.io cannot make"]


@pytest.mark.parametrize(("provider", "error", "message"), [
    ("uptimerobot", Answer(500, {"message": "database is down"}), "create monitor 'blog': HTTP 500: database is down"),
    ("uptimerobot", Answer(400, {"error": "bad url"}), "create monitor 'blog': HTTP 400: bad url"),
    ("healthchecks", Answer(400, {"detail": "bad grace"}), "create check 'mon1.example.net': HTTP 400: bad grace"),
    ("healthchecks", Answer(502, "Bad Gateway\n"), "create check 'mon1.example.net': HTTP 502: Bad Gateway"),
])
def test_a_refused_write_is_named_with_the_provider_s_reason(fleet, hosted, doubles, provider, error, message):
    doubles[provider].fail(error)
    with pytest.raises(ProviderError) as raised:
        reconcile(fleet, hosted, [provider])
    assert str(raised.value) == f"{providers.PROVIDERS[provider].NAME}: {message}"


@pytest.mark.parametrize(("provider", "change", "message"), [
    ("uptimerobot", "update", "update monitor 'blog'"), ("uptimerobot", "delete", "delete monitor 'blog'"),
    ("healthchecks", "update", "update check 'mon1.example.net'"),
    ("healthchecks", "delete", "delete check 'web2.example.com'"),
])
def test_a_failed_update_or_delete_names_its_monitor(fleet, hosted, doubles, provider, change, message):
    reconcile(fleet, hosted, [provider])
    doubles[provider].fail(Answer(500, {"message": "down"}))
    mon1 = fleet["mon1.example.net"]
    changed = (
        {name: host for name, host in fleet.items() if name != "web2.example.com"} if change == "delete"
        else with_site_url(fleet, "blog", "https://news.example.com/") if provider == "uptimerobot"
        else {**fleet, "mon1.example.net": mon1.model_copy(update={"heartbeat": settings.Heartbeat(grace="10m")})})
    with pytest.raises(ProviderError, match=f"^{providers.PROVIDERS[provider].NAME}: {message}: HTTP 500: down$"):
        reconcile(changed, hosted, [provider])


@pytest.mark.parametrize(("provider", "path", "read"), [
    ("uptimerobot", "/v3/monitors", "list monitors"), ("uptimerobot", "/v3/alert-contacts", "list alert contacts"),
    ("healthchecks", "/api/v3/checks/", "list checks"), ("healthchecks", "/api/v3/channels/", "list integrations"),
])
def test_a_failing_read_is_named(fleet, hosted, doubles, provider, path, read):
    doubles[provider].fail(Answer(404, {"message": "no such page"}), methods=("GET",), path=path)
    with pytest.raises(ProviderError, match=f"^{providers.PROVIDERS[provider].NAME}: {read}: HTTP 404: no such page$"):
        providers.plan(provider, fleet, hosted, ENVIRONMENT)


# --- what Holdfast did not create ------------------------------------------------------


@pytest.fixture
def foreign(robot, checks):
    """Monitors someone made by hand: one watching the shop, others watching other things."""
    return {
        "uptimerobot": [
            robot.add_monitor(friendlyName="Shop (ops)", url="https://shop.example.com/"),
            robot.add_monitor(friendlyName="web2", url="https://web2.example.com/", tagNames=["ops"]),
        ],
        "healthchecks": [
            checks.add_check(name="web1.example.com", slug="backups", tags="ops", timeout=86400),
            checks.add_check(name="nightly report", slug="holdfast-report", timeout=3600),
        ],
    }


def untouched(double, monitors) -> bool:
    ids = {str(m.get("id") or m.get("uuid")) for m in monitors}
    stored = double.monitors if isinstance(double, UptimeRobotDouble) else double.checks
    return (not any(w.path.rstrip("/").rsplit("/", 1)[-1] in ids for w in double.writes)
            and all(stored.get(m.get("id") or m.get("uuid")) == m for m in monitors))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_monitors_holdfast_did_not_create_are_never_written(fleet, hosted, doubles, foreign, provider):
    snapshots = [dict(monitor) for monitor in foreign[provider]]
    reconcile(fleet, hosted, [provider])
    reconcile(with_site_url(fleet, "shop", "https://shop.example.org/"), hosted, [provider])
    reconcile({name: host for name, host in fleet.items() if name.startswith("mon")}, hosted, [provider])
    assert untouched(doubles[provider], snapshots)


def test_an_existing_monitor_of_the_same_url_is_adopted_not_duplicated(fleet, hosted, robot, foreign):
    [plan] = reconcile(fleet, hosted, ["uptimerobot"]).values()
    assert sorted(m["url"] for m in robot.monitors.values()).count("https://shop.example.com/") == 1
    assert any("'Shop (ops)'" in line and "left as it is" in line for line in plan.lines())


def test_a_monitor_handed_over_with_the_tag_is_managed_under_its_new_name(fleet, hosted, robot):
    handed = robot.add_monitor(friendlyName="Shop (ops)", url="https://shop.example.com/", tagNames=["holdfast"])
    reconcile(fleet, hosted, ["uptimerobot"])
    assert robot.monitors[handed["id"]]["friendlyName"] == "shop"
    assert robot.monitors[handed["id"]]["type"] == "KEYWORD"
    assert names(robot) == ["blog", "shop"]


def test_healthchecks_create_is_an_upsert_by_slug(fleet, hosted, checks):
    plan = providers.plan("healthchecks", fleet, hosted, ENVIRONMENT)
    for _ in range(2):  # a create whose answer was lost, made again
        providers.apply(plan)
    assert len(checks.checks) == len(fleet)


# --- keys, rate limits, pagination -----------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limit_is_waited_out_and_the_run_succeeds(fleet, hosted, doubles, provider):
    doubles[provider].rate_limit(times=2, retry_after=1)
    started = time.monotonic()
    reconcile(fleet, hosted, [provider])
    assert time.monotonic() - started >= 2
    assert [r.status for r in doubles[provider].requests[:2]] == [429, 429]
    assert len(names(doubles[provider])) == {"uptimerobot": 2, "healthchecks": 3}[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limit_longer_than_max_wait_fails_clearly(fleet, hosted, doubles, provider):
    doubles[provider].rate_limit(times=1, retry_after=3600)
    with pytest.raises(ProviderError, match=r"still rate limited .*hosted_monitors.max_wait = 10s") as raised:
        reconcile(fleet, hosted, [provider])
    assert str(raised.value).startswith(providers.PROVIDERS[provider].NAME)
    assert doubles[provider].writes == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_invalid_key_fails_clearly_with_nothing_written(fleet, hosted, doubles, provider, foreign):
    wrong = {name: "wrong-k" for name in ENVIRONMENT}
    with pytest.raises(ProviderError) as raised:
        reconcile(fleet, hosted, [provider], environment=wrong)
    message = str(raised.value)
    env = getattr(hosted, provider).api_key_env
    assert message.startswith(f"{providers.PROVIDERS[provider].NAME}: ")
    assert "the API key was refused (HTTP 401" in message and env in message and "nothing was changed" in message
    assert "wrong-k" not in message
    assert doubles[provider].writes == []
    assert len(names(doubles[provider])) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_key_is_one_skipped_line_and_no_call(fleet, hosted, doubles, provider):
    plan = providers.plan(provider, fleet, hosted, environ={})
    env = getattr(hosted, provider).api_key_env
    assert plan.lines() == [f"{providers.PROVIDERS[provider].NAME}: skipped, {env} is not set: "
                            "its monitors are left as they are"]
    assert doubles[provider].api_requests == []


def test_every_page_of_monitors_is_read(fleet, hosted, robot):
    for number in range(5):
        robot.add_monitor(friendlyName=f"other {number}", url=f"https://other{number}.example.com/")
    reconcile(fleet, hosted, ["uptimerobot"])
    written = len(robot.writes)
    plan = providers.plan("uptimerobot", fleet, hosted, ENVIRONMENT)
    assert plan.writes == [] and len(robot.writes) == written
    # 7 monitors at 2 a page, 4 contacts at 2 a page
    assert [r.path for r in robot.requests[-6:]] == ["/v3/alert-contacts"] * 2 + ["/v3/monitors"] * 4


def test_the_key_goes_only_in_the_header_and_never_into_a_repr(fleet, hosted, robot):
    plan = providers.plan("uptimerobot", fleet, hosted, ENVIRONMENT)
    assert KEYS["uptimerobot"] not in repr(plan)
    assert all(KEYS["uptimerobot"] not in str(request.body) for request in robot.requests)


def test_an_unreachable_provider_fails_clearly_after_retrying_its_reads(fleet, hosted):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v3"
    unreachable = hosted.model_copy(update={"uptimerobot": settings.UptimeRobot(api_url=url)})
    started = time.monotonic()
    with pytest.raises(ProviderError, match=rf"^UptimeRobot: list alert contacts: no answer from {url}: "):
        providers.plan("uptimerobot", fleet, unreachable, ENVIRONMENT)
    assert time.monotonic() - started >= 3  # backed off 1 s, then 2 s, between three attempts


# --- what `holdfast status` lists ----------------------------------------------------

def test_status_lists_the_monitors_holdfast_owns_with_their_state(fleet, hosted, robot, checks):
    reconcile(fleet, hosted)
    handed_back = next(iter(robot.monitors.values()))
    handed_back["tags"] = []  # no longer Holdfast's: not listed
    with_hosted = {name: each.model_copy(update={"hosted_monitors": hosted}) for name, each in fleet.items()}
    lines = status.hosted_lines(with_hosted, ENVIRONMENT)
    assert sorted(line for line in lines if line.startswith("UptimeRobot: ")) == [
        f"UptimeRobot: {name}: STARTED" for name in names(robot) if name != handed_back["friendlyName"]]
    assert sorted(line for line in lines if line.startswith("Healthchecks.io: ")) == [
        f"Healthchecks.io: {name}: new" for name in names(checks)]
    assert status.hosted_lines(with_hosted, {}) == [
        "UptimeRobot: skipped, HOLDFAST_UPTIMEROBOT_API_KEY is not set",
        "Healthchecks.io: skipped, HOLDFAST_HEALTHCHECKS_API_KEY is not set"]


def test_of_two_monitors_of_one_url_the_one_holdfast_owns_is_adopted():
    """Pure planning (holdfast/providers/model.py): a hand-made monitor and Holdfast's own,
    renamed since, watch the same URL; the wanted one is Holdfast's, updated, never the other."""
    url = "https://shop.example.com/"
    for existing in ([Existing("1", "Shop (ops)", url, False, {"interval": 60}),
                      Existing("2", "old shop", url, True, {"interval": 60})],
                     [Existing("2", "old shop", url, True, {"interval": 60}),
                      Existing("1", "Shop (ops)", url, False, {"interval": 60})]):
        writes, notes = changes([Wanted("shop", url, {"interval": 300})], existing)
        assert [(w.action, w.existing.id, w.wanted, w.fields) for w in writes] == [
            ("update", "2", Wanted("shop", url, {"interval": 300}), {"interval": 300})]
        assert notes == []
    writes, notes = changes([Wanted("shop", url, {})], [Existing("1", "Shop (ops)", url, False, {})])
    assert writes == [] and notes == [
        "'shop': https://shop.example.com/ is already watched by 'Shop (ops)' (id 1), which Holdfast did not "
        "create: left as it is (give it Holdfast's tag to let Holdfast manage it)"]


# --- the client's waits ------------------------------------------------------------------


def throttled(retry_after: str | None) -> urllib.error.HTTPError:
    headers = email.message.Message()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return urllib.error.HTTPError("https://api.example.com/v3/monitors", 429, "Too Many Requests", headers, None)


@pytest.mark.parametrize(("value", "seconds"), [
    ("30", 30.0), ("Fri, 27 Nov 2026 13:00:10 GMT", 10.0), ("Fri, 27 Nov 2026 12:59:00 GMT", 0.0), ("soon", None),
    ("", None), (None, None),
])
def test_retry_after_in_seconds_or_as_a_date(monkeypatch, value, seconds):
    monkeypatch.setattr(time, "time", lambda: datetime(2026, 11, 27, 13, 0, tzinfo=UTC).timestamp())
    assert api_module._retry_after(value) == seconds


def test_waits_back_off_without_retry_after_and_add_up_to_max_wait():
    slept = []
    client = api_module.Api("Provider", "https://api.example.com/v3/", {}, 5, max_wait=10, sleep=slept.append)
    assert client.base_url == "https://api.example.com/v3"
    for attempt in (1, 2, 3):
        client._wait_out(throttled(None), attempt, "list monitors")
    client._wait_out(throttled("3"), 4, "list monitors")
    assert slept == [1, 2, 4, 3] and client.waited == 10  # exactly max_wait: still allowed
    with pytest.raises(ProviderError) as raised:
        client._wait_out(throttled(None), 1, "list monitors")
    assert str(raised.value) == ("Provider: list monitors: still rate limited or failing after waiting 10s "
                                 "(hosted_monitors.max_wait = 10s)")


def test_every_call_asks_for_json_and_names_holdfast(robot, hosted):
    client = api_module.Api("UptimeRobot", hosted.uptimerobot.api_url, {"Authorization": "Bearer ur-key"}, 5, 10)
    client.get(client.url("/monitors"), "list monitors")
    headers = {key.lower(): value for key, value in robot.requests[-1].headers.items()}
    assert (headers["accept"], headers["user-agent"]) == ("application/json", "holdfast")


# --- written against the survivors of a mutation run -------------------------------------


def test_a_threshold_is_whole_minutes_and_never_repeats(fleet, hosted, robot):
    """UptimeRobot counts a contact's threshold in whole minutes: 90 s is 1, not 1.5."""
    after_90_s = {name: host.model_copy(update={"escalation": host.escalation.model_copy(update={"tiers": [
        tier.model_copy(update={"escalate_after": 90}) if tier.escalate_after else tier
        for tier in host.escalation.tiers]})}) for name, host in fleet.items()}
    reconcile(after_90_s, hosted, ["uptimerobot"])
    shop = next(m for m in robot.monitors.values() if m["friendlyName"] == "shop")
    assert sorted((c["threshold"], c["recurrence"]) for c in shop["assignedAlertContacts"]) == [
        (0, 0), (0, 0), (1, 0), (1, 0)]
    assert all(isinstance(c["threshold"], int) for c in shop["assignedAlertContacts"])


def test_the_monitor_fetches_the_site_s_content_page(fleet, hosted, robot):
    deep = {name: host.model_copy(update={"sites": {
        key: site.model_copy(update={"content_path": "/catalogue/"}) for key, site in host.sites.items()}})
        for name, host in fleet.items()}
    reconcile(deep, hosted, ["uptimerobot"])
    assert {m["url"] for m in robot.monitors.values()} == {
        "https://shop.example.com/catalogue/", "https://blog.example.com/catalogue/"}


def test_a_check_of_holdfast_s_slug_made_by_someone_else_is_never_written(fleet, hosted, checks):
    theirs = checks.add_check(name="made by hand", slug=healthchecks.slug(hosted.tag, "web1.example.com"))
    snapshot = dict(theirs)
    plan = providers.plan("healthchecks", fleet, hosted, ENVIRONMENT)
    assert (f"'web1.example.com': holdfast-web1-example-com is already watched by 'made by hand' (id {theirs['uuid']}), "
            "which Holdfast did not create: left as it is (give it Holdfast's tag to let Holdfast manage it)"
            ) in plan.notes
    providers.apply(plan)
    assert checks.checks[snapshot["uuid"]] == snapshot


def test_integrations_read_back_in_another_order_are_no_change(fleet, hosted, checks):
    reconcile(fleet, hosted, ["healthchecks"])
    for check in checks.checks.values():
        check["channels"] = ",".join(reversed(check["channels"].split(",")))
    assert providers.plan("healthchecks", fleet, hosted, ENVIRONMENT).writes == []


def test_a_check_is_known_by_the_uuid_ending_its_update_url(hosted):
    read = {"name": "web1", "slug": "holdfast-web1", "tags": "holdfast other",
            "update_url": "https://healthchecks.io/api/v3/checks/0f3a5e2c-0000-4000-8000-000000000001/"}
    class Reads:  # what existing() asks of the API, answered with ``read``
        def url(self, path):
            return path

        def get(self, url, what):
            return {"checks": [read]}

    (found,) = healthchecks.existing(Reads(), hosted)
    assert (found.id, found.owned, found.identity) == ("0f3a5e2c-0000-4000-8000-000000000001", True, "holdfast-web1")


def test_a_slug_and_a_ping_url_are_clean_whatever_the_names(hosted):
    assert healthchecks.slug("holdfast", "Web1.Example.COM.") == "holdfast-web1-example-com"
    ended = hosted.model_copy(update={"healthchecks": hosted.healthchecks.model_copy(
        update={"ping_url": "https://hc-ping.example.com/"})})
    assert healthchecks.ping_url(ended, "k", "web1") == "https://hc-ping.example.com/k/holdfast-web1"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_that_never_answers_is_given_up_after_the_request_timeout(fleet, hosted, provider):
    """A server that takes the connection and says nothing: each read waits request_timeout,
    three attempts, then a clear error (never a deploy hung on a provider)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        settings_of = {"uptimerobot": settings.UptimeRobot, "healthchecks": settings.Healthchecks}[provider]
        hung = hosted.model_copy(update={"request_timeout": 1, provider: settings_of(api_url=url)})
        outcome = []

        def plan():
            try:
                providers.plan(provider, fleet, hung, ENVIRONMENT)
            except ProviderError as error:
                outcome.append(str(error))

        reading = threading.Thread(target=plan, daemon=True)
        reading.start()
        reading.join(timeout=30)
        assert not reading.is_alive(), "the read waited longer than request_timeout allows"
    assert len(outcome) == 1 and "no answer from" in outcome[0] and "timed out" in outcome[0]
