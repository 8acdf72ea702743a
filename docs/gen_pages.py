"""Generate the pages of the documentation that come from the code and from results.

Run by ``mkdocs build`` as a hook (``hooks: [docs/gen_pages.py]`` in ``mkdocs.yml``), so a newly
registered loss, benchmark CSV or experiment appears without editing any page:

* ``losses/index.md``: the catalogue, from ``visionloss.list_losses()``;
* ``losses/<family>.md``: one page per family that has losses, each loss rendered by
  mkdocstrings from its docstring (formula, arguments, shape, reference, example);
* ``benchmarks.md``: the tables of ``benchmarks/results/*.csv`` (``benchmarks/make_table.py``);
* ``experiments.md``: every registered experiment with how to run it, and its results (table and
  figures) where a ``results.json`` exists: under ``$VISIONLOSS_RESULTS`` when it is set, else
  in the two folders the commands write to when run from the repository root,
  ``tour-report/NAME/`` (``visionloss tour``) and ``out/NAME/`` (``visionloss experiment NAME``);
  the newer of the two wins. Result files are git-ignored: the page shows what was run here.

``python docs/gen_pages.py --out DIR`` writes the same pages to ``DIR`` for a look.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

FAMILY_TITLES = {
    "regression": "Regression",
    "classification": "Classification",
    "segmentation": "Segmentation",
    "boxes": "Bounding boxes",
    "metric": "Metric learning",
    "contrastive": "Contrastive",
    "synthesis": "Image synthesis",
    "quality": "Image quality and restoration",
    "self_supervised": "Self-supervised",
    "adversarial": "Adversarial",
}

Content = str | bytes


def _formula(text: str) -> str:
    """A plain-text formula for a table cell: HTML code element, pipes as entities (a code span
    would show Markdown's ``\\|`` escape verbatim)."""
    import html

    return '<code class="vl-formula">' + html.escape(text).replace("|", "&#124;") + "</code>"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = (
            f"{value:.3e}"
            if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3)
            else (f"{value:.4f}")
        )
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(columns: list[Any], rows: list[list[Any]]) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _families() -> dict[str, list[Any]]:
    import visionloss

    out: dict[str, list[Any]] = {}
    for spec in visionloss.list_losses():
        out.setdefault(spec.family, []).append(spec)
    return out


def family_page(family: str, specs: list[Any]) -> str:
    import importlib

    package = importlib.import_module(f"visionloss.{family}")
    intro = inspect.cleandoc(package.__doc__ or "")
    lines = [f"# {FAMILY_TITLES.get(family, family)} losses", ""]
    if intro:
        lines += [intro, ""]
    lines += [
        "| name | function, Module | formula | reference |",
        "| --- | --- | --- | --- |",
    ]
    for s in specs:
        lines.append(
            f"| [`{s.name}`](#{s.name}) | `{s.function.__name__}`<br>`{s.module.__name__}` "
            f"| {_formula(s.formula or '')} | {_cell(s.reference)} |"
        )
    lines.append("")
    for s in specs:
        aliases = f" (aliases: {', '.join(f'`{a}`' for a in s.aliases)})" if s.aliases else ""
        lines += [
            f"## {s.name}",
            "",
            f'`visionloss.build_loss("{s.name}")`{aliases} · family `{s.family}` · '
            f"{_cell(s.reference)}",
            "",
            f"::: {_path(s.function)}",
            "",
            f"::: {_path(s.module)}",
            # the Module's options (its __init__) and what its forward takes
            "    options:",
            "      members: [forward]",
            "      show_root_heading: true",
            "",
        ]
    registered = {id(s.function) for s in specs} | {id(s.module) for s in specs}
    helpers = [
        getattr(package, name)
        for name in getattr(package, "__all__", [])
        if id(getattr(package, name)) not in registered and callable(getattr(package, name))
    ]
    if helpers:
        lines += ["## Other public functions and classes", ""]
        for obj in helpers:
            lines += [f"::: {_path(obj)}", ""]
    return "\n".join(lines)


