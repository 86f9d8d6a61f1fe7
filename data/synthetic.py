"""Seeded synthetic windows with a chosen kind of drift, for demos and tests.

Each window contains a customer-like table: numeric features `age`, `income`, `tenure_months`, `score`
and `support_calls` (a small count), categorical features `plan`, `region` and `channel`, a timestamp
`event_time` and a `target` that depends on the features. The target is 0/1 for classification
(churn-like, about 30% positive in the reference) and a float for regression.

Drift kinds, applied to the current window only:

- `none`: a fresh draw from the reference distribution.
- `mean_shift`: `age` moves up by 8 years and `score` by 0.75 standard deviations. The target follows
  the shifted features through the unchanged relation, so this is covariate shift.
- `new_categories`: `plan` gains "enterprise" (about 15% of rows), `channel` gains "partner" (10%).
- `missing_values`: 30% of `income` and 20% of `region` become missing.
- `label_shift`: the relation between features and target changes: the positive rate rises,
  `score` loses half its weight and `support_calls` gains weight. A model retrained on recent rows
  therefore beats one trained on the reference.
- `all`: every kind above at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from data.base import BaseDataLoader, DataLoaderError, DataSchema, DataWindows
from data.options import parse_options
from watchtower.settings import TaskType

logger = logging.getLogger(__name__)

SyntheticDrift = Literal[
    "none", "mean_shift", "new_categories", "missing_values", "label_shift", "all"
]
DRIFT_KINDS: tuple[str, ...] = get_args(SyntheticDrift)

NUMERIC_FEATURES = ["age", "income", "tenure_months", "score", "support_calls"]
CATEGORICAL_FEATURES = ["plan", "region", "channel"]
TARGET = "target"
TIMESTAMP = "event_time"

_PLANS = ["basic", "standard", "premium"]
_REGIONS = ["north", "south", "east", "west"]
_CHANNELS = ["web", "app", "store"]
_REFERENCE_START = pd.Timestamp("2024-01-01")
_REFERENCE_DAYS = 60
_CURRENT_DAYS = 30


class SyntheticOptions(BaseModel):
    """Options of the synthetic source, as stored in `DataSpec.options`."""

    model_config = ConfigDict(extra="forbid")

    rows: int = Field(5000, ge=10, description="rows in each window")
    seed: int = 7
    drift: SyntheticDrift = "mean_shift"
    task_type: TaskType = "classification"


@dataclass(frozen=True)
class _Relation:
    """Coefficients of the target on the features (logit scale for classification)."""

    intercept: float = -1.1
    age: float = 0.03
    income: float = -0.35
    tenure: float = -0.02
    score: float = 0.9
    support_calls: float = 0.25


_REFERENCE_RELATION = _Relation()
_SHIFTED_RELATION = _Relation(intercept=-0.4, score=0.45, support_calls=0.7)
_PLAN_EFFECT = {"basic": 0.4, "standard": 0.0, "premium": -0.5, "enterprise": -0.8}
_CHANNEL_EFFECT = {"web": 0.0, "app": -0.2, "store": 0.3, "partner": 0.5}


def _has(drift: SyntheticDrift, kind: SyntheticDrift) -> bool:
    return drift == kind or drift == "all"


def _categories(
    rng: np.random.Generator, values: list[str], shares: list[float], rows: int
) -> np.ndarray:
    return rng.choice(np.array(values, dtype=object), size=rows, p=shares)


def _timestamps(rows: int, start: pd.Timestamp, days: int) -> pd.Series:
    """Evenly spaced, strictly increasing timestamps over `days` days from `start`."""
    step = pd.Timedelta(days=days) / rows
    return pd.Series(start + step * np.arange(rows), name=TIMESTAMP)


def _features(rng: np.random.Generator, rows: int, drift: SyntheticDrift) -> pd.DataFrame:
    shifted = _has(drift, "mean_shift")
    frame = pd.DataFrame(
        {
            "age": rng.normal(48.0 if shifted else 40.0, 10.0, rows).round(1),
            "income": rng.lognormal(mean=10.8, sigma=0.4, size=rows).round(2),
            "tenure_months": rng.exponential(24.0, rows).round(1),
            "score": rng.normal(0.75 if shifted else 0.0, 1.0, rows),
            "support_calls": rng.poisson(1.5, rows),
        }
    )

    plans, plan_shares = list(_PLANS), [0.5, 0.3, 0.2]
    channels, channel_shares = list(_CHANNELS), [0.5, 0.3, 0.2]
    if _has(drift, "new_categories"):
        plans, plan_shares = [*_PLANS, "enterprise"], [0.45, 0.25, 0.15, 0.15]
        channels, channel_shares = [*_CHANNELS, "partner"], [0.45, 0.25, 0.2, 0.1]
    frame["plan"] = _categories(rng, plans, plan_shares, rows)
    frame["region"] = _categories(rng, _REGIONS, [0.3, 0.3, 0.2, 0.2], rows)
    frame["channel"] = _categories(rng, channels, channel_shares, rows)
    return frame


def _linear_score(frame: pd.DataFrame, relation: _Relation) -> np.ndarray:
    """Compute the target's linear predictor from complete feature values."""
    score = (
        relation.intercept
        + relation.age * (frame["age"] - 40.0)
        + relation.income * (np.log(frame["income"]) - 10.8) / 0.4
        + relation.tenure * (frame["tenure_months"] - 24.0)
        + relation.score * frame["score"]
        + relation.support_calls * (frame["support_calls"] - 1.5)
        + frame["plan"].map(_PLAN_EFFECT)
        + frame["channel"].map(_CHANNEL_EFFECT)
    )
    return score.to_numpy(dtype=float)


