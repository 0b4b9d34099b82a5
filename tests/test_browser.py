"""The HTML report in a real browser: headless Chromium through Selenium, opened from a file.

It must load with no console errors and no network request other than the file itself, the injected
``<script>`` must not run, the SVG timeline must render, text must meet WCAG AA contrast, the page must
fit a phone's width, and the print stylesheet must apply. Screenshots and a printed PDF are kept in
``artifacts/`` (git-ignored) for a person to look at.

Uses the Debian packages ``chromium`` and ``chromium-driver`` (CI installs them via ``.ci/run``);
Selenium Manager is never consulted, so nothing is downloaded.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from impact_miner.render.html import render_html
from test_outputs import SCRIPT_TITLE, review_report
from test_render_html import contrast, parse_rgb

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-default-apps", "--disable-extensions", "--window-size=1280,900",
)  # fmt: skip

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs the Debian packages chromium and chromium-driver (/usr/bin/chromium, "
    "/usr/bin/chromedriver); .ci/run installs them",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="impact-miner-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The review report as HTML, grouped by project and by competency."""
    directory = tmp_path_factory.mktemp("html")
    written = {}
    for group_by in ("project", "competency"):
        path = directory / f"report-{group_by}.html"
        path.write_text(render_html(review_report(), group_by=group_by), encoding="utf-8")  # type: ignore[arg-type]
        written[group_by] = path
    return written


def open_page(driver: Any, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Load ``path`` from a clean slate; return its console entries and every URL it requested."""
    driver.set_window_size(1280, 900)
    driver.get("about:blank")
    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(path.as_uri())
    console = driver.get_log("browser")
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return console, requests


def full_page_png(driver: Any) -> bytes:
    """A screenshot of the whole page: the window grown to the document's height first."""
    width = driver.get_window_size()["width"]
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 120, 12000))
    png: bytes = driver.get_screenshot_as_png()
    return png


def keep(name: str, data: bytes) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / name
    target.write_bytes(data)
    return target


@pytest.mark.parametrize("group_by", ["project", "competency"])
def test_report_loads_offline_with_no_errors_and_no_script(
    browser: Any, pages: dict[str, Path], group_by: str
) -> None:
    console, requests = open_page(browser, pages[group_by])
    assert [e for e in console if e["level"] == "SEVERE"] == []
    assert requests and all(url == pages[group_by].as_uri() or url.startswith("data:") for url in requests), (
        requests
    )
    state = browser.execute_script(
        "return {pwned: typeof window.__pwned, title: document.title, scripts: document.scripts.length,"
        " text: document.body.innerText, lang: document.documentElement.lang}"
    )
    assert state["pwned"] == "undefined"
    assert state["title"] == "Impact report: Ada Lovelace · 2026-11-02 → 2026-11-29"
    assert state["scripts"] == 0
    assert SCRIPT_TITLE in state["text"]  # shown as text
    assert state["lang"] == "en"
    png = full_page_png(browser)
    assert png.startswith(b"\x89PNG")
    keep(f"report-{group_by}-desktop.png", png)


def test_svg_timeline_renders_with_its_bars(browser: Any, pages: dict[str, Path]) -> None:
    open_page(browser, pages["project"])
    chart = browser.execute_script(
        "const svg = document.querySelector('figure.chart svg'); const box = svg.getBoundingClientRect();"
        "const bars = [...svg.querySelectorAll('rect')].map(r => r.getBoundingClientRect());"
        "return {width: box.width, height: box.height, label: svg.getAttribute('aria-labelledby'),"
        " title: svg.querySelector('title').textContent, bars: bars.map(b => [b.width, b.height])}"
    )
    assert chart["width"] > 300 and chart["height"] > 100
    assert chart["title"] == "Evidence per week by source"
    assert len(chart["bars"]) == 5  # non-empty (week, source) pairs of the review report
    assert all(w > 0 and h > 0 for w, h in chart["bars"])


COLOURS_JS = """
const visible = el => {
  const r = el.getBoundingClientRect();
  return r.width > 1 && r.height > 1 && r.right > 0;
};
const background = el => {
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const bg = getComputedStyle(node).backgroundColor;
    const alpha = bg.startsWith('rgba') ? parseFloat(bg.split(',')[3]) : 1;
    if (alpha > 0) return bg;
  }
  return 'rgb(255, 255, 255)';
};
return [...document.querySelectorAll('body *')].filter(el =>
  [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()) && visible(el)
).map(el => ({
  tag: el.tagName, text: el.textContent.trim().slice(0, 40), background: background(el),
  colour: el.namespaceURI.endsWith('svg') ? getComputedStyle(el).fill : getComputedStyle(el).color,
}));
"""


def test_every_text_meets_wcag_aa_contrast(browser: Any, pages: dict[str, Path]) -> None:
    for page in pages.values():
        open_page(browser, page)
        texts = browser.execute_script(COLOURS_JS)
        assert len(texts) > 50
        low = [
            (t["tag"], t["text"], round(contrast(parse_rgb(t["colour"]), parse_rgb(t["background"])), 2))
            for t in texts
            if contrast(parse_rgb(t["colour"]), parse_rgb(t["background"])) < 4.5
        ]
        assert low == []


def test_fits_a_phone_screen(browser: Any, pages: dict[str, Path]) -> None:
    open_page(browser, pages["competency"])
    browser.set_window_size(390, 844)
    sizes = browser.execute_script(
        "return {page: document.documentElement.scrollWidth, view: window.innerWidth,"
        " viewport: document.querySelector('meta[name=viewport]').content}"
    )
    assert sizes["viewport"] == "width=device-width, initial-scale=1"
    assert sizes["page"] <= sizes["view"], sizes
    keep("report-competency-phone.png", full_page_png(browser))


def test_print_stylesheet_applies_and_prints(browser: Any, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.print_page_options import PrintOptions

    open_page(browser, pages["project"])
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    printed = browser.execute_script(
        "const link = document.querySelector('table.evidence a[href]');"
        "return {skip: getComputedStyle(document.querySelector('.skip')).display,"
        " details: getComputedStyle(document.querySelector('details')).display,"
        " after: getComputedStyle(link, '::after').content, href: link.href}"
    )
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert printed["skip"] == "none" and printed["details"] == "none"
    assert printed["href"] in printed["after"]  # links print their address
    pdf = base64.b64decode(browser.print_page(PrintOptions()))
    assert pdf.startswith(b"%PDF")
    keep("report-project.pdf", pdf)
