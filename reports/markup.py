"""Build HTML and SVG by composition, escaping by default.

Every string that is not already :class:`Markup` is escaped with :func:`html.escape`
when it is put into an element or an attribute, so text from a test, an exception or a
framework can never become markup: the only way to emit raw markup is to construct
:class:`Markup` explicitly, which this package does only for literals it owns (the
stylesheet, entity-free fixed strings).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable

from markupsafe import Markup, escape

__all__ = ["Markup", "esc", "el", "join", "slug", "safe_href"]

# HTML void elements (no closing tag)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def esc(value: Any) -> Markup:
    """``value`` as safe HTML text (Markup passes through; None becomes the empty string)."""
    if value is None:
        return Markup("")
    return escape(value)


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    """Concatenate escaped ``parts`` (``sep`` is a trusted literal)."""
    return Markup(sep.join(esc(p) for p in parts if p is not None))


def _attrs(attrs: dict[str, Any]) -> str:
    out = []
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")  # class_ -> class, data_row -> data-row
        if value is True:
            out.append(f" {name}")
        else:
            out.append(f' {name}="{esc(value)}"')
    return "".join(out)


def el(tag: str, *children: Any, **attrs: Any) -> Markup:
    """``<tag attrs>children</tag>``; children may be strings, Markup, None or iterables of those."""
    opening = f"<{tag}{_attrs(attrs)}>"
    if tag in _VOID:
        return Markup(opening)
    return Markup(opening + "".join(_flatten(children)) + f"</{tag}>")


def _flatten(children) -> Iterable[str]:
    for child in children:
        if child is None:
            continue
        if isinstance(child, (str, int, float)):
            yield esc(child)
        else:
            yield from _flatten(child)


_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(*parts: Any) -> str:
    """A stable, unique, HTML-id-safe identifier for ``parts`` (used for anchors).

    Readable characters are kept; a short hash of the exact parts keeps two different
    inputs that read alike (``"a b"`` and ``"a_b"``) apart.
    """
    text = "\x1f".join("\x00" if p is None else str(p) for p in parts)
    readable = _SLUG.sub("_", "--".join("none" if p is None else str(p) for p in parts)).strip("_")[:60]
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{readable or 'x'}-{digest}"


def safe_href(url: Any) -> str | None:
    """``url`` if it is an http(s) link, else None (no ``javascript:`` or other schemes)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    return url if re.match(r"^https?://[^\s]+$", url, re.IGNORECASE) else None
