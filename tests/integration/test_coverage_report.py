"""`curata coverage`: a version skewed toward one language and topic against a balanced target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import write_jsonl

from curata.core.errors import InputError, ValidationError
from curata.curation.coverage import records_to_parity
from curata.curation.coverage_html import render_coverage

HOSTILE = "<img src=x onerror=alert(1)>"
TOPICS = {
    "billing": "question about my invoice and the payment charge",
    "shipping": "question about the parcel delivery and tracking",
}


def _row(i: int, lang: str, topic: str, **extra: Any) -> dict[str, Any]:
    return {"text": f"{lang} {topic} {i}: {TOPICS[topic]}", "lang": lang, "topic": topic, **extra}


@pytest.fixture
def skewed(ws: Any, tmp_path: Path) -> Path:
    """chat@1: 90 English and 10 German records, 90 billing; the target: balanced, 100."""
    rows = [
        _row(i, "en" if i < 90 else "de", "billing" if i % 10 else "shipping", tokens=i)
        for i in range(100)
    ]
    ws.ingest([write_jsonl(tmp_path / "chat.jsonl", rows)], source="web", dataset="chat")
    target = [
        _row(i, "en" if i % 2 else "de", "billing" if i < 50 else "shipping", tokens=2 * i)
        for i in range(100)
    ]
    target[0]["channel"] = HOSTILE
    return write_jsonl(tmp_path / "production_sample.jsonl", target)


def test_the_under_represented_language_ranks_first_with_its_brief(ws: Any, skewed: Path) -> None:
    data = ws.coverage.report("chat@1", skewed, by=["lang", "tokens", "channel"], embed=False)
    json.dumps(data)  # JSON-able as it stands
    assert (data["version"], data["data_records"], data["target_records"]) == ("chat@1", 100, 100)
    lang, tokens, channel = data["fields"]
    worst = lang["under_represented"][0]
    assert (worst["slice"], worst["data_share"], worst["target_share"]) == ("de", 0.1, 0.5)
    assert worst["records_to_parity"] == 80  # (0.5 * 100 - 10) / (1 - 0.5)
    assert worst["examples"] and worst["examples"][0].startswith("de ")
    assert 0 < lang["jsd"] < 1
    assert tokens["kind"] == "numeric" and len(tokens["edges"]) == 4
    assert channel["slices"][0]["slice"] == "(missing)"
    assert data["brief"][0]["label"] == "lang=de"
    assert data["brief_text"].startswith("add ~80 records of lang=de")
    assert data["clusters"] is None and "lang" in data["available_fields"]
    page = render_coverage(data)
    assert page.count('class="bar-data"') == page.count('class="bar-target"') >= 8
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and HOSTILE not in page
    assert "<script" not in page and "lang=de" in page


def _fake_encode(texts: list[str]) -> np.ndarray:
    """Billing texts near one point, shipping texts near another (deterministic jitter)."""
    out = []
    for n, text in enumerate(texts):
        base = [5.0, 0.0, 0.0] if "billing" in text else [0.0, 5.0, 0.0]
        out.append([base[0], base[1], (n % 7) / 10])
    return np.asarray(out)


def test_clusters_find_the_missing_topic_and_sampling_scales_the_brief(
    ws: Any, skewed: Path
) -> None:
    data = ws.coverage.report(
        "chat", skewed, by=["lang"], clusters=2, sample=40, seed=3, encode=_fake_encode
    )
    part = data["clusters"]
    assert (part["k"], part["data_sample"], part["target_sample"]) == (2, 40, 40)
    worst = part["under_represented"][0]
    assert "tracking" in worst["terms"] or "parcel" in worst["terms"]
    assert all("shipping" in e for e in worst["examples"])
    labels = [i["label"] for i in data["brief"]]
    assert "lang=de" in labels and any(label.startswith("cluster ") for label in labels)
    # the same seed draws the same samples
    again = ws.coverage.report(
        "chat", skewed, by=["lang"], clusters=2, sample=40, seed=3, encode=_fake_encode
    )
    assert again == data
    assert "Embedding clusters" in render_coverage(data)


def test_errors_name_the_field_or_the_place(ws: Any, skewed: Path, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"unknown field 'region'.*lang, tokens, topic"):
        ws.coverage.report("chat@1", skewed, by=["region"], embed=False)
    with pytest.raises(ValidationError, match="nothing to compare"):
        ws.coverage.report("chat@1", skewed, by=[], embed=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "lang": "en"}\n{"text": "broken\n', "utf-8")
    with pytest.raises(InputError, match=r"bad\.jsonl:2: malformed JSON"):
        ws.coverage.report("chat@1", bad, by=["lang"], embed=False)
    no_text = write_jsonl(tmp_path / "no_text.jsonl", [{"body": "x", "lang": "en"}])
    with pytest.raises(InputError, match=r"no_text\.jsonl:1: cannot tell the record kind"):
        ws.coverage.report("chat@1", no_text, by=["lang"], embed=False)
    with pytest.raises(InputError, match="no such file"):
        ws.coverage.report("chat@1", tmp_path / "absent.jsonl", by=["lang"], embed=False)
    (tmp_path / "empty.jsonl").write_text("\n", "utf-8")
    with pytest.raises(InputError, match="no records"):
        ws.coverage.report("chat@1", tmp_path / "empty.jsonl", by=["lang"], embed=False)


def test_cli_text_json_and_html(
    ws: Any, skewed: Path, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)  # the workspace's own config
    monkeypatch.setenv("COLUMNS", "120")
    page = tmp_path / "coverage.html"
    args = ["--home", str(ws.home), "coverage", "chat@1", "--target", str(skewed),
            "--by", "lang", "--no-embed"]  # fmt: skip
    assert main([*args, "--html", str(page)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "JSD" in out and "+40.0 pts" in out
    assert "Sourcing brief: add ~80 records of lang=de" in out
    assert "<svg" in page.read_text("utf-8")
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["brief"][0]["records"] == 80
    bad = ["--home", str(ws.home), "coverage", "chat@1", "--target", str(skewed), "--by", "x"]
    assert main(bad) == 1 and "x" in capsys.readouterr().err
    assert main(["coverage", "--help"]) == 0
    assert "--target" in capsys.readouterr().out


def test_cli_save_keeps_the_json_report_where_the_dashboard_reads_it(
    ws: Any, skewed: Path, capsys: Any, monkeypatch: Any
) -> None:
    from curata.cli.main import main

    monkeypatch.delenv("CURATA_DATABASE_URL", raising=False)  # the workspace's own config
    monkeypatch.setenv("COLUMNS", "200")
    args = ["--home", str(ws.home), "coverage", "chat@1", "--target", str(skewed),
            "--by", "lang", "--no-embed"]  # fmt: skip
    saved = ws.home / "coverage" / "chat@1.json"
    assert main([*args, "--json", "--save"]) == 0
    out, err = capsys.readouterr()
    assert saved.read_text("utf-8") == out  # exactly what --json prints; stdout is only that
    assert json.loads(out)["version"] == "chat@1"
    assert "Saved for the dashboard" in err and "chat@1.json" in err
    assert [p.name for p in saved.parent.iterdir()] == ["chat@1.json"]  # no temporary left
    saved.write_text("stale", "utf-8")
    assert main([*args, "--save"]) == 0  # replaced whole, and said where in the text output
    out = " ".join(capsys.readouterr().out.split())
    assert f"Saved for the dashboard: {saved}" in out and "Sourcing brief" in out
    assert json.loads(saved.read_text("utf-8"))["brief"][0]["records"] == 80
    saved.unlink()
    saved.parent.rmdir()
    saved.parent.write_text("not a folder", "utf-8")  # cannot be written: exit 1, naming it
    assert main([*args, "--save"]) == 1
    assert "cannot save the report" in capsys.readouterr().err


def test_real_minilm_clusters_find_the_missing_topic(ws: Any, tmp_path: Path) -> None:
    cooking = ["How long should I boil pasta for dinner?",
               "Best recipe to roast vegetables in the oven",
               "Can I freeze homemade bread dough before baking?",
               "What spices go well in a lentil soup recipe?",
               "How do I cook rice without it sticking to the pot?"]  # fmt: skip
    cars = ["My car engine makes a knocking noise",
            "How often should my car's brake pads be replaced?",
            "My car battery dies overnight", "Why does my car engine overheat on the highway?",
            "My car's tyre pressure warning light stays on"]  # fmt: skip
    rows = [{"text": f"{t} ({i})"} for i in range(4) for t in cooking] + [{"text": cars[0]}]
    ws.ingest([write_jsonl(tmp_path / "d.jsonl", rows)], source="web", dataset="qa")
    target = write_jsonl(
        tmp_path / "t.jsonl", [{"text": f"{t} ({i})"} for i in range(2) for t in cooking + cars]
    )
    data = ws.coverage.report("qa", target, by=[], clusters=2)
    part = data["clusters"]
    assert (part["k"], part["data_sample"], part["target_sample"]) == (2, 21, 20)
    worst = part["under_represented"][0]
    assert {"car", "engine"} <= set(worst["terms"])
    assert worst["target_share"] >= 0.4 and worst["data_share"] <= 0.25
    assert all("car" in e for e in worst["examples"])
    expected = records_to_parity(worst["data_count"], 21, worst["target_count"], 20)
    assert data["brief"][0]["records"] == expected > 0
    assert data["brief"][0]["label"].startswith(f"cluster {worst['cluster']} '")
