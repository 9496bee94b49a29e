"""Per-model state computed from the log (issue 5): pure, no I/O, no clock.

- `StateTracker` folds records into `ModelFacts` / `OrgFacts`, verdicts (through its own
  `ComplianceEngine`) and `TimelineEvent`s;
- `StatusView` / `status_json` evaluate facts at a time t with the engine's rule functions;
- `home_of` names the model (or `ORG`) a statement belongs to, which is how a projection knows
  which part of the log a model's state depends on.
"""

from __future__ import annotations

from .facts import (
    ORG,
    Adoption,
    DeterminationFacts,
    ModelFacts,
    OrgFacts,
    SafeguardsFacts,
    record_from_json,
    record_to_json,
)
from .status import (
    LAPSE_WINDOW,
    STATUS_FORMAT,
    Freshness,
    Obligation,
    Position,
    SafeguardsInForce,
    StatusView,
    duties_imposed,
    status_json,
)
from .tracker import StateTracker, Step, TimelineEvent, about, home_of

__all__ = [
    "LAPSE_WINDOW",
    "ORG",
    "STATUS_FORMAT",
    "Adoption",
    "DeterminationFacts",
    "Freshness",
    "ModelFacts",
    "Obligation",
    "OrgFacts",
    "Position",
    "SafeguardsFacts",
    "SafeguardsInForce",
    "StateTracker",
    "StatusView",
    "Step",
    "TimelineEvent",
    "about",
    "duties_imposed",
    "home_of",
    "record_from_json",
    "record_to_json",
    "status_json",
]
