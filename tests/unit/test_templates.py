"""Every template renders with the "managed" header naming it."""

import subprocess

import pytest

from holdfast.templates import TEMPLATES_DIR, managed_notice, render
from tests.conftest import REPO

TEMPLATES = sorted(
    path.relative_to(TEMPLATES_DIR).as_posix() for path in TEMPLATES_DIR.rglob("*.j2")
)
LAB_TEMPLATES = sorted((REPO / "lab/templates").rglob("*.j2"))


@pytest.mark.parametrize("template", TEMPLATES)
def test_template_opens_with_the_managed_header(template):
    head = (TEMPLATES_DIR / template).read_text().splitlines()[:3]
    assert any("{{ managed }}" in line for line in head), f"templates/{template} lacks the managed header"


@pytest.mark.parametrize("template", LAB_TEMPLATES, ids=lambda path: path.name)
def test_lab_template_opens_with_the_managed_header(template):
    assert any("{{ managed }}" in line for line in template.read_text().splitlines()[:3])


def test_managed_notice_names_the_template():
    assert "templates/base/x.j2" in managed_notice("base/x.j2")


def test_apply_helper_is_valid_bash():
    script = render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir="/var/lib/holdfast")
    assert script.startswith("#!/bin/bash\n# Managed by Holdfast from templates/base/")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)

