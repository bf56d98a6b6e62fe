"""Data cards: what a released version is, where it came from and how it was made, generated from
lineage, as a Hugging Face dataset card (Markdown with YAML front matter) and as Croissant 1.0
JSON-LD with the Responsible-AI (``rai:``) vocabulary.

:func:`gather` reads the facts from the workspace into a :class:`CardFacts` (the version, its
upstream versions and sources, the curation steps that ran with their counts and the PII report,
the annotation releases with their people, per-item annotation counts and agreement, saved
coverage reports, the fields of the exported rows); :func:`markdown` and :func:`croissant` are
pure functions of those facts; :func:`write_cards` writes both under
``<home>/cards/NAME@N/`` (``README.md``, ``croissant.json``), each file replaced atomically.

Every value that came from a user (names, messages, origins, field names) is made safe where it
lands: YAML values are single-line and emitted by ``yaml.safe_dump``; Markdown text has HTML
and Markdown's own punctuation escaped, so a rendered card shows ``<script>`` as text.

The Croissant distribution always lists the canonical JSON Lines export of the version
(``NAME-vN.jsonl``, the bytes ``curata dataset export REF --format jsonl`` writes, whose SHA-256
is computed here by streaming the rows), plus any export files the caller names; its one
RecordSet (``records``) describes the exported fields, read from that JSON Lines file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml
from sqlalchemy import select

from curata._version import __version__
from curata.core.errors import CurataError, InputError
from curata.export.formats import HF_SPLIT
from curata.store.files import write_atomic
from curata.store.tables import OperationRow, ProjectRow, ProjectSchemaRow, StepRunRow
from curata.timeutil import iso

if TYPE_CHECKING:
    from curata.annotation.projects import ProjectService
    from curata.curation.service import CurationService
    from curata.lineage.graph import LineageService
    from curata.quality.service import QualityService
    from curata.sourcing.service import SourceService
    from curata.store.records import RecordStore
    from curata.versioning.service import DatasetService


class Workspace(Protocol):
    """What a card is gathered from: the workspace's services (a
    :class:`curata.workspace.Workspace` is one; the workspace sits above this module)."""

    @property
    def home(self) -> Path: ...
    @property
    def store(self) -> RecordStore: ...
    @property
    def datasets(self) -> DatasetService: ...
    @property
    def lineage(self) -> LineageService: ...
    @property
    def sources(self) -> SourceService: ...
    @property
    def projects(self) -> ProjectService: ...
    @property
    def curation(self) -> CurationService: ...
    @property
    def quality(self) -> QualityService: ...

CARD_DIR = "cards"
"""Where, under the workspace's home, the cards of a version lie (``cards/NAME@N/``)."""
README = "README.md"
CROISSANT = "croissant.json"
CROISSANT_1_0 = "http://mlcommons.org/croissant/1.0"
HF_DATA_FILES = (f"{HF_SPLIT}/data-*.arrow",)
"""The ``configs`` data files of the card in an ``export --format hf`` folder."""
LANGUAGE_SAMPLE = 300
"""Records whose text py3langid reads to name the card's languages."""
LANGUAGE_SHARE = 0.05
"""A language is listed when at least this share of the sampled records is in it."""
SECRET_PARAMS = frozenset({"salt", "salt_env", "secret", "password", "token", "api_key"})
"""Step parameters never written to a card (the pii step's hash key, and its like)."""

