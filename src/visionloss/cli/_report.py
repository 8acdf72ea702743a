"""A self-contained HTML report: tables, PNG figures embedded as base64, formulas, environment.

Used by ``visionloss tour``. Nothing is fetched at view time (no scripts, no fonts, no CDN).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._core.registry import LossSpec, list_losses
from ..experiments import Experiment, ExperimentResult, _fmt

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 1rem 2rem; color: #1d1d1f; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #f6f6f8; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
figure { margin: 0.8rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.meta { color: #666; font-size: 0.9rem; } .ok { color: #137333; } .failed { color: #b3261e; }
section.error { border-left: 4px solid #b3261e; padding-left: 1rem; }
"""

_MIME = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}


@dataclass
class Section:
    """One experiment of the report: its result, or the error it raised."""

    experiment: Experiment
    seconds: float
    result: ExperimentResult | None = None
    error: str = ""
    losses: list[LossSpec] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "exp-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.experiment.name)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table(columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; numbers are right-aligned and formatted like the console tables."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for value in row:
            cls = ' class="num"' if isinstance(value, (int, float)) else ""
            cells.append(f"<td{cls}>{_e(_fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def embed_figure(path: Path) -> str:
    """The figure as an ``<img>`` with a data URI (a note when the file is missing)."""
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None or not path.is_file():
        return f'<p class="meta">figure not embedded: {_e(path)}</p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_e(path.name)}" src="data:{mime};base64,{data}">'
        f'<figcaption class="meta">{_e(path.name)}</figcaption></figure>'
    )


def losses_mentioned(texts: Sequence[Any]) -> list[LossSpec]:
    """Registered losses whose name, alias or function name appears as a word in ``texts``."""
    blob = " ".join(str(t) for t in texts).lower()
    found = []
    for spec in list_losses():
        keys = {spec.name, spec.function.__name__, *spec.aliases}
        keys |= {k.replace("_", "-") for k in keys}
        if any(re.search(rf"(?<![\w-]){re.escape(k.lower())}(?![\w-])", blob) for k in keys):
            found.append(spec)
    return found


def formula_table(specs: Sequence[LossSpec]) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(s.name)}</code></td><td>{_e(s.family)}</td>"
        f"<td><code>{_e(s.formula or s.summary)}</code></td><td>{_e(s.reference)}</td></tr>"
        for s in specs
    )
    return (
        "<table><thead><tr><th>loss</th><th>family</th><th>formula</th><th>reference</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _section(sec: Section) -> str:
    exp = sec.experiment
    status = '<span class="ok">ok</span>' if not sec.error else '<span class="failed">failed</span>'
    parts = [
        f'<section id="{sec.anchor}" class="experiment{" error" if sec.error else ""}" '
        f'data-experiment="{_e(exp.name)}">',
        f"<h2>{_e(exp.name)}</h2>",
        f"<p>{_e(exp.summary)}</p>",
        f'<p class="meta">family: {_e(exp.family)} &middot; status: {status} &middot; '
        f"wall time: {sec.seconds:.1f} s"
        + (f" &middot; reference: {_e(exp.reference)}" if exp.reference else "")
        + "</p>",
    ]
    if sec.error:
        parts.append(f"<pre>{_e(sec.error)}</pre>")
    if sec.result is not None:
        res = sec.result
        parts.append(f"<h3>{_e(res.title)}</h3>")
        parts.append(table(res.columns, res.rows))
        if res.notes:
            parts.append(f"<p>{_e(res.notes)}</p>")
        parts.extend(embed_figure(f) for f in res.figures)
    if sec.losses:
        parts.append("<h3>Losses in this experiment</h3>")
        parts.append(formula_table(sec.losses))
    parts.append("</section>")
    return "\n".join(parts)


def render(
    sections: Sequence[Section],
    *,
    env: dict[str, str],
    quick: bool,
    total_seconds: float,
    version: str,
) -> str:
    """The whole HTML document."""
    failed = [s for s in sections if s.error]
    toc = "".join(
        f'<li><a href="#{s.anchor}">{_e(s.experiment.name)}</a> &mdash; '
        f"{'failed' if s.error else 'ok'}, {s.seconds:.1f} s</li>"
        for s in sections
    )
    env_rows = [[k, v] for k, v in env.items()]
    body = [
        "<h1>visionloss tour</h1>",
        f'<p class="meta">visionloss {_e(version)} &middot; {len(sections)} experiments '
        f"({'quick' if quick else 'full'} mode) &middot; {len(failed)} failed &middot; "
        f"total wall time {total_seconds:.1f} s</p>",
        f"<h2>Contents</h2><ul>{toc}</ul>",
        *(_section(s) for s in sections),
        '<section id="catalogue"><h2>Catalogue of losses</h2>',
        formula_table(list_losses()),
        "</section>",
        '<section id="environment"><h2>Environment</h2>',
        table(["", "version / device"], env_rows),
        "</section>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>visionloss tour</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
