"""The uninstall's plan (holdfast/uninstall.py): the order configurations go back in, the
reload that replaces a swap's own, the packages it may purge and how it purges them."""

import os
import subprocess

from holdfast import uninstall
from holdfast.slices import DROP_IN
from holdfast.templates import render
from tests.conftest import executable


def test_monit_goes_back_first_and_the_firewall_last():
    assert uninstall.order(["slices", "firewall", "nginx", "monit-unit", "firewall-unit", "monit", "failover"]) == [
        "monit", "monit-unit", "failover", "nginx", "slices", "firewall", "firewall-unit"]


def test_units_leaving_their_slices_are_restarted_and_the_firewall_table_is_deleted():
    reload = uninstall.uninstall_reload("slices", ["/etc/systemd/system/holdfast-web.slice",
                                                   f"/etc/systemd/system/nginx.service.d/{DROP_IN}"])
    assert reload.startswith("systemctl daemon-reload") and "nginx.service" in reload and "try-restart" in reload
    assert uninstall.uninstall_reload("firewall", []) == "nft delete table inet holdfast 2>/dev/null || true"
    assert uninstall.uninstall_reload("nginx", ["/etc/nginx/nginx.conf"]) is None  # the swap's own reload
    assert uninstall.uninstall_reload("bans", []) == "systemctl try-reload-or-restart fail2ban.service || systemctl stop fail2ban.service"


def test_only_holdfast_s_own_packages_are_purged():
    assert {"nginx", "monit", "keepalived", "nftables", "prometheus-node-exporter", "certbot"} <= uninstall.PACKAGES
    assert not {"php-fpm", "openssh-server", "php8.2-fpm"} & uninstall.PACKAGES


def test_purge_keeps_what_the_host_had_before_and_what_a_later_package_needs(tmp_path):
    """holdfast-purge, run here on stand-ins of dpkg and apt-get that keep their state in files:
    monit and keepalived were Holdfast's; python3-minimal was too, but a package installed since
    needs it (dpkg refuses); of the autoremove candidates, libnl was new, libold was there before."""
    bin_dir, installed, purged = tmp_path / "bin", tmp_path / "installed", tmp_path / "purged"
    bin_dir.mkdir()
    installed.write_text("monit\nkeepalived\npython3-minimal\nlibnl\nlibold\n")
    stubs = {
        "dpkg-query": f'grep -qxF "$4" {installed} && printf installed; true',
        "dpkg": f'[ "$2" = python3-minimal ] && exit 1; sed -i "/^$2$/d" {installed}; echo "$2" >> {purged}',
        "apt-get": f'grep -qxF keepalived {installed} || grep -xE "libnl|libold" {installed} | sed "s/.*/Remv & [1]/"',
    }
    for name, body in stubs.items():
        executable(bin_dir / name, f"#!/bin/bash\n{body}\n")
    script = render("uninstall/holdfast-purge.j2")
    run = subprocess.run(["bash", "-c", script, "holdfast-purge", "keepalived", "monit", "python3-minimal", "--",
                          "monit", "keepalived", "python3-minimal", "libnl"],
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert purged.read_text().split() == ["keepalived", "monit", "libnl"]
    assert installed.read_text().split() == ["python3-minimal", "libold"]
    assert run.stdout == "holdfast: python3-minimal is kept: a package installed since needs it\n"


def test_triggers_stop_before_the_units_they_start():
    units = ["holdfast-heartbeat.service", "holdfast-heartbeat.timer", "holdfast-monit-export.service",
             "holdfast-monit-export.timer", "holdfast-relay.service", "holdfast-relay.socket", "holdfast-x.service",
             "holdfast-x.path"]
    assert uninstall.stop_order(units) == ["holdfast-heartbeat.timer", "holdfast-monit-export.timer",
                                           "holdfast-relay.socket", "holdfast-x.path", "holdfast-heartbeat.service",
                                           "holdfast-monit-export.service", "holdfast-relay.service",
                                           "holdfast-x.service"]
