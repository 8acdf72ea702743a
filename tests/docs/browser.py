"""Look at an HTML page in a real headless Chromium, offline.

:func:`inspect_page` copies the page next to itself (so relative links still resolve) with a
script that runs once the page has loaded and writes what the browser saw into the DOM, then
reads the DOM back with ``chromium --headless --dump-dom``: the visible text
(``document.body.innerText``), every image with whether it decoded, the resources fetched and
the vertical offset of chosen elements. The network is cut (``--proxy-server`` to a closed
port, every host name unresolvable), so a page that needs it shows it.

:func:`screenshot` renders the page to a PNG (``--screenshot``), optionally from an element
down (a tall window, then cropped), for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")

_PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const ids = %(ids)s;
  const report = {
    text: document.body.innerText,
    images: Array.from(document.images).map(i => ({
      src: i.currentSrc.slice(0, 120), complete: i.complete, width: i.naturalWidth})),
    resources: performance.getEntriesByType("resource").map(e => e.name),
    offsets: Object.fromEntries(ids.map(id => {
      const el = document.getElementById(id);
      return [id, el ? el.getBoundingClientRect().top + window.scrollY : null];
    })),
    math: document.querySelectorAll("math").length,
  };
  const out = document.createElement("textarea");
  out.id = "vl-browser-report";
  out.style.display = "none";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
}, 200));
</script>
"""

_OFFLINE = [
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]


def find_browser() -> str | None:
    """The path of a Chromium found on PATH (``$VISIONLOSS_BROWSER`` first), or None."""
    for name in (os.environ.get("VISIONLOSS_BROWSER", ""), *CANDIDATES):
        if name and (path := shutil.which(name)):
            return path
    return None


def _run(browser: str, args: list[str], timeout: float = 120) -> str:
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        *_OFFLINE,
        *args,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def inspect_page(page: Path, browser: str, ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """What Chromium saw on ``page``: ``text``, ``images``, ``resources``, ``offsets``,
    ``math`` (the number of MathML elements)."""
    page = Path(page)
    probe = page.with_name(f".vl-probe-{page.name}")
    source = page.read_text(encoding="utf-8")
    script = _PROBE % {"ids": json.dumps(list(ids))}
    at = source.rfind("</body>")
    probe.write_text(
        source[:at] + script + source[at:] if at >= 0 else source + script, encoding="utf-8"
    )
    try:
        dom = _run(
            browser,
            ["--virtual-time-budget=10000", "--dump-dom", probe.resolve().as_uri()],
        )
    finally:
        probe.unlink()
    start = dom.find('id="vl-browser-report"')
    if start < 0:
        raise RuntimeError(f"the probe did not run on {page}:\n{dom[-2000:]}")
    body = dom[dom.index(">", start) + 1 : dom.index("</textarea>", start)]
    import html

    return json.loads(html.unescape(body))


def screenshot(
    page: Path,
    out: Path,
    browser: str,
    *,
    width: int = 1280,
    height: int = 1600,
    from_id: str | None = None,
) -> Path:
    """Render ``page`` to ``out`` (PNG), ``height`` pixels from the element ``from_id`` (or
    from the top)."""
    top = 0
    if from_id is not None:
        offset = inspect_page(page, browser, (from_id,))["offsets"].get(from_id)
        top = max(0, int(offset or 0) - 16)
    out = Path(out)
    _run(
        browser,
        [
            f"--window-size={width},{top + height}",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
            f"--screenshot={out.resolve()}",
            Path(page).resolve().as_uri(),
        ],
    )
    if top:
        from PIL import Image

        with Image.open(out) as image:
            image.crop((0, top, width, top + height)).save(out)
    return out
