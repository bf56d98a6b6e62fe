"""Docs that cannot drift: the CLI reference is generated, and every setting is documented."""

from __future__ import annotations

from pathlib import Path

from curata.cli.reference import render
from curata.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text("utf-8")
    assert committed == render(), "run: python -m curata.cli.reference > docs/cli.md"


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    for name in Settings.model_fields:
        assert f"`{name}`" in text and f"CURATA_{name.upper()}" in text, name


def test_readme_quick_start_is_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "make demo" in readme and "make test" in readme


def test_public_api() -> None:
    import curata

    assert sorted(curata.__all__) == ["CurataError", "Record", "Workspace", "__version__", "open"]
    for name in curata.__all__:
        assert getattr(curata, name) is not None


def test_every_registered_plugin_is_documented() -> None:
    """A registered step, aggregator, agreement coefficient, question type, converter, scorer,
    target or strategy missing from its docs page fails (datasette's test_docs.py is the
    model): the reference cannot fall behind the registries."""
    from curata.annotation.aggregation import AGGREGATORS
    from curata.curation.steps import registry
    from curata.questions import question_types
    from curata.redteam.converters import registry as converter_registry
    from curata.redteam.scorers import registry as scorer_registry
    from curata.redteam.strategies import STRATEGIES
    from curata.redteam.targets import registry as target_registry
    from curata.stats.coefficients import COEFFICIENTS

    pages: dict[str, list[str]] = {
        "curation.md": list(registry()),
        "annotation.md": list(AGGREGATORS.load()),
        "quality.md": list(COEFFICIENTS.load()),
    }
    for page, plugins in pages.items():
        text = (ROOT / "docs" / page).read_text("utf-8")
        for name in plugins:
            assert f"`{name}`" in text, f"{name} is registered but missing from docs/{page}"
    questions = (ROOT / "docs" / "annotation.md").read_text("utf-8")
    for name in question_types():  # a row of the question-type table, not any mention
        assert f"| `{name}` |" in questions, f"question type {name} is missing from annotation.md"
    redteam = (ROOT / "docs" / "redteam.md").read_text("utf-8")
    for name in converter_registry():  # a row of the converter table, not any mention
        assert f"| `{name}` |" in redteam, f"converter {name} is missing from docs/redteam.md"
    scorers = redteam.split("## Scorers", 1)[-1]
    for name in scorer_registry():  # a row of the Scorers section's table
        assert f"| `{name}` |" in scorers, f"scorer {name} is missing from docs/redteam.md"
    targets = redteam.split("## Targets", 1)[-1].split("\n## ", 1)[0]
    for name in target_registry():  # a row of the Targets section's table
        assert f"| `{name}` |" in targets, f"target {name} is missing from docs/redteam.md"
    strategies = redteam.split("## Strategies", 1)[-1].split("\n## ", 1)[0]
    for name in STRATEGIES.load():  # a row of the Strategies section's table
        assert f"| `{name}` |" in strategies, f"strategy {name} is missing from docs/redteam.md"
