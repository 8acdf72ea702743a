"""A self-contained HTML report: tables, PNG figures embedded as base64, formulas, environment.

Used by ``visionloss tour``; the page is a Jinja2 template (autoescaped), Jinja2 comes with the
``experiments`` extra. Nothing is fetched at view time (no scripts, no fonts, no CDN).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .._core.registry import LossSpec, get_loss, list_losses
from ..experiments import Experiment, ExperimentResult, _fmt, format_cells

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
tr.best td { background: #e6f4ea; font-weight: 600; }
.tag { font-size: 0.75rem; font-weight: 600; color: #137333; border: 1px solid #137333;
       border-radius: 0.6rem; padding: 0 0.35rem; margin-left: 0.4rem; }
.mode { background: #fff8e1; border-left: 4px solid #f9a825; padding: 0.5rem 0.8rem; }
"""

_PAGE = """\
{%- macro table(columns, rows, best=()) -%}
{%- set cells = format_cells(columns, rows) -%}
<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>
{%- for row in rows %}{% set i = loop.index0 %}<tr{% if i in best %} class="best"{% endif %}>
{%- for v in row %}<td{% if v is number %} class="num"{% endif %}>{{ cells[i][loop.index0] }}
{%- if loop.first and i in best %}<span class="tag">best</span>{% endif %}</td>
{%- endfor %}</tr>{% endfor %}</tbody></table>
{%- endmacro -%}
{%- macro formulas(specs) -%}
<table><thead><tr><th>loss</th><th>family</th><th>formula</th><th>reference</th></tr></thead>
<tbody>{% for s in specs %}<tr><td><code>{{ s.name }}</code></td><td>{{ s.family }}</td>
<td><code>{{ s.formula or s.summary }}</code></td><td>{{ s.reference }}</td></tr>{% endfor %}
</tbody></table>
{%- endmacro -%}
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>visionloss tour</title><style>{{ css }}</style></head>
<body>
<h1>visionloss tour</h1>
<p class="meta">visionloss {{ version }} &middot; {{ sections | length }} experiments
({{ "quick" if quick else "full" }} mode) &middot; {{ failed }} failed &middot;
total wall time {{ "%.1f" | format(total_seconds) }} s</p>
{% if quick -%}
<p class="mode"><strong>Quick mode.</strong> Every experiment ran at a small size with few
seeds (<code>visionloss tour --quick</code>): a check that everything runs, not a result. Its
numbers can rank the losses differently from the full runs that the documentation quotes
(<code>visionloss tour</code> without <code>--quick</code>).</p>
{%- else -%}
<p class="mode"><strong>Full mode.</strong> Every experiment ran at the size and number of
seeds the documentation quotes.</p>
{%- endif %}
<h2>Contents</h2><ul>
{%- for s in sections %}
<li><a href="#{{ s.anchor }}">{{ s.experiment.name }}</a> &mdash;
{{ "failed" if s.error else "ok" }}, {{ "%.1f" | format(s.seconds) }} s</li>
{%- endfor %}</ul>
{% for s in sections -%}
{%- set exp = s.experiment -%}
<section id="{{ s.anchor }}" class="experiment{{ ' error' if s.error else '' }}" data-experiment="{{ exp.name }}">
<h2>{{ exp.name }}</h2>
<p>{{ exp.summary }}</p>
<p class="meta">family: {{ exp.family }} &middot; status:
{% if s.error %}<span class="failed">failed</span>{% else %}<span class="ok">ok</span>{% endif %}
&middot; wall time: {{ "%.1f" | format(s.seconds) }} s
{%- if exp.reference %} &middot; reference: {{ exp.reference }}{% endif %}</p>
{% if s.error %}<pre>{{ s.error }}</pre>{% endif %}
{%- if s.result is not none %}
<h3>{{ s.result.title }} ({{ "quick" if quick else "full" }} run)</h3>
{{ table(s.result.columns, s.result.rows, s.best) }}
{%- if exp.metric %}
<p class="meta">best row: {{ "highest" if exp.metric[1] == "max" else "lowest" }}
<em>{{ exp.metric[0] }}</em>{% if exp.baselines %} (reference rows not ranked:
{{ exp.baselines | join(", ") }}){% endif %}</p>
{%- endif %}
{% if s.result.notes %}<p>{{ s.result.notes }}</p>{% endif %}
{%- for f in s.result.figures %}{% set img = embed(f) %}
{%- if img %}
<figure><img alt="{{ img.name }}" src="data:{{ img.mime }};base64,{{ img.data }}">
<figcaption class="meta">{{ img.name }}</figcaption></figure>
{%- else %}
<p class="meta">figure not embedded: {{ f }}</p>
{%- endif %}{% endfor %}
{%- endif %}
{%- if s.losses %}
<h3>Losses compared in this experiment</h3>
{{ formulas(s.losses) }}
{%- endif %}
</section>
{% endfor -%}
<section id="catalogue"><h2>Catalogue of losses</h2>
{{ formulas(catalogue) }}
</section>
<section id="environment"><h2>Environment</h2>
{{ table(["", "version / device"], env.items()) }}
</section>
</body></html>
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

    def __post_init__(self) -> None:
        if not self.losses:
            self.losses = declared_losses(self.experiment)

    @property
    def anchor(self) -> str:
        return "exp-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.experiment.name)

    @property
    def best(self) -> list[int]:
        """The rows to mark: the best value of the experiment's declared metric."""
        return self.experiment.best_rows(self.result) if self.result is not None else []


def embed(path: str | Path) -> dict[str, str] | None:
    """The figure as a data URI's parts (``name``, ``mime``, ``data``); None when the file is
    missing or not an image."""
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None or not path.is_file():
        return None
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"name": path.name, "mime": mime, "data": data}


def declared_losses(experiment: Experiment) -> list[LossSpec]:
    """The registry rows of the losses ``experiment`` declares (``register_experiment(...,
    losses=...)``), in its order."""
    return [get_loss(name) for name in experiment.losses]


def render(
    sections: Sequence[Section],
    *,
    env: dict[str, str],
    quick: bool,
    total_seconds: float,
    version: str,
) -> str:
    """The whole HTML document."""
    try:
        import jinja2
        from markupsafe import Markup
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the tour report needs Jinja2: pip install 'visionloss[experiments]'"
        ) from err
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["fmt"] = _fmt
    return environment.from_string(_PAGE).render(
        css=Markup(_CSS),
        sections=sections,
        failed=sum(1 for s in sections if s.error),
        catalogue=list_losses(),
        env=env,
        quick=quick,
        total_seconds=total_seconds,
        version=version,
        embed=embed,
        format_cells=format_cells,
    )
