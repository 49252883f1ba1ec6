"""The report's Jinja2 templates: autoescaped, shipped, and written so that joining their lines
(bnconform.reports.page.jinja.JoinLines) never glues two words of text together."""

from __future__ import annotations

import re
import sys

import pytest
from markupsafe import Markup

from bnconform.reports.page.jinja import TEMPLATES, JoinLines, environment, render

from .conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # a dependency of the project before 3.11
    import tomli as tomllib

_WORD_END = re.compile(r"[\w.,;:)!?'’]$")
_WORD_START = re.compile(r"^[\w(]")


def glued_lines(source: str) -> list[int]:
    """Line numbers where a line of text ends in a word and the next starts with one: joined, the
    two words would touch (a space must be written as ``{{ " " }}``)."""
    lines = source.split("\n")
    return [n + 2 for n, (a, b) in enumerate(zip(lines, lines[1:]))
            if _WORD_END.search(a.rstrip()) and _WORD_START.match(b.lstrip())]


def test_the_check_finds_glued_words():
    assert glued_lines("<p>\n  one two\n  three\n</p>") == [3]
    assert glued_lines('<p>\n  one two\n  {{- " " }}three\n</p>') == []


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.j2")))
def test_no_template_glues_words_when_its_lines_are_joined(name):
    assert glued_lines((TEMPLATES / name).read_text(encoding="utf-8")) == []


def test_joining_removes_newlines_and_indentation_only_from_j2_templates():
    ext = JoinLines(environment())
    assert ext.preprocess("<p>\n  a b\n</p>\n", "x.html.j2") == "<p>a b</p>"
    assert ext.preprocess("a {\n  b: 1;\n}\n", "style.css") == "a {\n  b: 1;\n}\n"


def test_autoescape_is_on_and_markup_passes():
    assert environment().autoescape is True or environment().autoescape(None)
    badge = environment().get_template("macros.html.j2").module.badge
    out = str(badge("fail", "<script>x</script>"))
    assert "<script>" not in out and "&lt;script&gt;x&lt;/script&gt;" in out
    assert isinstance(render("tolerance.html.j2", charts=[Markup("<svg></svg>")]), Markup)
    assert "<svg></svg>" in render("tolerance.html.j2", charts=[Markup("<svg></svg>")])


def test_the_templates_ship_as_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["bnconform.reports"]
    files = [p.relative_to(TEMPLATES.parent).as_posix() for p in TEMPLATES.iterdir()]
    files.append("schemas/results.schema.json")
    from fnmatch import fnmatch

    assert [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)] == []
