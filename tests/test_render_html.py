"""The HTML report, parsed back with an HTML parser (lxml) and compared with the report JSON:
statements, links, verified flags, escaping, self-containment, structure for accessibility, the chart."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from lxml import html

from impact_miner.model import Report
from impact_miner.render.html import PALETTE, render_html, timeline_chart
from impact_miner.render.json import report_to_dict
from impact_miner.render.views import UNCATEGORISED, http_url, project_competencies, report_summary
from test_outputs import CJK_EMOJI_TITLE, FORMULA_TITLE, RTL_TITLE, SCRIPT_TITLE, http_links, review_report


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def parse_rgb(css: str) -> tuple[float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)[:3]]
    return values[0], values[1], values[2]


def parse(report: Report, **options: Any) -> Any:
    return html.fromstring(render_html(report, **options).encode("utf-8"))


def text(node: Any) -> str:
    return " ".join(node.text_content().split())


def test_statements_links_and_verified_flags_match_the_report_json() -> None:
    report = review_report()
    data = report_to_dict(report)
    page = parse(report)
    articles = page.xpath("//article[@data-project-id]")
    assert [a.get("data-project-id") for a in articles] == [p["id"] for p in data["projects"]]
    for article, project in zip(articles, data["projects"], strict=True):
        assert article.xpath("string(.//p[@class='statement'])") == project["statement"]
        assert article.get("data-verified") == ("true" if project["verified"] else "false")
        assert article.xpath(".//a/@href") == http_links(data, project["id"])
        rows = article.xpath(".//tr[@data-evidence-id]/@data-evidence-id")
        assert rows == project["evidence_ids"]
        tags = [" ".join(t.split()) for t in article.xpath(".//ul[@class='tags']/li//text()")]
        assert tags == project_competencies(report.projects[articles.index(article)])
        badge = text(article.xpath(".//*[contains(@class, 'badge')]")[0])
        assert badge == ("✓ Verified against its evidence" if project["verified"] else "✗ Not verified")
        problems = [text(li) for li in article.xpath(".//div[@class='problems']//li")]
        assert problems == project["problems"]


def test_measured_results_table() -> None:
    page = parse(review_report())
    [table] = page.xpath("//table[@class='metrics']")
    rows = [[text(c) for c in row.xpath("./th | ./td")] for row in table.xpath(".//tr")]
    assert rows == [
        ["Metric", "Before", "After", "Change", "Source", "Weak"],
        ["search p95 latency", "320 ms", "218 ms", "−102 ms (−32%)",
         'claimed in github:acme/search#412: "p95 <b>320 ms</b> to 218 ms"', ""],
    ]  # fmt: skip
    assert table.xpath("ancestor::article/@data-project-id") == ["search-88"]


def test_untrusted_text_is_escaped_and_no_script_exists() -> None:
    report = review_report()
    source = render_html(report)
    page = html.fromstring(source.encode())
    assert not page.xpath("//script") and "<script" not in source.lower()
    titles = page.xpath("//td[@class='title']")
    assert [text(t) for t in titles][:4] == [SCRIPT_TITLE, CJK_EMOJI_TITLE, FORMULA_TITLE, RTL_TITLE]
    assert "&lt;script&gt;document.title=&#39;pwned&#39;" in source
    assert [text(li) for li in page.xpath("//div[@class='problems']//li")][1] == "<b>bold</b> problem"
    assert not page.xpath("//b")  # the problem's <b> is text
    assert "rate limited <i>after 2 pages</i>" in text(
        page.xpath("//section[@aria-labelledby='coverage-heading']")[0]
    )


def test_only_http_links_are_hrefs_and_they_carry_noopener() -> None:
    page = parse(review_report())
    links = page.xpath("//a[@href]")
    hrefs = [a.get("href") for a in links if not a.get("href").startswith("#")]
    assert hrefs and all(http_url(h) == h for h in hrefs)
    assert all(a.get("rel") == "noopener noreferrer" for a in links if not a.get("href").startswith("#"))
    assert "javascript:alert(1)" not in hrefs
    codes = [text(c) for c in page.xpath("//td[@class='title']/code")]
    assert codes == ["notes@" + "b" * 40, "javascript:alert(1)"]  # shown as text


def test_self_contained_no_external_anything() -> None:
    source = render_html(review_report())
    page = html.fromstring(source.encode())
    assert not page.xpath("//link | //img | //iframe | //object | //embed | //script | //*[@src]")
    css = "\n".join(page.xpath("//style/text()"))
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    csp = page.xpath("//meta[@http-equiv='Content-Security-Policy']/@content")[0]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "@media print" in css and "@page" in css


def test_accessible_structure() -> None:
    for group_by in ("project", "competency"):
        page = parse(review_report(), group_by=group_by)
        assert page.get("lang") == "en"
        assert page.xpath("//meta[@name='viewport']/@content") == ["width=device-width, initial-scale=1"]
        assert page.xpath("count(//body/header)") == 1 and page.xpath("count(//main)") == 1
        assert page.xpath("count(//body/footer)") == 1
        levels = [int(h.tag[1]) for h in page.xpath("//h1 | //h2 | //h3 | //h4 | //h5 | //h6")]
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
        ids = page.xpath("//@id")
        assert len(ids) == len(set(ids))
        for labelled in page.xpath("//*[@aria-labelledby]"):
            assert all(page.xpath(f"//*[@id='{i}']") for i in labelled.get("aria-labelledby").split())
        assert all(th.get("scope") in ("col", "row") for th in page.xpath("//th"))
        svg = page.xpath("//svg")[0]
        assert svg.get("role") == "img"
        assert svg.xpath("string(./title)") == "Evidence per week by source"
        assert "7 evidence items over 4 weeks" in svg.xpath("string(./desc)")


def test_group_by_competency_sections() -> None:
    page = parse(review_report(), group_by="competency")
    assert text(page.xpath("//h2[@id='statements-heading']")[0]) == "Statements by competency"
    sections = page.xpath("//section[@class='competency']")
    layout = [(text(s.xpath("./h3")[0]), [text(h) for h in s.xpath(".//h4")]) for s in sections]
    assert layout == [
        ("Deliver Results", [f"1. {CJK_EMOJI_TITLE}", f"2. {RTL_TITLE}"]),
        ("Insist on the Highest Standards", [f"1. {CJK_EMOJI_TITLE}"]),
        ("Customer Obsession", [f"2. {RTL_TITLE}"]),
        (UNCATEGORISED, ["3. Write notes (notes)"]),
    ]


def test_header_and_summary() -> None:
    page = parse(review_report())
    assert text(page.xpath("//h1")[0]) == "Impact report: Ada Lovelace"
    assert page.xpath("//p[@class='range']/time/@datetime") == [
        "2026-11-02T00:00:00+01:00",
        "2026-11-30T00:00:00+01:00",
    ]
    assert [text(li) for li in page.xpath("//ul[@class='figures']/li")] == [
        "3 projects",
        "2 of 3 statements verified",
        "7 evidence items",
    ]
    weekly = [[text(c) for c in row.xpath("./th | ./td")] for row in page.xpath("//details//tbody/tr")]
    assert weekly[0] == ["2026-W45", "2026-11-02", "0", "1", "1", "2"]


def test_empty_report_renders_without_a_chart() -> None:
    report = review_report()
    report.projects, report.evidence, report.coverage = [], [], []
    page = parse(report)
    assert not page.xpath("//svg")
    assert "No evidence in this range" in text(page) and "No sources ran." in text(page)


def test_timeline_geometry_is_proportional() -> None:
    summary = report_summary(review_report())
    chart = timeline_chart(summary)
    assert len(chart.segments) == sum(1 for w in summary.weeks for c in w.counts if c)
    unit = (chart.plot_bottom - chart.plot_top) / int(chart.y_ticks[-1].label)
    for segment in chart.segments:
        count = int(re.search(r": (\d+) from", segment.label).group(1))  # type: ignore[union-attr]
        assert segment.height == pytest.approx(count * unit)
        assert chart.plot_left <= segment.x and segment.x + segment.width <= chart.plot_right
        assert segment.y >= chart.plot_top - 1e-9
    assert dict(chart.legend) == {"git": PALETTE[0], "github": PALETTE[1], "jira": PALETTE[2]}


@pytest.mark.parametrize("colour", PALETTE)
def test_series_colours_contrast_with_white_as_graphics_must(colour: str) -> None:
    rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    assert contrast(rgb, (255, 255, 255)) >= 3.0  # type: ignore[arg-type]


def test_json_data_is_unchanged_by_html() -> None:
    report = review_report()
    before = json.dumps(report_to_dict(report))
    render_html(report, group_by="competency")
    assert json.dumps(report_to_dict(report)) == before