def catalogue_page(families: dict[str, list[Any]]) -> str:
    lines = [
        "# Catalogue",
        "",
        "Every registered loss (`visionloss list` prints the same catalogue). "
        "Each name builds its Module with `visionloss.build_loss(name, **options)`.",
        "",
    ]
    count = sum(len(v) for v in families.values())
    lines += [
        f"{count} losses in {len(families)} families.",
        "",
        "| name | family | formula | reference |",
        "| --- | --- | --- | --- |",
    ]
    for family, specs in families.items():
        for s in specs:
            anchor = s.name
            lines.append(
                f"| [`{s.name}`]({family}.md#{anchor}) | {family} "
                f"| {_formula(s.formula or s.summary)} | {_cell(s.reference)} |"
            )
    return "\n".join(lines) + "\n"


def benchmarks_page() -> str:
    if str(ROOT) not in sys.path:  # mkdocs loads hooks with its own, temporary sys.path
        sys.path.insert(0, str(ROOT))
    from benchmarks.make_table import RESULTS, markdown, read_rows

    lines = [
        "# Benchmarks",
        "",
        "Forward+backward time (p50, with p20–p80) and peak extra memory of each loss for "
        "our implementation, plain torch eager, `torch.compile` and the installed peers, "
        "with the memory-bandwidth (or matmul) floor measured on the same device. "
        "Generated from `benchmarks/results/*.csv`; see "
        "[how to run and read them](#running-the-benchmarks).",
        "",
    ]
    peers = sorted((RESULTS / "peers").glob("*.csv"))
    if peers:  # `visionloss bench --peers`: ratios to the fastest peer, over the runs
        from benchmarks.make_table import peer_markdown

        runs = [read_rows([path]) for path in peers]
        lines += ["## Side by side with the peers", "", peer_markdown(runs), ""]
    csvs = sorted(RESULTS.glob("*.csv"))
    if csvs:
        for path in csvs:
            lines += [f"## `{path.name}`", "", markdown(read_rows([path])), ""]
    else:
        lines += ["!!! note", "", "    No results are committed yet.", ""]
    lines += [
        "## Running the benchmarks",
        "",
        "```sh",
        "visionloss bench                      # every family, cuda if available, else cpu",
        "visionloss bench --family regression --device cpu",
        "visionloss bench --peers --memory      # side by side with the installed peers",
        "python -m visionloss.bench.runner --device cuda --out benchmarks/results/all-cuda.csv",
        "python -m visionloss.bench.make_table benchmarks/results/all-cuda.csv",
        "python -m visionloss.bench.make_table --peers   # the ratios of results/peers/*.csv",
        "```",
        "",
        "* **Time**: `loss = impl(*inputs); torch.autograd.grad(loss, leaves)`, after warm-up "
        "runs; p20 / p50 / p80 over the timed runs (CUDA events on the GPU).",
        "* **Peak extra MiB**: on CUDA `torch.cuda.max_memory_allocated()` during one run "
        "minus what was allocated before it, so inputs are excluded and gradients included; "
        "on the CPU (`--memory`) the rise of the resident-set high-water mark over one run in "
        "a fresh process per case (blank without `--memory`).",
        "* **Side by side** (`--peers`): realistic sizes, every installed peer, the "
        "implementations of a case timed interleaved (round by round) so that the noise of a "
        "shared machine hits them alike; `--compile` adds `torch.compile` of each.",
        "* **Floor**: the least bytes one fused forward+backward must move (for an elementwise "
        "loss: read input and target, write the input's gradient) divided by the copy "
        "bandwidth measured at the start of the run; for matmul-bound losses the flops over "
        "the measured matmul rate. `× floor` is p50 / floor.",
        "* **Implementations**: `ours` (the registered function; `ours[torch]` is our torch "
        "path where a Triton kernel exists), `torch` (a plain eager reference), "
        "`torch.compile` (of ours; default on CUDA, `--compile` on the CPU) and peers "
        "(`--peers`).",
        "* **Adding cases**: a family's `visionloss/bench/bench_<family>.py` calls "
        "`visionloss.bench.cases.add_cases(BenchCase(...))`; the runner finds it by itself.",
        "",
    ]
    return "\n".join(lines)


