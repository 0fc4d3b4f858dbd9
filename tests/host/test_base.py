"""Base capability: the shared tools and the validate-then-swap helper are in place."""

import pytest

from holdfast import base
from holdfast.safe_config import APPLY_COMMAND, STATE_DIR
from holdfast.templates import render


@pytest.mark.parametrize("package", base.PACKAGES)
def test_shared_tool_is_installed(host, package):
    assert host.package(package).is_installed


def test_apply_helper_is_the_current_one(host):
    helper = host.file(APPLY_COMMAND)
    assert (helper.user, helper.mode) == ("root", 0o755)
    assert helper.content_string == render("base/usr/local/sbin/holdfast-apply-config.j2", state_dir=STATE_DIR)


def test_state_directory_is_root_only(host):
    state = host.file(STATE_DIR)
    assert state.is_directory and (state.user, state.mode) == ("root", 0o700)