# Hugging Face's license identifiers that are an SPDX id lower-cased; any other is "other"
# fmt: off
HF_LICENSES = frozenset({
    "apache-2.0", "mit", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0",
    "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gpl-2.0", "gpl-3.0",
    "lgpl-2.1", "lgpl-3.0", "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl", "osl-3.0",
    "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl",
})
# fmt: on
_SIZE_BINS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)
_COLLECTION_TYPES = {  # source kind -> rai:dataCollectionType's recommended values
    "crawl": "Web Scraping",
    "internal": "Secondary Data analysis",
    "human": "Manual Human Curator",
    "synthetic": "Software Collection",
    "vendor": "Manual Human Curator",
}
_LANGUAGE_CREATORS = {
    "crawl": "found",
    "internal": "found",
    "human": "crowdsourced",
    "synthetic": "machine-generated",
    "vendor": "crowdsourced",
}
_KIND_FIELDS = (("responses", "pairwise"), ("messages", "chat"), ("prompt", "pair"))
_CONTENT_FIELDS = {
    "curata_id": "The record's content id (SHA-256 based); `curata lineage --record ID`.",
    "text": "The text of a text record.",
    "messages": "The conversation of a chat record (role, content).",
    "prompt": "The prompt of a prompt/response record.",
    "response": "The response of a prompt/response record.",
    "responses": "The candidate responses of a pairwise record.",
    "curata_labels": "The released label per question (JSON).",
    "curata_confidence": "The released label's confidence per question (JSON).",
    "curata_annotators": "How many annotators answered the item.",
    "curata_soft_labels": "Each answer's probability per question (JSON).",
    "curata_outside_votes": "A label none of the item's annotators chose, and why (JSON).",
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# -- facts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFacts:
    """A source upstream of the version, with the records of it the version holds."""

    name: str
    kind: str
    license: str
    license_ref: str | None
    origin: str
    collected_at: str | None
    consent: str | None
    pii_status: str
    sensitivity: str
    owner: str | None
    records: int


@dataclass(frozen=True)
class StepFacts:
    """One curation step that ran upstream (in the run that made ``version``)."""

    version: str
    position: int
    name: str
    params: dict[str, Any]
    records_in: int
    records_out: int
    changed: int
    dropped: int


@dataclass(frozen=True)
class AnnotationFacts:
    """One annotation release upstream: its project, people and measured agreement."""

    version: str
    project: str
    aggregate: str
    questions: list[dict[str, Any]]
    overlap: int | None
    gold_share: float | None
    annotators: list[str]
    cohorts: list[str]
    vendors: list[str]
    guidelines: list[str]
    labelled: int
    unlabelled: int
    per_item: dict[int, int]
    """How many released items had N annotators (N -> items), labelled items only."""
    alpha: dict[str, float | None]
    gold_accuracy: float | None
    gold_answers: int

    def per_item_summary(self) -> str:
        if not self.per_item:
            return "no item was annotated"
        counts = sorted(self.per_item)
        total = sum(self.per_item.values())
        mean = sum(n * k for n, k in self.per_item.items()) / total
        spread = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
        return f"{spread} (mean {mean:.2f} over {total:,} labelled items)"


@dataclass(frozen=True)
class DataFile:
    """A file of the distribution: its name (relative to the card), size and SHA-256."""

    name: str
    sha256: str
    bytes: int
    encoding_format: str
    description: str = ""


@dataclass(frozen=True)
class FieldFacts:
    """A field of the exported rows: its Croissant type and how many rows have a value."""

    name: str
    data_type: str
    present: int
    nested: bool = False
    """Holds JSON objects or lists (described by ``parts`` where those are plain)."""
    parts: dict[str, str] = field(default_factory=dict)
    """For an object of plain values: each key's Croissant type (a release's labels)."""


@dataclass(frozen=True)
class CardFacts:
    """Everything a card says, gathered once (see :func:`gather`)."""

    dataset: str
    number: int
    digest: str
    record_count: int
    created_at: str
    author: str
    message: str
    tags: list[str]
    history: list[dict[str, Any]]
    sources: list[SourceFacts]
    steps: list[StepFacts]
    pii: list[dict[str, Any]]
    annotations: list[AnnotationFacts]
    coverage: list[dict[str, Any]]
    fields: list[FieldFacts]
    kinds: dict[str, int]
    languages: dict[str, float]
    language_sample: int
    files: list[DataFile]
    generated_at: str
    intended_use: str | None = None
    out_of_scope: str | None = None
    curata_version: str = __version__

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.number}"

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, **asdict(self)}


# -- gathering ----------------------------------------------------------------------------------


def canonical_name(ref: str) -> str:
    """The file name of a version's canonical JSON Lines export in its card's distribution."""
    name, _, number = ref.rpartition("@")
    return f"{name}-v{number}.jsonl"


def _kind(row: dict[str, Any]) -> str:
    for key, kind in _KIND_FIELDS:
        if row.get(key) is not None:
            return kind
    return "text"


def _row_text(row: dict[str, Any]) -> str:
    parts = [row.get("text"), row.get("prompt"), row.get("response")]
    for message in row.get("messages") or []:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            parts.append(message["content"])
    return "\n".join(p for p in parts if isinstance(p, str))[:2_000]


def _data_type(types: set[str]) -> str:
    if types == {"bool"}:
        return "sc:Boolean"
    if types == {"int"}:
        return "sc:Integer"
    if types and types <= {"int", "float"}:
        return "sc:Float"
    return "sc:Text"


def _scan_rows(
    ws: Workspace, ref: str
) -> tuple[DataFile, list[FieldFacts], dict[str, int], dict[str, float], int]:
    """Stream the version as exported rows once: the canonical JSON Lines file's digest and size
    (the bytes ``export --format jsonl`` writes), the fields with their types, the record
    kinds, and the languages of a sample."""
    digest = hashlib.sha256()
    size = 0
    types: dict[str, set[str]] = {}
    present: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    parts: dict[str, dict[str, set[str]]] = {}
    texts: list[str] = []
    for batch in ws.datasets.iter_rows(ref):
        for row in batch:
            line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(line)
            size += len(line)
            kinds[_kind(row)] += 1
            for key, value in row.items():
                types.setdefault(key, set())
                if value is not None:
                    present[key] += 1
                    types[key].add(type(value).__name__)
                if isinstance(value, dict):
                    for part, inner in value.items():
                        parts.setdefault(key, {}).setdefault(str(part), set()).add(
                            type(inner).__name__ if inner is not None else "none"
                        )
            if len(texts) < LANGUAGE_SAMPLE:
                text = _row_text(row)
                if text.strip():
                    texts.append(text)
    file = DataFile(
        canonical_name(ref),
        digest.hexdigest(),
        size,
        "application/jsonlines",
        f"Every record of {ref}, one JSON object a line ('curata dataset export {ref} "
        "--format jsonl' writes these bytes).",
    )
    fields = []
    for key, found in types.items():
        nested = bool(found & {"dict", "list"})
        plain = {
            part: _data_type(kinds_of - {"none"})
            for part, kinds_of in parts.get(key, {}).items()
            if not kinds_of & {"dict", "list"} and _PLAIN_KEY.fullmatch(part)
        }
        fields.append(
            FieldFacts(
                key, _data_type(found), present[key], nested, plain if found == {"dict"} else {}
            )
        )
    return file, fields, dict(kinds), _languages(texts), len(texts)


def _languages(texts: list[str]) -> dict[str, float]:
    if not texts:
        return {}
    from curata.curation.steps.language import identifier

    model = identifier()
    found = Counter(str(model.classify(t)[0]) for t in texts)
    shares = {lang: n / len(texts) for lang, n in found.most_common()}
    return {lang: round(s, 3) for lang, s in shares.items() if s >= LANGUAGE_SHARE}


