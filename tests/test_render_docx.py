"""The Word report, opened again with python-docx and compared with the report JSON: headings and
statements in the chosen grouping, real clickable hyperlinks, the evidence appendix, hostile and Unicode
text kept as plain text."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from docx import Document

from impact_miner.render.docx import render_docx, xml_text
from impact_miner.render.json import report_to_dict
from impact_miner.render.views import UNCATEGORISED, project_competencies
from test_outputs import CJK_EMOJI_TITLE, FORMULA_TITLE, RTL_TITLE, SCRIPT_TITLE, http_links, review_report


def open_docx(data: bytes) -> Any:
    return Document(io.BytesIO(data))


def headings(document: Any) -> list[tuple[str, str]]:
    return [
        (p.style.name, p.text) for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))
    ]


def project_blocks(document: Any) -> list[list[Any]]:
    """The paragraphs under each numbered project heading, up to the next heading."""
    blocks: list[list[Any]] = []
    current: list[Any] | None = None
    for paragraph in document.paragraphs:
        name = paragraph.style.name
        if name.startswith("Heading"):
            current = [paragraph] if paragraph.text[:1].isdigit() else None
            if current is not None:
                blocks.append(current)
        elif current is not None:
            current.append(paragraph)
    return blocks


def test_statements_links_and_verified_lines_match_the_report_json() -> None:
    report = review_report()
    data = report_to_dict(report)
    document = open_docx(render_docx(report))
    blocks = project_blocks(document)
    assert [b[0].text for b in blocks] == [f"{n}. {p['title']}" for n, p in enumerate(data["projects"], 1)]
    for block, project, model in zip(blocks, data["projects"], report.projects, strict=True):
        texts = [p.text for p in block]
        assert project["statement"] in texts
        if project["verified"]:
            assert "✓ Verified against its evidence" in texts
        else:
            assert "✗ Not verified: " + "; ".join(project["problems"]) in texts
        links = [link.url for p in block for link in p.hyperlinks]
        assert links == http_links(data, project["id"])
        bullets = [p for p in block if p.style.name == "List Bullet"]
        assert len(bullets) == len(project["evidence_ids"])
        competencies = project_competencies(model)
        if competencies:
            assert f"Competencies: {' · '.join(competencies)}" in texts


def test_hyperlinks_are_external_relationships_with_the_link_style() -> None:
    data = render_docx(review_report())
    document = open_docx(data)
    part = document.part
    links = [link for p in document.paragraphs for link in p.hyperlinks]
    assert links
    for link in links:
        relationship = part.rels[link._hyperlink.rId]
        assert relationship.is_external and relationship.target_ref == link.url
    assert document.styles["Hyperlink"].font.underline
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/_rels/document.xml.rels").decode()
    assert 'TargetMode="External"' in xml and "javascript:" not in xml


def test_group_by_competency_uses_heading_levels() -> None:
    document = open_docx(render_docx(review_report(), group_by="competency"))
    layout = [h for h in headings(document) if h[0] in ("Heading 1", "Heading 2")]
    assert layout == [
        ("Heading 1", "Deliver Results"),
        ("Heading 2", f"1. {CJK_EMOJI_TITLE}"),
        ("Heading 2", f"2. {RTL_TITLE}"),
        ("Heading 1", "Insist on the Highest Standards"),
        ("Heading 2", f"1. {CJK_EMOJI_TITLE}"),
        ("Heading 1", "Customer Obsession"),
        ("Heading 2", f"2. {RTL_TITLE}"),
        ("Heading 1", UNCATEGORISED),
        ("Heading 2", "3. Write notes (notes)"),
        ("Heading 1", "Evidence appendix"),
        ("Heading 1", "Coverage"),
    ]


def test_title_range_and_properties() -> None:
    document = open_docx(render_docx(review_report()))
    assert headings(document)[0] == ("Title", "Impact report: Ada Lovelace")
    texts = [p.text for p in document.paragraphs]
    assert (
        "Range: 2026-11-02 → 2026-11-29 (2026-11-02 00:00 +0100 → 2026-11-30 00:00 +0100, 4w, end excluded)"
        in texts
    )
    assert (
        "Summary: 3 projects · 2 of 3 statements verified · 7 evidence items (git 4, github 2, jira 1)"
        in texts
    )
    assert document.core_properties.title == "Impact report: Ada Lovelace"
    assert document.core_properties.author == "Ada Lovelace"


def test_evidence_appendix_table_lists_every_item_with_links() -> None:
    report = review_report()
    data = report_to_dict(report)
    results, appendix, coverage = open_docx(render_docx(report)).tables
    assert [c.text for c in results.rows[1].cells][:4] == [
        "search p95 latency",
        "320 ms",
        "218 ms",
        "−102 ms (−32%)",
    ]
    rows = [[c.text for c in row.cells] for row in appendix.rows]
    assert rows[0] == ["Evidence", "Kind", "Repository", "Completed", "Size", "Project", "ID"]
    assert [r[6] for r in rows[1:]] == [e["id"] for e in data["evidence"]]
    assert [r[5] for r in rows[1:]] == [e["project_id"] for e in data["evidence"]]
    assert rows[1][1:5] == ["pull request", "acme/search", "2026-11-03", "+412/−97, 14 files"]
    linked = [link.url for row in appendix.rows for p in row.cells[0].paragraphs for link in p.hyperlinks]
    assert linked == [e["url"] for e in data["evidence"] if e["url"].startswith("https://")]
    assert rows[6][0] == "@SUM(1+1)*cmd|' /C calc'!A0 (javascript:alert(1))"  # shown, not linked
    assert [[c.text for c in row.cells] for row in coverage.rows][2] == [
        "github", "github", "partial", "2", "rate limited <i>after 2 pages</i>",
    ]  # fmt: skip


def test_hostile_and_unicode_text_stays_plain_text() -> None:
    report = review_report()
    report.projects[2].statement = "Wrote notes \x00\x0b with control characters."
    data = render_docx(report)
    document = open_docx(data)
    appendix = document.tables[1]
    titles = [row.cells[0].text for row in appendix.rows[1:5]]
    assert titles == [
        SCRIPT_TITLE,
        CJK_EMOJI_TITLE,
        FORMULA_TITLE,
        RTL_TITLE,
    ]  # formulas are only text in Word
    texts = [p.text for p in document.paragraphs]
    assert "Wrote notes  with control characters." in texts
    assert "أصلحت خطأ البحث في 9 ثوانٍ." in texts
    body = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode()
    assert "w:fldSimple" not in body and "w:instrText" not in body  # no field codes anywhere


def test_xml_text_drops_only_what_xml_cannot_hold() -> None:
    assert xml_text("a\x00b\x07c\td\ne\rf\ufffeg") == "abc\td\ne\rfg"
    assert xml_text("検索 🚀 עברית") == "検索 🚀 עברית"


def test_empty_report() -> None:
    report = review_report()
    report.projects, report.evidence = [], []
    document = open_docx(render_docx(report))
    assert any(p.text.startswith("No work found in this range") for p in document.paragraphs)
    [appendix, _] = document.tables
    assert len(appendix.rows) == 1
