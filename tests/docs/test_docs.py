"""The documentation site: the docstring conversion, the generated pages and a strict build."""

from __future__ import annotations

import importlib.util
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


@pytest.fixture(scope="module")
def math():
    pytest.importorskip("latex2mathml")
    return _load("offline_math")


def _documented_objects() -> list:
    objs = []
    for spec in visionloss.list_losses():
        objs += [spec.function, spec.module]
    return objs + [getattr(visionloss, name) for name in visionloss.__all__]


def test_every_docstring_formula_becomes_mathml(rst, math):
    """Each formula of every docstring and hand-written page converts, with no TeX macro left
    over as text (a macro latex2mathml does not know would show as ``\\name``)."""
    import inspect
    import re

    formulas = set()
    for obj in _documented_objects():
        text = rst.rst_to_markdown(inspect.getdoc(obj) or "")
        formulas |= {(f, True) for f in re.findall(r"\$\$\n(.*?)\n\s*\$\$", text, re.S)}
        formulas |= {(f, False) for f in re.findall(r"(?<!\$)\$([^$\n]+)\$(?!\$)", text)}
    for page in (ROOT / "docs").glob("*.md"):
        formulas |= {(f, True) for f in re.findall(r"\$\$(.*?)\$\$", page.read_text(), re.S)}
    assert len(formulas) > 50
    for tex, display in sorted(formulas):
        out = math.tex_to_mathml(tex, display)
        assert out.startswith("<math") and "merror" not in out, tex
        shown = re.sub(r"<[^>]+>", " ", out)
        assert not re.search(r"\\[A-Za-z]", shown), (tex, shown)


def test_render_math_replaces_arithmatex_output(math):
    page = (
        '<p>a</p><div class="arithmatex">\\[\n\\ell = 1 - \\frac{a}{b} &lt; 2\n\\]</div>'
        '<p>with <span class="arithmatex">\\(\\big\\lVert x \\big\\rVert_2\\)</span>.</p>'
    )
    out = math.render_math(page)
    assert out.count("<math") == 2 and 'display="block"' in out and "\\[" not in out
    assert "&#x0003C;" in out or "&lt;" in out  # the escaped < came through as an operator
    assert math.page_problems(out) == []


@pytest.mark.parametrize(
    "page, problem",
    [
        pytest.param("<p>loss \\[ x \\] here</p>", "display math", id="display-tex"),
        pytest.param("<p>with \\(x\\)</p>", "inline math", id="inline-tex"),
        pytest.param("<p>.. math:: x</p>", "directive", id="rst-math"),
        pytest.param("<p>see :func:`dice_loss`</p>", "cross-reference", id="rst-role"),
        pytest.param("<math><mi>\\foo</mi></math>", "macro", id="unknown-macro"),
        pytest.param(
            '<p><span class="doc-section-title">Returns:</span></p><ul><li>the loss, not'
            "</li><li>1.0 or NaN.</li></ul>",
            "Returns section split",
            id="split-returns",
        ),
    ],
)
def test_page_check_finds_what_a_reader_should_not_see(math, page, problem):
    found = math.page_problems(page)
    assert len(found) == 1 and problem in found[0]


def test_page_check_ignores_code(math):
    page = "<pre><code>x[\\(a)] = .. math:: :func:`f`</code></pre><code>\\[</code>"
    assert math.page_problems(page) == []


def test_api_page_lists_the_registry_errors_and_distributed(gen):
    import visionloss.distributed
    import visionloss.errors

    page = gen.api_page()
    for name in ("build_loss", "get_loss", "list_losses", "register_loss", "CombinedLoss"):
        assert f"::: visionloss.{name}\n" in page
    for name in visionloss.errors.__all__:
        assert f"::: visionloss.errors.{name}\n" in page
    for name in visionloss.distributed.__all__:
        assert name in page


def test_family_table_cells_keep_names_whole(gen):
    spec = visionloss.get_loss("dice")
    page = gen.family_page("segmentation", visionloss.list_losses("segmentation"))
    assert f"`{spec.function.__name__}`<br>`{spec.module.__name__}`" in page
    assert '<code class="vl-formula">' in page
    css = (ROOT / "docs" / "stylesheets" / "extra.css").read_text()
    assert "white-space: nowrap" in css


@pytest.mark.slow
def test_mkdocs_build_is_strict_clean(built_site):
    site = built_site
    for family in {s.family for s in visionloss.list_losses()}:
        page = (site / "losses" / family / "index.html").read_text()
        assert ".. math::" not in page and ":func:`" not in page  # converted to Markdown
        if any(".. math::" in (s.function.__doc__ or "") for s in visionloss.list_losses(family)):
            assert "<math" in page and "\\[" not in page  # rendered to MathML at build time
    for page in ("getting-started", "conventions", "choosing", "benchmarks", "experiments", "api"):
        assert (site / page / "index.html").is_file()
    for peer in ("monai", "smp", "torchvision", "kornia", "pml", "timm"):
        assert (site / "migration" / peer / "index.html").is_file()
    for page in site.rglob("*.html"):  # nothing loaded from the network
        text = page.read_text()
        assert "cdn.jsdelivr" not in text and "mathjax.js" not in text.lower(), page
    dice = (site / "losses" / "segmentation" / "index.html").read_text()
    start = dice.index('id="visionloss.segmentation.dice.dice_loss"')
    returns = dice.index("Returns:", start)
    assert dice[returns : dice.index("</ul>", returns)].count("<li") == 1
    assert 'id="visionloss.segmentation.dice.DiceLoss.forward"' in dice  # Module call arguments


def test_inherited_init_is_rebuilt_from_the_runtime_signature(rst):
    """A hand-written subclass of a derived Module of the same name (DINOLoss's pattern): griffe
    cannot follow the base, so the extension gives the class its runtime ``__init__``."""
    import inspect

    spec = visionloss.get_loss("dice")
    init = rst.init_from_signature(spec.module)
    expected = list(inspect.signature(spec.module.__init__).parameters)
    assert init.name == "__init__" and [p.name for p in init.parameters] == expected
    assert init.parameters["smooth"].default == "0.0"