def _target(
    rng: np.random.Generator, frame: pd.DataFrame, relation: _Relation, task_type: TaskType
) -> np.ndarray:
    linear = _linear_score(frame, relation)
    if task_type == "regression":
        return np.round(50.0 + 12.0 * linear + rng.normal(0.0, 5.0, len(frame)), 3)
    probability = 1.0 / (1.0 + np.exp(-linear))
    return (rng.random(len(frame)) < probability).astype(np.int64)


def _blank_out(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """Make 30% of `income` and 20% of `region` missing, after the target was drawn."""
    rows = len(frame)
    frame.loc[rng.random(rows) < 0.30, "income"] = np.nan
    frame["region"] = frame["region"].astype(object)
    frame.loc[rng.random(rows) < 0.20, "region"] = None


def _window(
    rng: np.random.Generator,
    rows: int,
    drift: SyntheticDrift,
    task_type: TaskType,
    start: pd.Timestamp,
    days: int,
) -> pd.DataFrame:
    frame = _features(rng, rows, drift)
    relation = _SHIFTED_RELATION if _has(drift, "label_shift") else _REFERENCE_RELATION
    frame[TARGET] = _target(rng, frame, relation, task_type)
    if _has(drift, "missing_values"):
        _blank_out(rng, frame)
    frame[TIMESTAMP] = _timestamps(rows, start, days)
    return frame


class SyntheticDataLoader(BaseDataLoader):
    """Generate a reference window and a current window with the chosen drift.

    The same seed, size, drift and task type always give the same frames. The reference covers
    60 days from 2024-01-01 and the current window the 30 days after it; both have `rows` rows.
    """

    def __init__(
        self,
        rows: int = 5000,
        seed: int = 7,
        drift: SyntheticDrift = "mean_shift",
        task_type: TaskType = "classification",
    ) -> None:
        if rows < 10:
            raise DataLoaderError(f"synthetic rows must be at least 10, got {rows}")
        if drift not in DRIFT_KINDS:
            raise DataLoaderError(
                f"unknown synthetic drift {drift!r}; choose one of {list(DRIFT_KINDS)}"
            )
        self.rows = rows
        self.seed = seed
        self.drift = drift
        self.task_type = task_type

    @classmethod
    def from_options(cls, options: dict[str, object]) -> SyntheticDataLoader:
        parsed = parse_options(SyntheticOptions, options, "synthetic")
        return cls(
            rows=parsed.rows, seed=parsed.seed, drift=parsed.drift, task_type=parsed.task_type
        )

    def schema(self) -> DataSchema:
        return DataSchema(
            features=[*NUMERIC_FEATURES, *CATEGORICAL_FEATURES],
            categorical=list(CATEGORICAL_FEATURES),
            target=TARGET,
            timestamp=TIMESTAMP,
        )

    def load(self) -> DataWindows:
        rng = np.random.default_rng(self.seed)
        reference = _window(
            rng, self.rows, "none", self.task_type, _REFERENCE_START, _REFERENCE_DAYS
        )
        current_start = _REFERENCE_START + pd.Timedelta(days=_REFERENCE_DAYS)
        current = _window(rng, self.rows, self.drift, self.task_type, current_start, _CURRENT_DAYS)
        logger.info(
            "generated synthetic windows: rows=%s seed=%s drift=%s",
            self.rows,
            self.seed,
            self.drift,
        )
        description: dict[str, object] = {
            "source": "synthetic",
            "rows": self.rows,
            "seed": self.seed,
            "drift": self.drift,
            "task_type": self.task_type,
            "reference_window": f"{reference[TIMESTAMP].min()} to {reference[TIMESTAMP].max()}",
            "current_window": f"{current[TIMESTAMP].min()} to {current[TIMESTAMP].max()}",
        }
        return DataWindows(
            reference=reference, current=current, schema=self.schema(), description=description
        )
