"""PyRIT's side of the campaign benchmark (issue #14); runs inside bench/out/venv-pyrit.

Sends every prompt of ``--prompts`` (one a line) once with PyRIT's prompt-sending attack
(``PromptSendingAttack``, what PyRIT 1.x calls the prompt-sending orchestrator) through an
``OpenAIChatTarget`` pointed at the scripted server, ``AttackExecutor(max_concurrency=N)``,
scored by a local refusal scorer (a ``RegexScorer`` over refusal phrases, inverted: the
objective is achieved when the reply is not a refusal; no model is asked), persisted in PyRIT's
default SQLite memory at ``--db`` (a file; ``:memory:`` for PyRIT's in-memory SQLite, to see
what the file's commits cost). Prints one JSON object: the send phase's seconds (the
``execute_attack_async`` call: building the contexts, sending, scoring, writing to memory) and
the seconds of setup before it.

    bench/out/venv-pyrit/bin/python bench/peers/pyrit_campaign.py --base-url URL
        --prompts FILE --db FILE [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import time

T0 = time.perf_counter()

REFUSAL = (r"(?i)\b(?:I'm sorry|I am sorry|I apologi[sz]e|I can(?:no|')t|I cannot|Sorry,|"
           r"I won't|I will not|As an AI)")
"""The phrases that start the scripted server's refusals, and the usual ones besides."""


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--model", default="scripted")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_CHAT_KEY", "not-needed")

    from pyrit.executor.attack import AttackExecutor, AttackScoringConfig, PromptSendingAttack
    from pyrit.memory import CentralMemory
    from pyrit.prompt_target import OpenAIChatTarget
    from pyrit.score import RegexScorer, TrueFalseInverterScorer
    from pyrit.setup import SQLITE, initialize_pyrit_async

    await initialize_pyrit_async(SQLITE, db_path=args.db, load_defaults=False, silent=True)
    imported = time.perf_counter()
    with open(args.prompts, encoding="utf-8") as f:
        prompts = [line.rstrip("\n") for line in f if line.strip()]
    target = OpenAIChatTarget(endpoint=args.base_url, model_name=args.model, api_key="not-needed",
                              temperature=0.0, max_completion_tokens=64)
    scorer = TrueFalseInverterScorer(scorer=RegexScorer(patterns={"refusal": REFUSAL}))
    attack = PromptSendingAttack(objective_target=target,
                                 attack_scoring_config=AttackScoringConfig(objective_scorer=scorer))
    executor = AttackExecutor(max_concurrency=args.concurrency)
    # warm-up: a few objectives, so the connection pool and the memory's tables exist
    await executor.execute_attack_async(attack=attack, objectives=prompts[: args.concurrency])
    ready = time.perf_counter()
    results = await executor.execute_attack_async(attack=attack, objectives=prompts,
                                                  return_partial_on_failure=True)
    seconds = time.perf_counter() - ready
    outcomes: dict[str, int] = {}
    for result in results:
        outcomes[str(result.outcome.value)] = outcomes.get(str(result.outcome.value), 0) + 1
    from sqlalchemy import text

    memory = CentralMemory.get_memory_instance()
    with memory.engine.connect() as db:
        stored = {table: db.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                  for table in ("PromptMemoryEntries", "ScoreEntries", "AttackResultEntries")}
    journal = None
    if args.db != ":memory:":
        with sqlite3.connect(args.db) as con:
            journal = con.execute("PRAGMA journal_mode").fetchone()[0]
    memory.dispose_engine()
    print(json.dumps({
        "tool": "pyrit",
        "attempts": len(prompts),
        "completed": len(results.completed_results) if hasattr(results, "completed_results")
        else len(list(results)),
        "incomplete": len(getattr(results, "incomplete_objectives", []) or []),
        "send_s": round(seconds, 3),
        "attempts_per_s": round(len(prompts) / seconds, 1),
        "setup_s": round(ready - T0, 3),
        "import_init_s": round(imported - T0, 3),
        "outcomes": outcomes,
        "db": args.db,
        "journal_mode": journal,
        "stored_rows": stored,
    }))


if __name__ == "__main__":
    asyncio.run(main())