def _file_facts(paths: Iterable[Path]) -> list[DataFile]:
    formats = {
        ".jsonl": "application/jsonlines",
        ".parquet": "application/x-parquet",
        ".json": "application/json",
        ".arrow": "application/vnd.apache.arrow.stream",
        ".csv": "text/csv",
    }
    out: list[DataFile] = []
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such file (a data file of the card)")
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        out.append(
            DataFile(
                path.name,
                digest.hexdigest(),
                path.stat().st_size,
                formats.get(path.suffix.lower(), "application/octet-stream"),
                "An export file of this version.",
            )
        )
    return out


def _clean_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in SECRET_PARAMS}


def gather(
    ws: Workspace,
    ref: str,
    *,
    files: Sequence[str | os.PathLike[str]] = (),
    intended_use: str | None = None,
    out_of_scope: str | None = None,
) -> CardFacts:
    """Read every fact a card states about version ``ref`` from the workspace: lineage
    upstream, sources, curation steps and PII reports, annotation releases (people, annotators
    per item, agreement and gold accuracy measured now), saved coverage reports of the version
    and its inputs, and the exported rows' fields. ``files`` are export files to list in the
    distribution beside the canonical JSON Lines file (each is hashed)."""
    from curata.curation.coverage_service import report_path

    version = ws.datasets.version(ref)
    ref = version.ref
    graph = ws.lineage.upstream(ref)
    history = sorted(
        (
            {k: n[k] for k in ("name", "records", "created_at", "author", "message", "digest")}
            for n in graph.nodes.values()
            if n["type"] == "version"
        ),
        key=lambda n: (n["created_at"], n["name"]),
    )
    ops: dict[str, tuple[str, str]] = {}  # operation id -> (kind, output version)
    for edge in graph.edges:
        ops.setdefault(edge["operation_id"], (edge["operation"], edge["to"].partition(":")[2]))
    for node in history:
        node["operation"] = next(
            (kind for kind, out in ops.values() if out == node["name"]), "unknown"
        )
    sources = []
    for node in sorted(
        (n for n in graph.nodes.values() if n["type"] == "source"), key=lambda n: n["name"]
    ):
        s = ws.sources.get(node["name"])
        sources.append(
            SourceFacts(
                s.name,
                s.kind,
                s.license,
                s.license_ref,
                s.origin,
                s.collected_at.isoformat() if s.collected_at else None,
                s.consent,
                s.pii_status,
                s.sensitivity,
                s.owner,
                version.sources.get(s.name, 0),
            )
        )
    steps: list[StepFacts] = []
    annotations: list[AnnotationFacts] = []
    pii: list[dict[str, Any]] = []
    with ws.projects.sessions() as session:
        for op_id, (kind, out) in ops.items():
            if kind == "curate":
                for run in session.scalars(
                    select(StepRunRow)
                    .where(StepRunRow.operation_id == op_id)
                    .order_by(StepRunRow.position)
                ):
                    steps.append(
                        StepFacts(
                            out,
                            run.position,
                            run.name,
                            _clean_params(run.params or {}),
                            run.records_in,
                            run.records_out,
                            run.changed,
                            run.dropped,
                        )
                    )
            elif kind == "release":
                operation = session.get(OperationRow, op_id)
                assert operation is not None
                annotations.append(_annotation(ws, session, out, operation.parameters))
    steps.sort(key=lambda s: (s.version, s.position))
    for out in dict.fromkeys(s.version for s in steps if s.name == "pii"):
        pii.append(ws.curation.pii_report(out))
    coverage = []
    for node in history:
        path = report_path(ws.home, node["name"])
        if path.is_file():
            try:
                data = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            coverage.append(
                {
                    "version": node["name"],
                    "target": str(data.get("target", "")),
                    "target_records": data.get("target_records"),
                    "by": list(data.get("by") or []),
                    "brief": list(data.get("brief") or []),
                    "brief_text": str(data.get("brief_text", "")),
                    "divergence": {
                        str(f.get("field")): f.get("js_divergence")
                        for f in data.get("fields") or []
                    },
                }
            )
    canonical, fields, kinds, languages, sampled = _scan_rows(ws, ref)
    return CardFacts(
        dataset=version.dataset,
        number=version.number,
        digest=version.digest,
        record_count=version.record_count,
        created_at=iso(version.created_at) or "",
        author=version.author,
        message=version.message,
        tags=list(version.tags),
        history=history,
        sources=sources,
        steps=steps,
        pii=pii,
        annotations=annotations,
        coverage=coverage,
        fields=fields,
        kinds=kinds,
        languages=languages,
        language_sample=sampled,
        files=[canonical, *_file_facts(Path(f) for f in files)],
        generated_at=iso(datetime.now(UTC)) or "",
        intended_use=intended_use,
        out_of_scope=out_of_scope,
    )


