"""Rendering of the files in ``templates/`` (and the lab's): strict, and each with its
"managed" header."""

import json
from functools import cache
from pathlib import Path

import jinja2

PROJECT_DIR = Path(__file__).resolve().parent.parent
# templates/ of the source tree; an installed wheel carries the same files inside the
# package (pyproject.toml maps them there).
_INSTALLED_TEMPLATES = Path(__file__).resolve().parent / "template_files"
TEMPLATES_DIR = _INSTALLED_TEMPLATES if _INSTALLED_TEMPLATES.is_dir() else PROJECT_DIR / "templates"


@cache
def _environment(templates_dir: Path) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        # Each template compiled once per source, not once per deploy: Jinja keeps the code in
        # its own private directory (under the temporary directory, the user's only).
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # A string as a double-quoted scalar, the same in YAML and JSON, whatever it holds.
    environment.filters["quote"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return environment


def managed_notice(template: str, templates_dir: Path = TEMPLATES_DIR) -> str:
    """The line every rendered file opens with (inside the file's comment syntax): the
    same whether Holdfast runs from its source tree or from an installed package."""
    folder = "templates" if templates_dir == TEMPLATES_DIR else templates_dir.relative_to(PROJECT_DIR).as_posix()
    source = f"{folder}/{template}"
    return f"Managed by Holdfast from {source}: local changes are overwritten by the next deploy."


def render(template: str, templates_dir: Path = TEMPLATES_DIR, **context) -> str:
    """Render ``<templates_dir>/<template>`` with ``context``; a missing variable is an error."""
    return _environment(templates_dir).get_template(template).render(
        managed=managed_notice(template, templates_dir), **context
    )
