"""A mkdocs hook: typeset the formulas at build time and refuse pages that show raw markup.

The site must read well without a network, so no MathJax is loaded in the browser. Instead:

* ``on_page_content`` turns the output of ``pymdownx.arithmatex`` (generic mode:
  ``<div class="arithmatex">\\[...\\]</div>`` and ``<span class="arithmatex">\\(...\\)</span>``)
  into MathML with ``latex2mathml`` (a small pure-Python package of the ``docs`` extra);
  browsers render MathML natively (Chromium 109+, Firefox, Safari);
* ``on_post_page`` checks the finished page and fails the build (:class:`PluginError`, with or
  without ``--strict``) when its visible text, outside code blocks, still holds TeX delimiters,
  reStructuredText (``.. math::``, ``:func:`...```), a TeX macro the converter passed through
  as text, or a docstring section split into pieces (a Returns section with several entries:
  our docstrings return one value).

Configured in ``mkdocs.yml`` (``hooks:``); :func:`tex_to_mathml` and :func:`page_problems` are
tested in ``tests/docs/test_docs.py``.
"""

from __future__ import annotations

import html
import re
from typing import Any

_BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.S)
_INLINE = re.compile(r'<span class="arithmatex">\s*\\\((.*?)\\\)\s*</span>', re.S)
# \big\lVert and friends: latex2mathml knows the delimiter but not the size prefix before a
# macro delimiter; the size is cosmetic, the delimiter is kept.
_SIZED_DELIMITER = re.compile(
    r"\\(?:big|Big|bigg|Bigg)[lrm]?(?=\\(?:[lr]?[Vv]ert|\||\{|\}|langle|rangle))"
)
_TEXT = re.compile(r"\\(?:text|mathrm|operatorname)\{([^{}]*)\}")
# operator names latex2mathml does not know: written upright, as \operatorname{...}
_OPERATORS = re.compile(r"\\(arg|sgn|diag|tr|Var|Cov|softmax|argmax|argmin)(?![A-Za-z])")

# What must not reach a reader: TeX delimiters, reStructuredText roles and directives.
RAW_MARKUP = (
    ("\\[", "unrendered display math"),
    ("\\(", "unrendered inline math"),
    ("$$", "unrendered display math"),
    (".. math::", "a reStructuredText math directive"),
    (".. note::", "a reStructuredText directive"),
    (":math:`", "a reStructuredText math role"),
    (":func:`", "a reStructuredText cross-reference"),
    (":class:`", "a reStructuredText cross-reference"),
    (":mod:`", "a reStructuredText cross-reference"),
    (":meth:`", "a reStructuredText cross-reference"),
)
_HIDDEN = re.compile(
    r"<(pre|code|script|style|math|textarea)\b.*?</\1>|<!--.*?-->", re.S | re.IGNORECASE
)
_TAG = re.compile(r"<[^>]+>")
_MATH = re.compile(r"<math\b.*?</math>", re.S)
_RETURNS = re.compile(r'<span class="doc-section-title">Returns:</span>.*?<ul>(.*?)</ul>', re.S)


def _normalize(tex: str) -> str:
    tex = _SIZED_DELIMITER.sub("", tex)
    tex = _OPERATORS.sub(lambda m: f"\\operatorname{{{m.group(1)}}}", tex)
    return _TEXT.sub(lambda m: m.group(0).replace("\\_", "_"), tex)


def tex_to_mathml(tex: str, display: bool) -> str:
    """MathML for one TeX formula (``display``: a block formula)."""
    from latex2mathml.converter import convert

    return convert(_normalize(tex.strip()), display="block" if display else "inline")


def render_math(page_html: str) -> str:
    """Every arithmatex formula of ``page_html`` replaced by MathML (the wrapper is kept, so
    the theme's styles for ``.arithmatex`` still apply)."""

    def block(m: re.Match[str]) -> str:
        math = tex_to_mathml(html.unescape(m.group(1)), display=True)
        return f'<div class="arithmatex">{math}</div>'

    def inline(m: re.Match[str]) -> str:
        math = tex_to_mathml(html.unescape(m.group(1)), display=False)
        return f'<span class="arithmatex">{math}</span>'

    return _INLINE.sub(inline, _BLOCK.sub(block, page_html))


def visible_text(page_html: str) -> str:
    """The text a reader sees outside code, scripts and formulas (tags dropped)."""
    return html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", page_html)))


def page_problems(page_html: str) -> list[str]:
    """What is wrong with a rendered page: raw markup in its visible text, split Returns."""
    problems = []
    text = visible_text(page_html)
    for needle, what in RAW_MARKUP:
        at = text.find(needle)
        if at >= 0:
            context = " ".join(text[max(0, at - 60) : at + 60].split())
            problems.append(f"{what} ({needle!r}): ...{context}...")
    for m in _MATH.finditer(page_html):
        shown = html.unescape(_TAG.sub(" ", m.group(0)))
        macro = re.search(r"\\[A-Za-z]+", shown)
        if macro:
            problems.append(f"a TeX macro the converter does not know: {macro.group(0)}")
    for m in _RETURNS.finditer(page_html):
        items = m.group(1).count("<li")
        if items > 1:
            first = " ".join(visible_text(m.group(1)).split())[:120]
            problems.append(f"a Returns section split into {items} entries: {first}...")
    return problems


# --- mkdocs hooks ------------------------------------------------------------------------------


def on_page_content(html_text: str, page: Any, config: Any, files: Any) -> str:
    return render_math(html_text)


def on_post_page(output: str, page: Any, config: Any) -> str:
    from mkdocs.exceptions import PluginError

    problems = page_problems(output)
    if problems:
        raise PluginError(
            f"{page.file.src_uri}: the page shows markup a reader should not see:\n  "
            + "\n  ".join(problems)
        )
    return output