def _annotation(ws: Workspace, session: Any, ref: str, params: dict[str, Any]) -> AnnotationFacts:
    """One release's facts: its lineage parameters, the per-item annotator counts of its
    ``annotators`` column, and agreement and gold accuracy as the quality gates measure them."""
    name = str(params.get("project") or "")
    project = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
    questions: list[dict[str, Any]] = []
    if project is not None:
        schema = session.get(
            ProjectSchemaRow, (project.id, params.get("schema_version", project.schema_version))
        )
        if schema is not None:
            questions = [
                {k: q[k] for k in ("name", "type", "labels") if k in q}
                for q in schema.schema.get("questions", [])
            ]
    handle = ws.datasets.handle(ref)
    counts: Counter[int] = Counter()
    unlabelled = 0
    try:
        table = ws.store.manifest_table(
            handle.storage_key, handle.manifest_version, columns=["annotators"]
        )
        for n in table.column("annotators").to_pylist():
            if n:
                counts[int(n)] += 1
            else:
                unlabelled += 1
    except (KeyError, ValueError):  # not a release table
        pass
    alpha: dict[str, float | None] = {}
    gold_accuracy: float | None = None
    gold_answers = 0
    if project is not None and questions:
        try:
            measured = ws.quality.gate_metrics(name, {q["name"] for q in questions})
            alpha = dict(measured["alpha"])
            gold_accuracy = measured["gold_accuracy"]
            gold_answers = int(measured["gold_answers"])
        except CurataError:
            pass
    return AnnotationFacts(
        version=ref,
        project=name,
        aggregate=str(params.get("aggregate", "")),
        questions=questions,
        overlap=project.overlap if project is not None else None,
        gold_share=project.gold_share if project is not None else None,
        annotators=list(params.get("annotators") or []),
        cohorts=list(params.get("cohorts") or []),
        vendors=list(params.get("vendors") or []),
        guidelines=list(params.get("guideline_versions") or []),
        labelled=sum(counts.values()),
        unlabelled=unlabelled,
        per_item=dict(sorted(counts.items())),
        alpha=alpha,
        gold_accuracy=gold_accuracy,
        gold_answers=gold_answers,
    )


# -- derived labels -----------------------------------------------------------------------------


def size_category(count: int) -> str:
    """Hugging Face's ``size_categories`` bin of a record count."""
    for limit, label in _SIZE_BINS:
        if count < limit:
            return label
    return "n>1T"


def hf_license(spdx: str) -> str:
    """Hugging Face's license id of an SPDX id (lower-cased), or ``other``."""
    low = spdx.strip().lower()
    return low if low in HF_LICENSES else "other"


def task_categories(facts: CardFacts) -> list[str]:
    """Hugging Face ``task_categories`` from the record kinds and the released questions."""
    found: list[str] = []
    types = {q.get("type") for a in facts.annotations for q in a.questions}
    if types & {"label", "labels", "choice", "rating", "likert", "scale"}:
        found.append("text-classification")
    if "spans" in types or "span" in types:
        found.append("token-classification")
    if facts.kinds.keys() - {"text"} or not found:
        found.append("text-generation")
    return found


def _license_urls(facts: CardFacts) -> list[str]:
    out = []
    for s in facts.sources:
        if s.license.startswith("LicenseRef-") or " " in s.license:
            out.append(s.license_ref or s.license)
        else:
            out.append(f"https://spdx.org/licenses/{s.license}.html")
    return list(dict.fromkeys(out))


# -- safe text ----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_MD_LEADING = re.compile(r"^([#+=-]|\d+(?=[.)]))")


def one_line(value: Any) -> str:
    """A value as one line of printable text (control characters and newlines become spaces)."""
    text = "" if value is None else str(value)
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]+", " ", text).strip()