def _results_dirs() -> list[Path]:
    """Where experiment results are read from: ``$VISIONLOSS_RESULTS`` when set, else the
    folders ``visionloss tour`` and ``visionloss experiment NAME`` write to from the root."""
    env = os.environ.get("VISIONLOSS_RESULTS")
    if env:
        return [Path(env)]
    return [ROOT / "tour-report", ROOT / "out"]


def _results_file(name: str) -> Path | None:
    """The newest ``results.json`` of experiment ``name``, or None."""
    found = [d / name / "results.json" for d in _results_dirs()]
    found = [p for p in found if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT.resolve()))
    except ValueError:
        return str(path)


def experiments_page() -> tuple[str, dict[str, bytes]]:
    from visionloss.experiments import list_experiments

    figures: dict[str, bytes] = {}
    lines = [
        "# Experiments",
        "",
        "Small, reproducible experiments on embedded data: paper reproductions and "
        "comparisons. `visionloss experiment NAME [--quick]` runs one (results in "
        "`out/NAME/`); `visionloss tour --quick` runs them all and writes one HTML report "
        "(results in `tour-report/`). This page shows the newest results found in either "
        "folder when the docs were built.",
        "",
    ]
    experiments = list_experiments()
    if not experiments:
        lines += ["No experiments are registered yet.", ""]
        return "\n".join(lines), figures
    lines += ["| experiment | family | summary | run it |", "| --- | --- | --- | --- |"]
    for e in experiments:
        lines.append(
            f"| [`{e.name}`](#{e.name}) | {e.family} | {_cell(e.summary)} "
            f"| `visionloss experiment {e.name} --quick` |"
        )
    lines.append("")
    for e in experiments:
        lines += [f"## {e.name}", "", e.summary, ""]
        if e.reference:
            lines += [f"Reference: {e.reference}", ""]
        data_file = _results_file(e.name)
        if data_file is None:
            lines += [
                "No results here yet: from the repository root run "
                f"`visionloss experiment {e.name} --quick` (it writes `out/{e.name}/`) or "
                "`visionloss tour --quick` (it writes `tour-report/`), then build the docs "
                "again.",
                "",
            ]
            continue
        data = json.loads(data_file.read_text())
        run = {True: "quick run, ", False: "full run, "}.get(data.get("quick"), "")
        lines += [
            f"**{_cell(data.get('title', e.name))}** ({run}"
            f"{float(data.get('seconds', 0.0)):.1f} s; from `{_shown(data_file)}`)",
            "",
        ]
        lines += _table(data.get("columns", []), data.get("rows", [])) + [""]
        if data.get("notes"):
            lines += [str(data["notes"]), ""]
        for fig in data.get("figures", []):
            source = data_file.parent / Path(fig).name
            if source.suffix.lower() in (".png", ".svg", ".jpg", ".jpeg") and source.is_file():
                target = f"experiments/{e.name}/{source.name}"
                figures[target] = source.read_bytes()
                lines += [f"![{e.name}: {source.name}]({target})", ""]
    return "\n".join(lines), figures


def pages() -> dict[str, Content]:
    """Every generated file: path inside the docs -> content."""
    families = _families()
    out: dict[str, Content] = {
        "losses/index.md": catalogue_page(families),
        "benchmarks.md": benchmarks_page(),
    }
    for family, specs in families.items():
        out[f"losses/{family}.md"] = family_page(family, specs)
    text, figures = experiments_page()
    out["experiments.md"] = text
    out.update(figures)
    out.update(_migration().pages())
    out["api.md"] = api_page()
    return out


