"""Pipelines of the HubSpot sandbox (CRM pipelines v3) and the deal rules built on them.

Every account starts with HubSpot's default deal pipeline (id ``default``,
"Sales Pipeline") and its seven stages. A deal's ``dealstage`` must be a stage
of the deal's ``pipeline`` (``default`` when none is set), and setting a stage
also sets HubSpot's read-only ``hs_deal_stage_probability``, ``hs_is_closed``
and ``hs_is_closed_won``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from syncworker_sandbox.hubspot_common import JSON, ApiError, Problem, iso_ms

PIPELINE_TYPES = ("deals",)
DEFAULT_PIPELINE = "default"
STAGE_PROPERTY = "dealstage"
PIPELINE_PROPERTY = "pipeline"

# A stage as tests describe it: (id, label, probability) or (id, label, probability, closed).
StageSpec = tuple[str, str, float] | tuple[str, str, float, bool]


@dataclass
class Stage:
    id: str
    label: str
    display_order: int
    probability: str  # as HubSpot prints it in metadata: "0.2", "1.0"
    is_closed: bool
    created: float = 0.0
    updated: float = 0.0

    @property
    def won(self) -> bool:
        return self.is_closed and Decimal(self.probability) == 1

    def as_json(self) -> JSON:
        return {
            "label": self.label,
            "displayOrder": self.display_order,
            "metadata": {
                "isClosed": "true" if self.is_closed else "false",
                "probability": self.probability,
            },
            "id": self.id,
            "createdAt": iso_ms(self.created),
            "updatedAt": iso_ms(self.updated),
            "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        }


@dataclass
class Pipeline:
    id: str
    label: str
    display_order: int
    stages: list[Stage] = field(default_factory=list)
    created: float = 0.0
    updated: float = 0.0

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def as_json(self) -> JSON:
        return {
            "label": self.label,
            "displayOrder": self.display_order,
            "id": self.id,
            "stages": [s.as_json() for s in self.stages],
            "createdAt": iso_ms(self.created),
            "updatedAt": iso_ms(self.updated),
            "archived": False,
        }


# HubSpot's default sales pipeline (created "at the epoch", as HubSpot reports it).
_DEFAULT_STAGES: list[tuple[str, str, str, bool]] = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    ("contractsent", "Contract Sent", "0.9", False),
    ("closedwon", "Closed Won", "1.0", True),
    ("closedlost", "Closed Lost", "0.0", True),
]


def default_pipelines() -> dict[str, dict[str, Pipeline]]:
    """Object type -> pipeline id -> pipeline, as a new HubSpot account has them."""
    stages = [
        Stage(stage_id, label, order, probability, closed)
        for order, (stage_id, label, probability, closed) in enumerate(_DEFAULT_STAGES)
    ]
    return {"deals": {DEFAULT_PIPELINE: Pipeline(DEFAULT_PIPELINE, "Sales Pipeline", 0, stages)}}


def pipeline_options(pipelines: dict[str, Pipeline]) -> list[JSON]:
    """The options of the ``pipeline`` enumeration property."""
    ordered = sorted(pipelines.values(), key=lambda p: (p.display_order, p.label))
    return [
        {"label": p.label, "value": p.id, "displayOrder": i, "hidden": False}
        for i, p in enumerate(ordered)
    ]


def stage_options(pipelines: dict[str, Pipeline]) -> list[JSON]:
    """The options of the ``dealstage`` enumeration property: every stage of every pipeline."""
    ordered = sorted(pipelines.values(), key=lambda p: (p.display_order, p.label))
    stages = [s for p in ordered for s in p.stages]
    return [
        {"label": s.label, "value": s.id, "displayOrder": i, "hidden": False}
        for i, s in enumerate(stages)
    ]


def build_pipeline(
    existing: dict[str, Pipeline],
    pipeline_id: str,
    label: str,
    stages: Sequence[StageSpec],
    now: float,
    display_order: int | None = None,
) -> Pipeline:
    """A new pipeline; stage ids must be unique across the object type's pipelines."""
    if not pipeline_id or pipeline_id in existing:
        raise ValueError(f"pipeline id {pipeline_id!r} is empty or already taken")
    if not stages:
        raise ValueError("a pipeline needs at least one stage")
    taken = {s.id for p in existing.values() for s in p.stages}
    built: list[Stage] = []
    for order, spec in enumerate(stages):
        stage_id, stage_label, probability = spec[0], spec[1], float(spec[2])
        closed = bool(spec[3]) if len(spec) > 3 else False
        if not stage_id or stage_id in taken or stage_id != stage_id.lower():
            raise ValueError(f"stage id {stage_id!r} is empty, taken or not lowercase")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"stage {stage_id} has probability {probability} outside [0, 1]")
        taken.add(stage_id)
        built.append(Stage(stage_id, stage_label, order, str(probability), closed, now, now))
    order = display_order if display_order is not None else len(existing)
    return Pipeline(pipeline_id, label, order, built, now, now)