def md(value: Any) -> str:
    """User text safe in Markdown: one line, HTML characters as entities (a rendered card shows
    ``<script>`` as text) and Markdown punctuation escaped."""
    text = one_line(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return _MD_LEADING.sub(
        lambda m: "\\" + m.group(1) if m.group(1)[0] in "#+=-" else m.group(1) + "\\", text
    )


def code(value: Any) -> str:
    """A name as inline code when it holds only name characters, else as escaped text."""
    text = one_line(value)
    return f"`{text}`" if re.fullmatch(r"[A-Za-z0-9._@:/ -]+", text) else md(text)


def _md_list(values: Iterable[Any]) -> str:
    items = [md(v) for v in values]
    return ", ".join(items) if items else "none"


def _pct(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "not measured" if value is None or math.isnan(value) else f"{value:.3f}"


# -- the texts both formats share ---------------------------------------------------------------


def _collection_text(facts: CardFacts) -> list[str]:
    lines = []
    for s in facts.sources:
        when = f", collected {s.collected_at}" if s.collected_at else ""
        lines.append(
            f"Source {one_line(s.name)} ({s.kind}, license {one_line(s.license)}{when}) from "
            f"{one_line(s.origin)}: {s.records:,} records of this version; consent: "
            f"{one_line(s.consent) or 'not recorded'}; sensitivity {s.sensitivity}."
        )
    if not lines:
        lines.append("No source is recorded upstream of this version.")
    return lines


def _preprocessing_text(facts: CardFacts) -> list[str]:
    lines = []
    for s in facts.steps:
        params = json.dumps(s.params, sort_keys=True, ensure_ascii=False, default=str)
        lines.append(
            f"{s.version} step {s.position} {s.name}: {s.records_in:,} in, {s.records_out:,} "
            f"out, {s.dropped:,} dropped, {s.changed:,} changed; parameters {one_line(params)}."
        )
    if not lines:
        lines.append("No curation step ran upstream of this version.")
    return lines


def _pii_text(facts: CardFacts) -> list[str]:
    lines = []
    for s in facts.steps:
        if s.name == "pii":
            action = "drop the record" if s.params.get("drop") else s.params.get("action")
            lines.append(
                f"PII step in {s.version}: entities {', '.join(s.params.get('entities') or [])}, "
                f"action {action}, minimum score {s.params.get('min_score')}; "
                f"{s.changed:,} records changed, {s.dropped:,} dropped."
            )
    for report in facts.pii:
        kinds = ", ".join(
            f"{k} {v['entities']:,} in {v['records']:,} records"
            for k, v in report.get("by_type", {}).items()
        )
        counts = report.get("records_with_pii", {})
        lines.append(
            f"PII found in {report['version']}: {kinds or 'none'}; records redacted "
            f"{counts.get('redacted', 0):,}, reported {counts.get('reported', 0):,}, dropped "
            f"{counts.get('dropped', 0):,}."
        )
    if not any(s.name == "pii" for s in facts.steps):
        lines.append(
            "No PII step ran upstream: Curata did not scan these records for personal data."
        )
    statuses = ", ".join(f"{one_line(s.name)}: {s.pii_status}" for s in facts.sources)
    if statuses:
        lines.append(f"PII status declared per source: {statuses}.")
    return lines


def _annotation_text(facts: CardFacts) -> list[str]:
    lines = []
    for a in facts.annotations:
        qs = ", ".join(f"{q.get('name')} ({q.get('type')})" for q in a.questions)
        lines.append(
            f"{a.version}: project {one_line(a.project)}, questions {one_line(qs) or 'unknown'}; "
            f"labels aggregated by {a.aggregate} over {a.labelled:,} labelled items "
            f"({a.unlabelled:,} unlabelled); annotators per item {a.per_item_summary()}; "
            f"overlap target {a.overlap}, gold share {a.gold_share}; guidelines "
            f"{', '.join(map(one_line, a.guidelines)) or 'none'}."
        )
    return lines


def _agreement_text(facts: CardFacts) -> list[str]:
    lines = []
    for a in facts.annotations:
        alphas = ", ".join(f"{one_line(q)} {_num(v)}" for q, v in sorted(a.alpha.items()))
        lines.append(
            f"{a.version}: Krippendorff's alpha per question {alphas or 'not measured'}; gold "
            f"accuracy {_pct(a.gold_accuracy)} over {a.gold_answers:,} gold answers "
            f"(measured when the card was generated)."
        )
    return lines


def _bias_text(facts: CardFacts) -> list[str]:
    lines = []
    total = sum(s.records for s in facts.sources) or 1
    if facts.sources:
        mix = ", ".join(
            f"{one_line(s.name)} {s.records / total:.1%}" for s in facts.sources if s.records
        )
        lines.append(f"Source mix of the records: {mix or 'no record traces to a source'}.")
    for c in facts.coverage:
        div = ", ".join(
            f"{one_line(k)} JSD {_num(v)}" for k, v in c["divergence"].items() if v is not None
        )
        lines.append(
            f"Coverage of {c['version']} against {one_line(c['target'])} "
            f"({div or 'embedding clusters'}): {one_line(c['brief_text'])}."
        )
    if not facts.coverage:
        lines.append(
            "No coverage report was saved for this version or its inputs: how well it "
            "represents its target population was not examined ('curata coverage REF "
            "--target FILE --save')."
        )
    for a in facts.annotations:
        if len(a.vendors) == 1:
            lines.append(
                f"Every label of {a.version} came from one vendor "
                f"({one_line(a.vendors[0])}): its annotators' views are not balanced "
                "by another workforce."
            )
    return lines


def _gaps_text(facts: CardFacts) -> list[str]:
    lines = []
    for c in facts.coverage:
        for item in c["brief"][:10]:
            records = item.get("records")
            need = "all of it" if records is None else f"~{records:,} records to parity"
            lines.append(
                f"{c['version']}: {one_line(item.get('label'))} is under-represented "
                f"({_pct(item.get('data_share'))} of the data, {_pct(item.get('target_share'))}"
                f" of the target; {need}); addressed by sourcing that slice."
            )
    for a in facts.annotations:
        if a.unlabelled:
            lines.append(
                f"{a.version}: {a.unlabelled:,} records were released without a label "
                "(no annotation counted for them)."
            )
    for s in facts.sources:
        if s.pii_status == "unknown":
            lines.append(f"Source {one_line(s.name)}: PII status unknown.")
        if not s.consent and s.kind in ("human", "vendor"):
            lines.append(f"Source {one_line(s.name)}: no consent recorded.")
    if not lines:
        lines.append("No gap was identified by the checks that ran.")
    return lines


def _assumptions(facts: CardFacts) -> list[str]:
    lines = [
        "The licenses, origins, consent and PII status recorded for each source when it "
        "was registered are correct."
    ]
    if any(s.name == "pii" for s in facts.steps):
        lines.append(
            "PII detection is pattern based (Presidio recognizers and Curata's secret "
            "patterns): names and free-text personal details are not detected."
        )
    for a in facts.annotations:
        method = {
            "majority": "the majority answer of independent annotators is the right label",
            "dawid-skene": "annotators err independently given the true label (Dawid-Skene)",
            "gold-weighted": "accuracy on gold items predicts an annotator's accuracy elsewhere",
        }.get(a.aggregate, f"aggregation {a.aggregate} yields the right label")
        lines.append(f"{a.version}: {method}; gold answers are correct.")
    if facts.languages:
        lines.append(
            f"Languages were identified with py3langid on {facts.language_sample:,} "
            "sampled records."
        )
    return lines


def _use_cases(facts: CardFacts) -> str:
    if facts.intended_use:
        return one_line(facts.intended_use)
    tasks = " and ".join(task_categories(facts))
    return (
        f"Training and evaluating language models ({tasks}) within the terms of the "
        "source licenses."
    )


def _out_of_scope(facts: CardFacts) -> str:
    if facts.out_of_scope:
        return one_line(facts.out_of_scope)
    text = (
        "Uses the source licenses do not permit; identifying or profiling the people the "
        "records mention; treating the labels as ground truth beyond the measured agreement."
    )
    if any("-nc" in s.license.lower() for s in facts.sources):
        text += " Commercial use (a source is licensed non-commercial)."
    return text


def _maintenance(facts: CardFacts) -> str:
    return (
        f"Versions are immutable; {facts.ref} (digest {facts.digest}) never changes. Updates are "
        f"new versions of {facts.dataset} made by ingest, curation or release, each traced in "
        f"lineage ('curata lineage {facts.ref}', 'curata dataset log {facts.dataset}'); this card "
        "is regenerated for every released version."
    )


# -- Markdown -----------------------------------------------------------------------------------


def front_matter(facts: CardFacts, *, data_files: Sequence[str] | None = None) -> dict[str, Any]:
    """The card's YAML metadata (Hugging Face's dataset-card keys); every value single-line."""
    licenses = list(dict.fromkeys(hf_license(s.license) for s in facts.sources)) or ["unknown"]
    meta: dict[str, Any] = {
        "license": licenses[0] if len(licenses) == 1 else licenses,
    }
    others = [s for s in facts.sources if hf_license(s.license) == "other"]
    if others:
        meta["license_name"] = one_line(" AND ".join(dict.fromkeys(s.license for s in others)))
        link = next((s.license_ref for s in others if s.license_ref), None)
        if link:
            meta["license_link"] = one_line(link)
    creators = sorted({_LANGUAGE_CREATORS.get(s.kind, "found") for s in facts.sources})
    annotators = "no-annotation"
    if facts.annotations:
        vendors = any(a.vendors for a in facts.annotations)
        annotators = "crowdsourced" if vendors else "expert-generated"
    meta.update(
        {
            "task_categories": task_categories(facts),
            "language": sorted(facts.languages),
            "size_categories": [size_category(facts.record_count)],
            "pretty_name": one_line(f"{facts.dataset} {facts.number}"),
            "annotations_creators": [annotators],
            "language_creators": creators or ["found"],
            "tags": ["curata", *(one_line(t) for t in facts.tags)],
            "configs": [
                {
                    "config_name": "default",
                    "data_files": [
                        {"split": "train", "path": one_line(p)}
                        for p in (data_files or [f.name for f in facts.files[:1]])
                    ],
                }
            ],
        }
    )
    return meta


def markdown(facts: CardFacts, *, data_files: Sequence[str] | None = None) -> str:
    """The card as Markdown in the Hugging Face dataset-card layout, with a section on the EU
    AI Act's Article 10(2) items. ``data_files`` are the ``configs`` paths (default: the
    distribution's first file)."""
    meta = yaml.safe_dump(
        front_matter(facts, data_files=data_files),
        sort_keys=False,
        allow_unicode=True,
        width=10_000,
        default_flow_style=False,
    )
    out: list[str] = [f"---\n{meta}---\n"]

    def section(title: str, *lines: str) -> None:
        out.append(f"{title}\n")
        out.extend(f"{line}\n" for line in lines if line is not None)

    def bullets(values: Iterable[str]) -> str:
        return "\n".join(f"- {v}" for v in values)

    name = md(facts.dataset)
    licenses = ", ".join(sorted({md(s.license) for s in facts.sources})) or "unknown"
    languages = ", ".join(f"{md(k)} ({v:.0%})" for k, v in facts.languages.items()) or (
        "not determined"
    )
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(facts.kinds.items())) or "none"
    section(f"# Dataset Card for {name}")
    section(
        "## Dataset Details",
        "### Dataset Description",
        f"{name} version {facts.number} ({code(facts.ref)}, digest `{facts.digest}`): "
        f"{facts.record_count:,} records ({kinds}). {md(facts.message) or ''}".rstrip(),
        bullets(
            [
                f"**Curated by:** {md(facts.author)}",
                f"**Created:** {facts.created_at}",
                f"**Language(s):** {languages}",
                f"**License:** {licenses}",
                f"**Card generated:** {facts.generated_at} by Curata {facts.curata_version}",
            ]
        ),
        "### Dataset Sources",
        bullets(
            f"**{md(s.name)}** ({s.kind}): {md(s.origin)}, license {md(s.license)}"
            + (f" ({md(s.license_ref)})" if s.license_ref else "")
            for s in facts.sources
        )
        or "No source is recorded.",
    )
    section(
        "## Uses",
        "### Direct Use",
        md(_use_cases(facts)),
        "### Out-of-Scope Use",
        md(_out_of_scope(facts)),
    )
    field_rows = "\n".join(
        f"| {md(f.name)} | {f.data_type.removeprefix('sc:')} | {f.present:,} | "
        f"{md(_CONTENT_FIELDS.get(f.name, 'Metadata field.'))} |"
        for f in facts.fields
    )
    section(
        "## Dataset Structure",
        f"One split, `train`, of {facts.record_count:,} records. Each row holds `curata_id`, "
        "the record's content and its metadata side by side, and for a release its labels "
        "(`curata_*` columns).",
        "| Field | Type | Rows with a value | Description |\n| --- | --- | --- | --- |\n"
        + field_rows,
    )
    rationale = [
        f"- {code(h['name'])} ({h['operation']}, {h['records']:,} records): "
        f"{md(h['message']) or 'no message'}"
        for h in facts.history
    ]
    annotators = [
        f"- {md(a.version)}: {len(a.annotators):,} annotators ({_md_list(a.annotators)}); "
        f"cohorts {_md_list(a.cohorts)}; vendors {_md_list(a.vendors)}. Annotator "
        "demographics are not recorded."
        for a in facts.annotations
    ]
    section(
        "## Dataset Creation",
        "### Curation Rationale",
        "The versions behind this one, oldest first, with the reason each was made:",
        "\n".join(rationale),
        "### Source Data",
        "#### Data Collection and Processing",
        bullets(md(t) for t in _collection_text(facts)),
        "",
        bullets(md(t) for t in _preprocessing_text(facts)),
        "#### Who are the source data producers?",
        bullets(
            f"{md(s.name)}: {s.kind} data from {md(s.origin)}"
            + (f", owned by {md(s.owner)}" if s.owner else "")
            for s in facts.sources
        )
        or "Not recorded.",
        "### Annotations",
        "#### Annotation process",
        bullets(md(t) for t in _annotation_text(facts))
        or "This version carries no annotation release in its lineage.",
        "#### Who are the annotators?",
        "\n".join(annotators) or "No annotators (no annotation release upstream).",
        "#### Annotators per item and agreement",
        bullets(
            f"{md(a.version)}: annotators per item {md(a.per_item_summary())}"
            for a in facts.annotations
        )
        or "Not applicable.",
        bullets(md(t) for t in _agreement_text(facts)),
        "### Personal and Sensitive Information",
        bullets(md(t) for t in _pii_text(facts)),
    )
    section(
        "## Bias, Risks, and Limitations",
        bullets(md(t) for t in _bias_text(facts)),
        "### Known gaps",
        bullets(md(t) for t in _gaps_text(facts)),
        "### Recommendations",
        "Check the agreement and coverage numbers above against the intended use; a slice that "
        "is under-represented here will be under-represented in what a model learns from it.",
    )
    design = [
        *(
            f"Curation pipeline of {md(v)}: "
            + ", ".join(md(s.name) for s in facts.steps if s.version == v)
            for v in dict.fromkeys(s.version for s in facts.steps)
        ),
        *(
            f"Annotation of {md(a.version)}: aggregation {md(a.aggregate)}, overlap {a.overlap}, "
            f"gold share {a.gold_share}, guidelines {_md_list(a.guidelines)}"
            for a in facts.annotations
        ),
        f"Intended use: {md(_use_cases(facts))}",
    ]
    mitigation = [
        *(
            f"{md(s.name)} in {md(s.version)} ({s.dropped:,} dropped, {s.changed:,} changed)"
            for s in facts.steps
            if s.name in ("exact_dedup", "near_dedup", "decontaminate", "pii", "quality")
        ),
        *(
            f"{md(a.version)}: {md(a.per_item_summary())} annotators per item, gold checks "
            f"({a.gold_answers:,} answers), agreement measured per question"
            for a in facts.annotations
        ),
        *(
            f"Coverage of {md(c['version'])} measured against a target sample"
            for c in facts.coverage
        ),
    ] or ["None recorded."]
    section(
        "## EU AI Act Article 10(2)",
        "How the data governance and management practices of Article 10(2) of Regulation (EU) "
        "2024/1689 apply to this version, from its recorded lineage.",
        "### (a) Relevant design choices",
        bullets(design),
        "### (b) Data collection processes and origin of data",
        bullets(md(t) for t in _collection_text(facts)),
        "### (c) Data-preparation operations",
        bullets(
            [
                *(f"Cleaning: {md(t)}" for t in _preprocessing_text(facts)),
                *(f"Annotation and labelling: {md(t)}" for t in _annotation_text(facts)),
                *(
                    f"Updating and aggregation: {code(h['name'])} by {h['operation']}"
                    for h in facts.history
                ),
            ]
        ),
        "### (d) Assumptions",
        bullets(md(t) for t in _assumptions(facts)),
        "### (e) Examination of possible biases",
        bullets(md(t) for t in _bias_text(facts)),
        "### (f) Measures to detect, prevent and mitigate biases",
        bullets(mitigation),
        "### (g) Identified data gaps or shortcomings, and how they are addressed",
        bullets(md(t) for t in _gaps_text(facts)),
    )
    section(
        "## More Information",
        f"Lineage: {code('curata lineage ' + facts.ref)}. Maintenance: {md(_maintenance(facts))}",
    )
    return "\n".join(out)


# -- Croissant ----------------------------------------------------------------------------------


CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
"""The Croissant 1.0 context (the spec's Appendix 1), with the RAI namespace."""


def _field_id(name: str, taken: set[str]) -> str:
    base = _SAFE_NAME.sub("_", name).strip("_") or "field"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return f"records/{candidate}"


def croissant(facts: CardFacts) -> dict[str, Any]:
    """The card as Croissant 1.0 JSON-LD with the RAI vocabulary: the distribution's files
    (each with its SHA-256) and one RecordSet, ``records``, read from the canonical JSON Lines
    file."""
    distribution = [
        {
            "@type": "cr:FileObject",
            "@id": f"file-{i}",
            "name": f.name,
            "description": one_line(f.description),
            "contentUrl": f.name,
            "contentSize": f"{f.bytes} B",
            "encodingFormat": f.encoding_format,
            "sha256": f.sha256,
        }
        for i, f in enumerate(facts.files)
    ]
    taken: set[str] = set()
    fields = []
    for f in facts.fields:
        if f.nested and not f.parts:
            continue  # JSON lists and deeper objects: in the file, not typed here
        field_id = _field_id(f.name, taken)
        source = {"fileObject": {"@id": "file-0"}, "extract": {"column": f.name}}
        entry: dict[str, Any] = {
            "@type": "cr:Field",
            "@id": field_id,
            "name": one_line(f.name) or "field",
            "description": _CONTENT_FIELDS.get(f.name, "Metadata field."),
        }
        if f.parts:
            entry["subField"] = [
                {
                    "@type": "cr:Field",
                    "@id": f"{field_id}/{part}",
                    "name": part,
                    "dataType": kind,
                    "source": {**source, "transform": {"jsonPath": part}},
                }
                for part, kind in sorted(f.parts.items())
            ]
        else:
            entry["dataType"] = f.data_type
            entry["source"] = source
        fields.append(entry)
    untyped = [f for f in facts.fields if f.nested and not f.parts]
    annotation_protocol = _annotation_text(facts)
    per_item = "; ".join(f"{a.version}: {a.per_item_summary()}" for a in facts.annotations)
    description = one_line(
        f"{facts.ref}: {facts.record_count:,} records. {facts.message or ''}"
    ).rstrip()
    doc: dict[str, Any] = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_1_0,
        "name": one_line(facts.dataset),
        "alternateName": facts.ref,
        "description": description,
        "version": f"{facts.number}.0.0",
        "identifier": f"sha256:{facts.digest}" if len(facts.digest) == 64 else facts.digest,
        "license": _license_urls(facts) or ["https://spdx.org/licenses/NOASSERTION.html"],
        "url": f"curata:{facts.ref}",
        "datePublished": facts.created_at,
        "dateModified": facts.generated_at,
        "creator": {"@type": "sc:Person", "name": one_line(facts.author)},
        "keywords": ["curata", *(one_line(t) for t in facts.tags)],
        "inLanguage": sorted(facts.languages),
        "citeAs": f"{one_line(facts.dataset)} version {facts.number}, digest {facts.digest}",
        "distribution": distribution,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "records",
                "name": "records",
                "description": f"Every record of {facts.ref}, as exported."
                + (
                    " Fields holding JSON lists or nested objects are in the file but not typed "
                    "here: " + ", ".join(one_line(f.name) for f in untyped) + "."
                    if untyped
                    else ""
                ),
                "field": fields,
            }
        ],
        "rai:dataCollection": " ".join(_collection_text(facts)),
        "rai:dataCollectionType": sorted(
            {_COLLECTION_TYPES.get(s.kind, "Others") for s in facts.sources}
        )
        or ["Others"],
        "rai:dataCollectionRawData": "; ".join(
            f"{one_line(s.name)}: {one_line(s.origin)}" for s in facts.sources
        )
        or "not recorded",
        "rai:dataPreprocessingProtocol": _preprocessing_text(facts),
        "rai:dataAnnotationProtocol": annotation_protocol or ["No annotation."],
        "rai:dataAnnotationPlatform": (
            [f"Curata {facts.curata_version} annotation projects"]
            if facts.annotations
            else ["Not applicable."]
        ),
        "rai:dataAnnotationAnalysis": _agreement_text(facts) or ["Not applicable."],
        "rai:annotationsPerItem": per_item or "Not applicable.",
        "rai:annotatorDemographics": [
            f"{a.version}: {len(a.annotators)} annotators; cohorts "
            f"{', '.join(map(one_line, a.cohorts)) or 'none'}; vendors "
            f"{', '.join(map(one_line, a.vendors)) or 'none'}; demographics not recorded."
            for a in facts.annotations
        ]
        or ["Not applicable."],
        "rai:personalSensitiveInformation": _pii_text(facts),
        "rai:dataBiases": _bias_text(facts),
        "rai:dataLimitations": [*_gaps_text(facts), *_assumptions(facts)],
        "rai:dataUseCases": [_use_cases(facts), f"Out of scope: {_out_of_scope(facts)}"],
        "rai:dataReleaseMaintenancePlan": _maintenance(facts),
    }
    return doc


