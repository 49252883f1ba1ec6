"""The report's Jinja2 environment: templates in ``bnconform/reports/templates``, autoescape on.

Every value a template prints is HTML-escaped unless it is :class:`markupsafe.Markup` (what
another template or :mod:`bnconform.reports.svg` produced), so text from a test, an exception or a
framework never becomes markup.

Template sources are written indented, one element per line, for reading; the page is not: a
newline and the indentation after it are removed when a template is loaded
(:class:`JoinLines`), so the output has no whitespace between tags that the template did not
write itself (``{{ " " }}``). Inside a ``{{ }}`` or ``{% %}`` break lines only after a comma or
an opening bracket.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

__all__ = ["render", "TEMPLATES"]

#: Where the templates are (shipped as package data, ``bnconform/reports/templates/*``).
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

_NEWLINE_INDENT = re.compile(r"\n[ \t]*")


class JoinLines(Extension):
    """Remove each newline and the indentation that follows it from the template source."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return _NEWLINE_INDENT.sub("", source) if name and name.endswith(".j2") else source


def _finalize(value: Any) -> Any:
    """What ``{{ value }}`` prints: None prints nothing (an absent field is an empty cell)."""
    return "" if value is None else value


_ENV: Environment | None = None


def environment() -> Environment:
    """The environment, built on first use (filters and globals registered by :mod:`.common`)."""
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                           extensions=[JoinLines], finalize=_finalize, keep_trailing_newline=True)
        _ENV.filters["zip"] = zip
        from . import common

        common.register(_ENV)
    return _ENV


def render(template: str, **context: Any) -> Markup:
    """``template`` (a file name under ``bnconform/reports/templates``) rendered with ``context``."""
    return Markup(environment().get_template(template).render(**context))