# ----------------------------------------------------------------------- the API


def supported(object_type: str) -> str:
    if object_type not in PIPELINE_TYPES:
        raise ApiError(
            400,
            f"Object type {object_type} does not support pipelines.",
            context={"objectType": [object_type]},
        )
    return object_type


def find(pipelines: dict[str, Pipeline], pipeline_id: str) -> Pipeline:
    pipeline = pipelines.get(pipeline_id)
    if pipeline is None:
        raise ApiError(
            404,
            f"Unable to find pipeline {pipeline_id}.",
            "OBJECT_NOT_FOUND",
            context={"pipelineId": [pipeline_id]},
        )
    return pipeline


def find_stage(pipeline: Pipeline, stage_id: str) -> Stage:
    stage = pipeline.stage(stage_id)
    if stage is None:
        raise ApiError(
            404,
            f"Unable to find stage {stage_id} in pipeline {pipeline.id}.",
            "OBJECT_NOT_FOUND",
            context={"pipelineId": [pipeline.id], "stageId": [stage_id]},
        )
    return stage


# ------------------------------------------------------------------ deal rules


def deal_rules(
    pipelines: dict[str, Pipeline],
    current: dict[str, str],
    changes: dict[str, str],
    problems: list[Problem],
    *,
    new: bool,
) -> None:
    """Check a deal write against its pipeline; add HubSpot's derived values to ``changes``.

    ``current`` holds the stored values (empty for a new deal), ``changes`` the
    normalized values of the write; new problems are appended to ``problems``.
    """
    if (new and not changes.get(PIPELINE_PROPERTY)) or changes.get(PIPELINE_PROPERTY) == "":
        changes[PIPELINE_PROPERTY] = DEFAULT_PIPELINE
    if STAGE_PROPERTY not in changes and PIPELINE_PROPERTY not in changes:
        return
    if any(p.name in (STAGE_PROPERTY, PIPELINE_PROPERTY) for p in problems):
        return  # already refused as an unknown option
    pipeline_id = changes.get(PIPELINE_PROPERTY) or current.get(PIPELINE_PROPERTY, "")
    pipeline = pipelines.get(pipeline_id or DEFAULT_PIPELINE)
    stage_id = changes.get(STAGE_PROPERTY, current.get(STAGE_PROPERTY, ""))
    if pipeline is None:
        return
    if not stage_id:
        if STAGE_PROPERTY in changes:
            for name in ("hs_deal_stage_probability", "hs_is_closed", "hs_is_closed_won"):
                changes[name] = ""
        return
    stage = pipeline.stage(stage_id)
    if stage is None:
        allowed = ", ".join(s.id for s in pipeline.stages)
        problems.append(
            Problem(
                STAGE_PROPERTY,
                "INVALID_OPTION",
                f"{stage_id} was not one of the allowed options: [{allowed}]",
            )
        )
        return
    if STAGE_PROPERTY in changes:
        changes["hs_deal_stage_probability"] = stage.probability
        changes["hs_is_closed"] = "true" if stage.is_closed else "false"
        changes["hs_is_closed_won"] = "true" if stage.won else "false"