# -- files --------------------------------------------------------------------------------------


def card_dir(home: Path, ref: str) -> Path:
    """Where the cards of version ``ref`` are written under the workspace's ``home``."""
    return Path(home) / CARD_DIR / ref


def write_cards(
    ws: Workspace,
    ref: str,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    formats: Sequence[str] = ("md", "croissant"),
    files: Sequence[str | os.PathLike[str]] = (),
    intended_use: str | None = None,
    out_of_scope: str | None = None,
) -> dict[str, Path]:
    """Generate the cards of version ``ref`` and write them to ``out_dir`` (default
    ``<home>/cards/NAME@N``): ``README.md`` (``md``) and ``croissant.json`` (``croissant``),
    each written to a temporary file and renamed over the old one. Returns the paths by
    format."""
    unknown = [f for f in formats if f not in ("md", "croissant")]
    if unknown or not formats:
        raise InputError(f"format: {', '.join(unknown) or 'none given'}: use md and/or croissant")
    facts = gather(ws, ref, files=files, intended_use=intended_use, out_of_scope=out_of_scope)
    folder = Path(out_dir) if out_dir is not None else card_dir(ws.home, facts.ref)
    texts: dict[str, tuple[Path, str]] = {}  # both made before either is written
    if "md" in formats:
        texts["md"] = (folder / README, markdown(facts))
    if "croissant" in formats:
        doc = json.dumps(croissant(facts), indent=2, ensure_ascii=False) + "\n"
        texts["croissant"] = (folder / CROISSANT, doc)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in texts.values():
            write_atomic(path, text)
    except OSError as exc:
        raise InputError(f"cannot write the card: {exc.strerror}", path=str(folder)) from None
    written = {kind: path for kind, (path, _) in texts.items()}
    return written


def version_card(ws: Workspace, ref: str, *, data_files: Sequence[str]) -> str:
    """The Markdown card of a version for an export folder (``configs`` name ``data_files``)."""
    return markdown(gather(ws, ref), data_files=data_files)
