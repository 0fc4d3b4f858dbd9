"""pyinfra's configuration, read before the inventory and the deploy: a deploy started with
the wrong pyinfra, or without Holdfast's dependencies, stops with one line saying which.
The ranges are pyproject.toml's (the exact versions tested are in requirements.txt).
(pyinfra 3 reads the settings assigned to ``config``, not bare module names.)"""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from pyinfra import config

_DEPENDENCIES = [
    Requirement(each)
    for each in tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]["dependencies"]
]

config.REQUIRE_PYINFRA_VERSION = next(str(each.specifier) for each in _DEPENDENCIES if each.name == "pyinfra")
config.REQUIRE_PACKAGES = [str(each) for each in _DEPENDENCIES]
