"""Copied gold answers are counted once (#12): a gold or calibration answer copied onto the
record's live item is one submission, so the quality report's annotation count and drift's
outcomes see it once."""

from __future__ import annotations

import sqlalchemy as sa
from tests.integration.test_hidden_gold import PEOPLE, _run, gold_project  # noqa: F401


def _submissions(ws) -> dict[tuple[str, str], int]:
    """(annotator, task kind) -> answers they submitted themselves (no queue copies); kind
    ``live-gold`` counts their live answers on records that are also hidden gold."""
    with ws.engine.connect() as conn:
        return {
            (user, kind): n
            for user, kind, n in conn.execute(
                sa.text(
                    "SELECT u.name, CASE WHEN t.kind = 'live' AND EXISTS (SELECT 1 FROM tasks g "
                    "WHERE g.project_id = t.project_id AND g.record_id = t.record_id "
                    "AND g.kind = 'gold') THEN 'live-gold' ELSE t.kind END AS k, count(*) "
                    "FROM annotations n "
                    "JOIN tasks t ON t.id = n.task_id JOIN users u ON u.id = n.user_id "
                    "JOIN assignments a ON a.id = n.assignment_id "
                    "WHERE a.copied_from IS NULL GROUP BY u.name, k"
                )
            )
        }


def test_report_and_drift_count_a_copied_gold_answer_once(ws, gold_project) -> None:  # noqa: F811
    served = _run(ws)
    mine = _submissions(ws)
    groups = {g["group"]: g for g in ws.quality.report("hg", samples=10)["groups"]}
    for user in PEOPLE:
        given = sum(n for (who, _), n in served.items() if who == user)
        assert groups[user]["annotations"] == given  # every record served once, counted once
        # gold answers each once (not again as the live copy), and the live answers on gold
        # records the annotator met live first (they never get its gold copy)
        checks = mine.get((user, "gold"), 0) + mine.get((user, "live-gold"), 0)
        assert groups[user]["gold_answered"] == checks
        assert groups[user]["gold_accuracy"] in (None, 1.0)  # _run answers the truth
    series = ws.quality.drift("hg", by="annotator")["series"]
    outcomes = {s["who"]: s["n"] for s in series if s["question"] == "parity"}
    for user in PEOPLE:
        # one outcome per own gold answer and per own live answer (every live item has two
        # answers); calibration answers have no consensus to agree with and copies none
        want = sum(mine.get((user, k), 0) for k in ("gold", "live", "live-gold"))
        assert outcomes.get(user, 0) == want
    assert sum(mine.get((u, "gold"), 0) for u in PEOPLE) >= 1  # both cases are exercised
    assert sum(mine.get((u, "live-gold"), 0) for u in PEOPLE) >= 1
