"""`curata quality agreement` on files, as a user runs it (no workspace needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Krippendorff (2011), section C: observers A-D, units 1-12 ("" = missing); published alpha
# nominal .743, interval .849.
OBSERVERS = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}


@pytest.fixture
def ratings_csv(tmp_path: Path) -> Path:
    lines = ["item,annotator,value"]
    for who, row in OBSERVERS.items():
        for unit, value in enumerate(row.split(), start=1):
            lines.append(f"u{unit},{who},{'' if value == '.' else value}")
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_agreement_on_a_csv_gives_every_coefficient_with_intervals(cli, ratings_csv) -> None:
    code, out, err = cli("quality", "agreement", ratings_csv, "--json", "--samples", "200")
    assert code == 0, err
    report = json.loads(out)
    assert (report["units"], report["annotators"], report["ratings"]) == (12, 4, 41)
    by_name = {(c["name"], c["weights"]): c for c in report["coefficients"]}
    alpha = by_name[("krippendorff_alpha_nominal", "nominal metric")]
    assert alpha["value"] == pytest.approx(0.743, abs=5e-4) and alpha["units"] == 11
    assert alpha["low"] < alpha["value"] < alpha["high"]
    assert {"fleiss_kappa", "gwet_ac1", "brennan_prediger", "percent_agreement"} <= {
        name for name, _ in by_name
    }
    code, out, _ = cli("quality", "agreement", ratings_csv, "--level", "interval", "--json")
    interval = json.loads(out)["coefficients"][0]
    assert interval["name"] == "krippendorff_alpha_interval"
    assert interval["value"] == pytest.approx(0.849, abs=5e-4)
    code, out, _ = cli("quality", "agreement", ratings_csv, "--samples", "50")
    assert code == 0 and "Krippendorff's alpha" in out and "95% interval" in out
    # the same file saved by Excel as "CSV UTF-8" starts with a byte-order mark
    excel = ratings_csv.with_name("excel.csv")
    excel.write_text(ratings_csv.read_text("utf-8"), encoding="utf-8-sig")
    code, out, err = cli("quality", "agreement", excel, "--json", "--samples", "0")
    assert code == 0, err
    assert json.loads(out)["coefficients"][0]["value"] == pytest.approx(0.743, abs=5e-4)


def test_jsonl_and_ordinal_text_labels(cli, tmp_path: Path) -> None:
    rows = [
        {"item": "q1", "annotator": "a", "value": "low"},
        {"item": "q1", "annotator": "b", "value": "mid"},
        {"item": "q2", "annotator": "a", "value": "high"},
        {"item": "q2", "annotator": "b", "value": "high"},
        {"item": "q3", "annotator": "a", "value": "low"},
        {"item": "q3", "annotator": "b", "value": "low"},
    ]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, err = cli("quality", "agreement", path, "--level", "ordinal")
    assert code == 1 and "ordinal text labels need their order" in err and str(path) in err
    code, out, err = cli(
        "quality", "agreement", path, "--level", "ordinal", "--categories", "low,mid,high",
        "--json", "--samples", "0",
    )  # fmt: skip
    assert code == 0, err
    names = {c["name"] for c in json.loads(out)["coefficients"]}
    assert {"krippendorff_alpha_ordinal", "cohen_kappa", "scott_pi", "gwet_ac2"} <= names


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("item,rater,value\nq1,a,1\n", ".csv", "ratings.csv:1: missing column(s) annotator"),
        ("item,annotator,value\nq1,a,1\nq1,a,2\n", ".csv", "ratings.csv:3: annotator 'a' rated"),
        ('{"item": "q1", "annotator": "a", "value": 1}\n{oops\n', ".jsonl", "ratings.jsonl:2: "),
        ('{"item": "q1", "annotator": "a", "value": [1]}\n', ".jsonl", "single value"),
        ("item,annotator,value\nq1,a,x\nq1,b,2\n", ".csv", "ratings.csv:2: interval data needs"),
        ("a\tb\n", ".txt", "unknown format '.txt'"),
    ],
)
def test_bad_files_are_named(cli, tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"ratings{suffix}"
    path.write_text(content, encoding="utf-8")
    code, _, err = cli("quality", "agreement", path, "--level", "interval")
    assert code == 1 and message in err, err


def test_missing_file_and_bad_options(cli, tmp_path: Path, ratings_csv) -> None:
    code, _, err = cli("quality", "agreement", tmp_path / "nope.csv")
    assert code == 1 and "nope.csv: no such file" in err
    code, _, err = cli("quality", "agreement", ratings_csv, "--confidence", "1.5")
    assert code == 1 and "confidence: must be between 0 and 1" in err
    code, _, err = cli("quality", "agreement", ratings_csv, "--level", "fuzzy")
    assert code == 1 and "level: 'fuzzy' is not one of" in err
