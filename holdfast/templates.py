"""Rendering of the files in ``templates/``: strict, and each with its "managed" header."""

import json
from functools import cache
from pathlib import Path

import jinja2

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # A string as a double-quoted scalar, the same in YAML and JSON, whatever it holds.
    environment.filters["quote"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return environment


def managed_notice(template: str) -> str:
    """The line every rendered file opens with (inside the file's comment syntax)."""
    return (
        f"Managed by Holdfast from templates/{template}: "
        "local changes are overwritten by the next deploy."
    )


def render(template: str, **context) -> str:
    """Render ``templates/<template>`` with ``context``; a missing variable is an error."""
    return _environment().get_template(template).render(managed=managed_notice(template), **context)
