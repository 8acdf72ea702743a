"""The docs and the tour report as a reader sees them: loaded in a headless Chromium, offline.

Each page must show its formulas rendered (no TeX or reStructuredText in the visible text),
load every image, and fetch nothing from the network. Skipped where no Chromium is installed
(``apt-get install chromium``; ``$VISIONLOSS_BROWSER`` names another binary).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .browser import find_browser, inspect_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RAW = ("\\[", "\\(", "$$", "\\frac", "\\sum", ".. math::", ":math:`", ":func:`", ":class:`")


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:
        pytest.skip("no Chromium installed")
    return path


def _assert_reads_well(seen: dict, page: Path) -> None:
    raw = [needle for needle in RAW if needle in seen["text"]]
    assert not raw, f"{page}: raw markup in the visible text: {raw}"
    broken = [i["src"] for i in seen["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{page}: images that did not load: {broken}"
    fetched = [u for u in seen["resources"] if not u.startswith(("file:", "data:", "blob:"))]
    assert not fetched, f"{page}: fetched from the network: {fetched}"


@pytest.mark.parametrize(
    "page, formulas",
    [
        pytest.param("losses/segmentation/index.html", 20, id="segmentation-losses"),
        pytest.param("losses/contrastive/index.html", 5, id="contrastive-losses"),
        pytest.param("migration/monai/index.html", 0, id="monai-guide"),
        pytest.param("api/index.html", 0, id="api"),
    ],
)
def test_docs_page_renders_offline(built_site, browser, page, formulas):
    path = built_site / page
    seen = inspect_page(path, browser)
    _assert_reads_well(seen, path)
    assert seen["math"] >= formulas


def test_tour_report_renders_offline(tmp_path, browser):
    from visionloss.experiments import list_experiments

    names = [e.name for e in list_experiments()]
    if not names:
        pytest.skip("no experiment is registered")
    name = "tv-denoise" if "tv-denoise" in names else names[0]
    proc = subprocess.run(
        [sys.executable, "-m", "visionloss", "tour", "--quick", "--only", name]
        + ["--out", str(tmp_path), "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = tmp_path / "report.html"
    seen = inspect_page(report, browser)
    _assert_reads_well(seen, report)
    assert seen["images"], "the report shows the experiment's figures"
    assert name in seen["text"]
