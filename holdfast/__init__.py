"""Holdfast: resilience for small sites, as pyinfra deploys.

Each capability is a module of this package with its ``@deploy`` function(s) and a
``PACKAGES`` tuple of the Debian packages it installs.
"""

import importlib
import pkgutil


def required_packages() -> set[str]:
    """Every Debian package a Holdfast deploy installs, read from the capability modules."""
    packages: set[str] = set()
    for module_info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        module = importlib.import_module(module_info.name)
        packages.update(getattr(module, "PACKAGES", ()))
    return packages
