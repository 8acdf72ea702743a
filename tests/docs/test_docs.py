"""The documentation site: the docstring conversion, the generated pages and a strict build."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import visionloss

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rst():
    pytest.importorskip("griffe")
    return _load("griffe_rst")


@pytest.fixture(scope="module")
def gen():
    return _load("gen_pages")


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            "Loss.\n\n.. math:: \\ell = |x|\n\nMore.",
            "Loss.\n\n$$\n\\ell = |x|\n$$\n\nMore.",
            id="math-one-line",
        ),
        pytest.param(
            "Loss.\n\n.. math::\n    a = b \\\\\n      c = d\n\nMore.",
            "Loss.\n\n$$\na = b \\\\\n  c = d\n$$\n\nMore.",
            id="math-block",
        ),
        pytest.param("Loss.\n.. math:: x\n    + y", "Loss.\n\n$$\nx\n+ y\n$$", id="math-at-end"),
        pytest.param("where :math:`d = x - y` is", "where $d = x - y$ is", id="math-role"),
        pytest.param(
            "see :func:`torch.nn.functional.l1_loss`.", "see `l1_loss`.", id="unknown-xref-is-code"
        ),
        pytest.param(
            ".. note:: Careful.\n    Twice.",
            "!!! note\n\n    Careful.\n    Twice.",
            id="admonition",
        ),
    ],
)
def test_rst_to_markdown(rst, text, expected):
    assert rst.rst_to_markdown(text) == expected


def test_xref_to_a_registered_loss_links_to_its_canonical_path(rst):
    fn = visionloss.get_loss("huber").function
    path = f"{fn.__module__}.{fn.__qualname__}"
    assert rst.rst_to_markdown(":func:`huber_loss`") == f"[`huber_loss`][{path}]"
    assert rst.rst_to_markdown(":class:`~visionloss.HuberLoss`").startswith("[`HuberLoss`][")


def test_grouped_args_become_one_entry_each(rst):
    text = (
        "Loss.\n\nArgs:\n    input, target: as in\n        dice.\n"
        "    smooth, squared,\n        reduction: as in dice.\n    eps (float): small.\n\n"
        "Returns:\n    a, b: not an Args section.\n"
    )
    assert rst.split_grouped_args(text) == (
        "Loss.\n\nArgs:\n    input: as in\n        dice.\n    target: as in\n        dice.\n"
        "    smooth: as in dice.\n    squared: as in dice.\n    reduction: as in dice.\n"
        "    eps (float): small.\n\nReturns:\n    a, b: not an Args section."
    )


def test_generated_pages_cover_every_registered_loss(gen):
    pages = gen.pages()
    catalogue = pages["losses/index.md"]
    for spec in visionloss.list_losses():
        page = pages[f"losses/{spec.family}.md"]
        assert f"## {spec.name}\n" in page
        assert f"::: {spec.function.__module__}.{spec.function.__qualname__}\n" in page
        assert f"::: {spec.module.__module__}.{spec.module.__qualname__}\n" in page
        assert f"[`{spec.name}`]({spec.family}.md#{spec.name})" in catalogue
    families = {s.family for s in visionloss.list_losses()}
    nav_losses = next(item["Losses"] for item in gen.navigation() if "Losses" in item)
    assert len(nav_losses) == 1 + len(families)


def test_experiments_page_lists_each_experiment_and_reads_results(gen, tmp_path, monkeypatch):
    from visionloss.experiments import list_experiments

    experiments = list_experiments()
    if not experiments:
        pytest.skip("no experiment is registered")
    name = experiments[0].name
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(
        '{"title": "T", "columns": ["loss", "AP"], "rows": [["focal", 0.5]], '
        '"figures": ["somewhere/fig.png"], "notes": "n", "seconds": 1.5}'
    )
    (folder / "fig.png").write_bytes(b"\x89PNG fake")
    monkeypatch.setenv("VISIONLOSS_RESULTS", str(tmp_path))
    text, figures = gen.experiments_page()
    for e in experiments:
        assert f"## {e.name}\n" in text and f"`visionloss experiment {e.name} --quick`" in text
    assert "| loss | AP |\n| --- | --- |\n| focal | 0.5000 |" in text
    assert f"![{name}: fig.png](experiments/{name}/fig.png)" in text
    assert figures == {f"experiments/{name}/fig.png": b"\x89PNG fake"}


def test_benchmark_table_from_csv(tmp_path):
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.make_table import main
        from benchmarks.runner import Row, write_csv
    finally:
        sys.path.remove(str(ROOT))
    csv_path = write_csv(
        [
            Row(
                "l1",
                "regression",
                "ours",
                "4096",
                "float32",
                "cpu (2 threads)",
                0.1,
                0.2,
                0.3,
                None,
                0.01,
                20.0,
                "",
            )
        ],
        tmp_path / "r.csv",
    )
    out = tmp_path / "t.md"
    assert main([str(csv_path), "-o", str(out)]) == 0
    assert out.read_text().splitlines()[4] == (
        "| `l1` | ours | 4096 | float32 | 0.200 | 0.100–0.300 |  | 0.01 | 20.0 |  |"
    )


@pytest.mark.slow
def test_mkdocs_build_is_strict_clean(tmp_path):
    if (
        importlib.util.find_spec("mkdocs") is None
        or importlib.util.find_spec("mkdocstrings_handlers") is None
    ):
        pytest.skip("mkdocs / mkdocstrings are not installed (pip install '.[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "VISIONLOSS_RESULTS": str(tmp_path / "no")}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    site = tmp_path / "site"
    for family in {s.family for s in visionloss.list_losses()}:
        page = (site / "losses" / family / "index.html").read_text()
        assert ".. math::" not in page and ":func:`" not in page  # converted to Markdown
        if any(".. math::" in (s.function.__doc__ or "") for s in visionloss.list_losses(family)):
            assert 'class="arithmatex"' in page
    for page in ("getting-started", "conventions", "choosing", "benchmarks", "experiments"):
        assert (site / page / "index.html").is_file()
