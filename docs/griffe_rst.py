"""A griffe extension that turns the reStructuredText bits of our docstrings into Markdown.

The docstrings are Google style (``Args:``, ``Shape:``, ``Returns:``, ``Reference:``,
``Example:``) with a few reStructuredText constructs that mkdocstrings would show verbatim:

* ``.. math::`` blocks (on the directive's line and/or indented below it) become ``$$`` blocks,
  and ``:math:`...``` roles become ``$...$``: pymdownx.arithmatex hands both to MathJax;
* ``:func:`name```, ``:class:`name``` (and ``meth``, ``attr``, ``mod``, ``data``, ``obj``,
  ``exc``) become a cross-reference when ``name`` is a registered loss function or Module, else
  inline code;
* ``.. note::`` / ``.. warning::`` / ``.. seealso::`` / ``.. tip::`` become admonitions;
* doctest blocks (``>>>`` lines and their output, up to a blank line) become fenced Python
  code, so their output is shown verbatim rather than read as Markdown;
* a grouped entry of an ``Args:`` section, ``input, target: as in dice_loss.`` (numpydoc
  allows it, Google style does not), becomes one entry per name with the same description.

Configured in ``mkdocs.yml`` (``plugins: mkdocstrings: ... extensions: [docs/griffe_rst.py]``);
:func:`rst_to_markdown` is also tested directly.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from functools import cache
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+(math|note|warning|seealso|tip|important)::\s*(.*)$")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_XREF_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|obj|exc):`~?([^`]+)`")
_ARGS_SECTION = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|"
    r"Other Parameters):\s*$"
)
_NAME = re.compile(r"\*{0,2}\w+")
_ADMONITION = {
    "note": "note",
    "warning": "warning",
    "seealso": "info",
    "tip": "tip",
    "important": "important",
}


@cache
def _targets() -> dict[str, str]:
    """Short and dotted names of every registered loss function / Module -> canonical path."""
    try:
        import visionloss
    except ImportError:  # pragma: no cover - the docs are built with visionloss installed
        return {}
    out = {}
    for spec in visionloss.list_losses():
        for obj in (spec.function, spec.module):
            path = f"{obj.__module__}.{obj.__qualname__}"
            for key in (obj.__name__, f"visionloss.{obj.__name__}", path):
                out[key] = path
    return out


def _xref(match: re.Match[str]) -> str:
    name = match.group(1).strip()
    path = _targets().get(name)
    short = name.rsplit(".", 1)[-1]
    return f"[`{short}`][{path}]" if path else f"`{short}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _expand_items(body: list[str]) -> list[str]:
    """The entries of one Args section, grouped names split into one entry each."""
    first = next((line for line in body if line.strip()), None)
    if first is None:
        return body
    indent = _indent(first)
    items: list[list[str]] = []
    for line in body:
        if line.strip() and _indent(line) == indent or not items:
            items.append([line])
        else:
            items[-1].append(line)
    out = []
    for item in items:
        head, j = item[0].strip(), 0
        while ":" not in head and head.endswith(",") and j + 1 < len(item):
            j += 1
            head += " " + item[j].strip()
        names_text, sep, description = head.partition(":")
        names = [n.strip() for n in names_text.split(",") if n.strip()]
        if not sep or len(names) < 2 or not all(_NAME.fullmatch(n) for n in names):
            out += item
            continue
        for name in names:
            out.append(f"{' ' * indent}{name}: {description.strip()}")
            out += item[j + 1 :]
    return out


def split_grouped_args(text: str) -> str:
    """``a, b: description`` entries of Args sections become ``a: ...`` and ``b: ...``."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _ARGS_SECTION.match(lines[i])
        out.append(lines[i])
        i += 1
        if not match:
            continue
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(match[1])):
            body.append(lines[i])
            i += 1
        out += _expand_items(body)
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """Convert the reStructuredText constructs listed in the module docstring
    (``tests/docs/test_docs.py`` shows examples)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, kind, first = match.groups()
        i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            body.append(lines[i])
            i += 1
        trailing = 0
        while body and not body[-1].strip():
            body.pop()
            trailing += 1
        block = ([first.strip()] if first.strip() else []) + textwrap.dedent(
            "\n".join(body)
        ).splitlines()
        if out and out[-1].strip():
            out.append("")
        if kind == "math":
            out.append(f"{indent}$$")
            out += [f"{indent}{b}" if b.strip() else "" for b in block]
            out.append(f"{indent}$$")
        else:
            out.append(f"{indent}!!! {_ADMONITION[kind]}")
            out.append("")
            out += [f"{indent}    {b}" if b.strip() else "" for b in block]
        out += [""] * max(trailing, 1 if i < len(lines) else 0)
    result = "\n".join(out)
    result = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", result)
    return _XREF_ROLE.sub(_xref, result)


def fence_doctests(text: str) -> str:
    """Wrap each doctest block (``>>>`` up to the next blank line) in a ```` ```python ```` fence."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        pad = " " * _indent(line)
        out.append(f"{pad}```python")
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) >= len(pad):
            out.append(lines[i])
            i += 1
        out.append(f"{pad}```")
    return "\n".join(out)


def plain_annotation(text: str) -> str:
    """``Annotated[T, ...]`` -> ``T`` (the first top-level argument); other text unchanged."""
    if not text.startswith("Annotated["):
        return text
    depth = 0
    for i, ch in enumerate(text[len("Annotated[") :], start=len("Annotated[")):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            return text[len("Annotated[") : i].strip()
    return text


def _kind(p: inspect.Parameter) -> griffe.ParameterKind:
    return griffe.ParameterKind[p.kind.name.lower()]


def init_from_signature(cls: type) -> griffe.Function:
    """A griffe ``__init__`` built from the runtime signature of ``cls.__init__``."""
    empty = inspect.Parameter.empty
    params = [
        griffe.Parameter(
            p.name,
            annotation=None if p.annotation is empty else str(p.annotation),
            kind=_kind(p),
            default=None if p.default is empty else repr(p.default),
        )
        for p in inspect.signature(cls.__init__).parameters.values()
    ]
    return griffe.Function("__init__", parameters=griffe.Parameters(*params), returns="None")


class RstToMarkdown(griffe.Extension):
    """Rewrite each docstring once, when its object is created; give a class that subclasses a
    derived Module of the same name its inherited ``__init__`` (griffe cannot follow a base
    whose path is the class's own, so its options would show as undocumented)."""

    def on_class_members(self, *, node: Any, cls: griffe.Class, **kwargs: Any) -> None:
        obj = getattr(node, "obj", None)
        if not isinstance(obj, type) or "__init__" in cls.members or "__init__" in vars(obj):
            return
        if any(str(base) == cls.path for base in cls.bases):
            cls.set_member("__init__", init_from_signature(obj))

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        """Show an option annotated inline, ``Annotated[float, Number(...)]``, as its type
        (``float``) rather than as ``Annotated``."""
        for param in func.parameters:
            if param.annotation is not None:
                param.annotation = plain_annotation(str(param.annotation))

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        doc = obj.docstring
        if doc is None:
            return
        text = split_grouped_args(doc.value)
        if ".. " in text or ":`" in text:
            text = rst_to_markdown(text)
        doc.value = fence_doctests(text)