API_INTRO = """\
# API reference

The losses themselves are documented family by family under [Losses](losses/index.md). This page
covers the rest of the public API: the registry (build a loss by name, list and register
losses), `CombinedLoss`, the value checks, the exceptions and the distributed helpers.
"""

# (section title, intro, objects): rendered in this order on api.md
API_SECTIONS: list[tuple[str, str, list[str]]] = [
    (
        "Registry",
        "Every loss is registered once; `visionloss list`, `build_loss`, configs and these "
        'pages read the same registry. A name can be the registry name (`"dice"`), an alias, '
        'the function name (`"dice_loss"`) or the Module\'s class name (`"DiceLoss"`).',
        [
            "visionloss.build_loss",
            "visionloss.get_loss",
            "visionloss.list_losses",
            "visionloss.register_loss",
            "visionloss.LossSpec",
        ],
    ),
    ("Combining losses", "", ["visionloss.CombinedLoss"]),
    ("Value checks", "", ["visionloss.set_value_checks", "visionloss.value_checks_enabled"]),
]


def api_page() -> str:
    """``api.md``: the registry, CombinedLoss, value checks, then every name of
    ``visionloss.errors.__all__`` and ``visionloss.distributed.__all__``."""
    import visionloss.distributed
    import visionloss.errors

    lines = [API_INTRO]
    sections = [
        *API_SECTIONS,
        (
            "Errors",
            "::: visionloss.errors\n    options:\n      show_root_heading: false",
            [f"visionloss.errors.{n}" for n in visionloss.errors.__all__],
        ),
        (
            "Distributed training",
            "::: visionloss.distributed\n    options:\n      show_root_heading: false",
            [f"visionloss.distributed.{n}" for n in visionloss.distributed.__all__],
        ),
    ]
    for title, intro, names in sections:
        lines += [f"## {title}", ""]
        if intro:
            lines += [intro, ""]
        for name in names:
            obj = _resolve(name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj)):
                lines += [f"### `{name.rsplit('.', 1)[-1]}`", "", f"`{name}` = `{obj!r}`", ""]
                continue
            lines += [f"::: {name}", "    options:", "      heading_level: 3"]
            if inspect.isclass(obj) and "forward" in vars(obj):
                lines.append("      members: [forward]")
            if inspect.isclass(obj) and issubclass(obj, Exception):
                lines.append("      show_bases: true")  # ValueError or TypeError
            lines.append("")
    return "\n".join(lines)


def _resolve(dotted: str) -> Any:
    import importlib

    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _migration() -> Any:
    """``docs/migration_pages.py`` (the migration guides), loaded by path: mkdocs loads this
    hook with a temporary ``sys.path``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_visionloss_migration_pages", Path(__file__).with_name("migration_pages.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def migration_nav() -> list[tuple[str, str]]:
    return list(_migration().navigation())


def navigation() -> list[Any]:
    families = _families()
    return [
        {"Home": "index.md"},
        {"Getting started": "getting-started.md"},
        {"Conventions": "conventions.md"},
        {"Choosing a loss": "choosing.md"},
        {
            "Losses": ["losses/index.md"]
            + [{FAMILY_TITLES.get(f, f): f"losses/{f}.md"} for f in families]
        },
        {"Benchmarks": "benchmarks.md"},
        {"Experiments": "experiments.md"},
        {"Migrating from": ["migration/index.md"] + [{t: p} for t, p in migration_nav()]},
        {"API reference": "api.md"},
    ]


# --- mkdocs hook -------------------------------------------------------------------------------


def on_config(config):
    config.nav = navigation()
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for path, content in pages().items():
        files.append(File.generated(config, path, content=content))
    return files


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="write the generated pages to a folder")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    for path, content in pages().items():
        target = Path(args.out) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
