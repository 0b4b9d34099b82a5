"""CSV outputs, read back with the csv module and compared with the report JSON: one row per statement,
the evidence appendix with every field, formula-injection guard, Unicode and the optional BOM."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields, replace

import pytest

from impact_miner.model import Evidence
from impact_miner.outputs import render_output
from impact_miner.render.csv import (
    EVIDENCE_COLUMNS,
    FORMULA_START,
    PLAIN_NUMBER,
    STATEMENT_COLUMNS,
    csv_cell,
    guard_formula,
    render_csv,
    render_evidence_csv,
)
from impact_miner.render.formats import RenderOptions
from impact_miner.render.json import report_to_dict
from impact_miner.render.views import project_competencies
from test_outputs import CJK_EMOJI_TITLE, FORMULA_TITLE, RTL_TITLE, SCRIPT_TITLE, http_links, review_report


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_one_row_per_statement_matches_the_report_json() -> None:
    report = review_report()
    data = report_to_dict(report)
    text = render_csv(report)
    assert text.splitlines()[0] == ",".join(STATEMENT_COLUMNS)
    rows = read(text)
    assert len(rows) == len(data["projects"])
    for row, project, model in zip(rows, data["projects"], report.projects, strict=True):
        assert row["project_id"] == project["id"]
        assert row["title"] == project["title"]
        assert row["statement"] == project["statement"]
        assert row["verified"] == ("true" if project["verified"] else "false")
        assert (row["problems"].split("\n") if row["problems"] else []) == project["problems"]
        assert (row["links"].split("\n") if row["links"] else []) == http_links(data, project["id"])
        assert row["evidence_ids"].split("\n") == project["evidence_ids"]
        assert (row["competencies"].split("\n") if row["competencies"] else []) == project_competencies(model)
        assert len(row["metrics"].split("\n") if row["metrics"] else []) == len(project["metrics"])
    assert rows[0]["metrics"] == (
        "search p95 latency: 320 ms → 218 ms (−102 ms (−32%); "
        'claimed in github:acme/search#412: "p95 <b>320 ms</b> to 218 ms")'
    )


def test_group_by_competency_adds_a_column_and_a_row_per_competency() -> None:
    rows = read(render_csv(review_report(), group_by="competency"))
    assert list(rows[0]) == ["competency", *STATEMENT_COLUMNS]
    assert [(r["competency"], r["project_id"]) for r in rows] == [
        ("Deliver Results", "search-88"),
        ("Deliver Results", "rtl"),
        ("Insist on the Highest Standards", "search-88"),
        ("Customer Obsession", "rtl"),
        ("", "notes"),
    ]


def test_evidence_appendix_has_every_field_of_every_item() -> None:
    report = review_report()
    assert set(EVIDENCE_COLUMNS) == {f.name for f in fields(Evidence)}
    rows = read(render_evidence_csv(report))
    assert len(rows) == len(report.evidence)
    for row, item in zip(rows, report_to_dict(report)["evidence"], strict=True):
        assert row["id"] == item["id"] and row["project_id"] == item["project_id"]
        assert row["url"] == item["url"] and row["completed_at"] == item["completed_at"]
        assert row["refs"] == "\n".join(item["refs"])
        assert row["additions"] == ("" if item["additions"] is None else str(item["additions"]))
    last = rows[-1]
    assert last["labels"] == "'+danger\ngood first issue"  # guarded: the cell starts with +
    assert last["body"] == "bell \x07 and tab\tinside"
    assert json.loads(last["extra"]) == {"sha": "abc", "merged_by": "=cmd"}
    assert last["additions"] == "-5"  # a number stays a number
    assert last["created_at"] == "2026-11-17T21:00:00+01:00"


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ("=1+1", "'=1+1"),
        (FORMULA_TITLE, "'" + FORMULA_TITLE),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-12", "-12"),
        ("+3.5", "+3.5"),
        ("-0.25", "-0.25"),
        ("-1e5", "'-1e5"),
        ("plain = text", "plain = text"),
        ("", ""),
    ],
)
def test_formula_injection_guard(raw: str, cell: str) -> None:
    assert guard_formula(raw) == cell


def test_cells_for_every_type() -> None:
    assert csv_cell(None) == "" and csv_cell(True) == "true" and csv_cell(False) == "false"
    assert csv_cell(-7) == "-7" and csv_cell(2.5) == "2.5"
    assert csv_cell(["=a", "b"]) == "'=a\nb"
    assert csv_cell({}) == "" and csv_cell({"b": 1, "a": "é"}) == '{"a": "é", "b": 1}'


def test_hostile_and_unicode_titles_round_trip_through_the_csv_module() -> None:
    rows = read(render_evidence_csv(review_report()))
    titles = [r["title"] for r in rows]
    assert titles[:4] == [SCRIPT_TITLE, CJK_EMOJI_TITLE, "'" + FORMULA_TITLE, RTL_TITLE]
    assert titles[5] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert titles[6] == "'-2+3"
    risky = [
        c for r in rows for c in r.values() if c.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(c)
    ]
    assert risky == []


def test_bom_is_optional_and_utf8_either_way() -> None:
    report = review_report()
    plain = render_output(report, "csv")
    with_bom = render_output(report, "csv", RenderOptions(bom=True))
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert with_bom == b"\xef\xbb\xbf" + plain
    assert read(with_bom.decode("utf-8-sig")) == read(plain.decode("utf-8"))
    assert CJK_EMOJI_TITLE.encode("utf-8") in plain and RTL_TITLE.encode("utf-8") in plain


def test_evidence_appendix_leaves_metric_samples_out_of_the_cell() -> None:
    report = review_report()
    report.evidence[0] = replace(report.evidence[0], extra={"unit": "ms", "samples": [[1, 2.0]] * 5000})
    rows = list(csv.DictReader(io.StringIO(render_evidence_csv(report))))
    assert json.loads(rows[0]["extra"]) == {"unit": "ms"}
    assert report.evidence[0].extra["samples"]  # the report itself keeps them
