"""pyinfra's configuration, read before the inventory and the deploy: a deploy started with
the wrong pyinfra, or without Holdfast's dependencies, stops with one line saying which.
The ranges are pyproject.toml's (the exact versions tested are in requirements.txt).
(pyinfra 3 reads the settings assigned to ``config``, not bare module names.)

The dependencies are checked here, once, with pyinfra's own check, rather than assigned to
``config.REQUIRE_PACKAGES``: pyinfra plans each host with a copy of the configuration and
checks that setting again for every copy, walking every dependency's metadata (some 25 ms
per host)."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from pyinfra import config
from pyinfra.api.config import check_require_packages

_DEPENDENCIES = [
    Requirement(each)
    for each in tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]["dependencies"]
]

config.REQUIRE_PYINFRA_VERSION = next(str(each.specifier) for each in _DEPENDENCIES if each.name == "pyinfra")
check_require_packages([str(each) for each in _DEPENDENCIES])
