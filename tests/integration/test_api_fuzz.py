"""Schemathesis against the served OpenAPI document, with tokens of several roles (#12).

For every operation, valid and invalid requests (positive and negative generation, with the
path pointing at real items of the access world and at generated ones) are sent with the tokens
of an annotator, a reviewer, a lead, a vendor lead, another project's lead and no token at all.
Asserted: no 5xx, every status code declared, every response body valid against its declared
schema. Bounded and derandomized, so a run is reproducible and takes seconds.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.integration.test_api_matrix import World, world  # noqa: F401  (module fixture)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ROLES = ("ann-a", "rev-a", "lead-a", "vlead-a", "lead-b", None)
EXAMPLES = 50  # per operation, drawn from its three strategies


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_fuzz_every_operation(world: World) -> None:  # noqa: F811
    failures: list[str] = []
    seen: list[tuple[str, int]] = []
    for operation in _operations(world.app):
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in world.ids.items() if k in names}
        positive, negative = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
        strategies = [operation.as_strategy(positive), operation.as_strategy(negative)]
        if fixed:  # also aimed at real items of the world, so requests reach the handlers
            strategies.append(operation.as_strategy(positive, path_parameters=fixed))

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies), user=st.sampled_from(ROLES))
        def run(case: Any, user: str | None) -> None:
            headers = {"Authorization": f"Bearer {world.tokens[user]}"} if user else {}
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            seen.append((case.operation.label, response.status_code))

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # the fuzzing got past authentication and lookup into the handlers, not only to 401/404
    assert len({label for label, code in seen if code < 300}) >= 8, seen


def test_openapi_declares_the_closed_sets(world: World) -> None:  # noqa: F811
    doc = world.app.openapi()
    review = doc["components"]["schemas"]["ReviewBody"]["properties"]["decision"]
    assert review["enum"] == ["accept", "fix", "reject"]
    submit = doc["components"]["schemas"]["SubmitBody"]["properties"]["duration_ms"]
    assert submit["anyOf"][0]["maximum"] == 7 * 24 * 3600 * 1000
    project = doc["paths"]["/api/v1/projects/{name}"]["get"]["responses"]["200"]
    schema = project["content"]["application/json"]["schema"]
    assert {"discriminator", "oneOf"} <= set(schema)
    annotator = doc["components"]["schemas"]["ProjectForAnnotator"]["properties"]
    assert not {"gold_tasks", "gold_share"} & set(annotator)
