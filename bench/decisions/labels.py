"""Label each scenario by measurement: does retraining help on the latest rows of the current window?

The champion is trained on the reference window, the challenger on the reference window plus the
earlier part of the current window. Both are trained as the training job does: with `build_model` of
`airflow/include/train_job.py`, `split_for_retraining` with `EVAL_HOLDOUT_FRACTION`, and the job's
validation holdout (the rows of a seeded random `VALIDATION_FRACTION` of the days are not fitted
on). Both score the held-out latest rows. Retraining is helpful when the challenger's gain in ROC AUC
reaches `EVAL_MIN_IMPROVEMENT` and its paired bootstrap interval lies above 0, the same rule the
evaluator uses to recommend a promotion.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from data.base import DataWindows
from data.split import split_for_retraining
from evaluation.bootstrap import paired_bootstrap_difference
from evaluation.metrics import roc_auc

TRAIN_JOB_PATH = Path(__file__).resolve().parents[2] / "airflow" / "include" / "train_job.py"


def load_train_job() -> ModuleType:
    """Import the training job by path; it is a script, not a package module."""
    spec = importlib.util.spec_from_file_location("train_job", TRAIN_JOB_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Measurement:
    """Champion and challenger on the held-out rows for one seed."""

    seed: int
    champion_auc: float
    challenger_auc: float
    gain: float
    ci_low: float
    ci_high: float
    helpful: bool
    eval_rows: int


def _conf(windows: DataWindows, seed: int) -> SimpleNamespace:
    """Return the fields of a `RetrainingConfig` that the job's split and model builder read."""
    schema = windows.schema
    return SimpleNamespace(
        features=schema.features,
        categorical=schema.categorical,
        target=schema.target,
        timestamp=schema.timestamp,
        seed=seed,
    )


def _fit(job: ModuleType, frame: pd.DataFrame, windows: DataWindows, seed: int) -> Any:
    conf = _conf(windows, seed)
    fit_rows, _ = job.split_validation(frame, conf)
    fit_rows = fit_rows.loc[fit_rows[conf.target].notna()]
    model = job.build_model(conf.features, conf.categorical, "classification", seed)
    return model.fit(fit_rows[conf.features], fit_rows[conf.target])


def measure(
    job: ModuleType,
    windows: DataWindows,
    *,
    seed: int,
    holdout_fraction: float,
    min_improvement: float,
    n_resamples: int,
    confidence_level: float,
) -> Measurement:
    """Train champion and challenger with `seed` and compare them on the held-out rows."""
    schema = windows.schema
    assert schema.target is not None
    split = split_for_retraining(windows, holdout_fraction)
    champion = _fit(job, windows.reference, windows, seed)
    challenger = _fit(job, split.train, windows, seed)

    evaluation = split.evaluation.loc[split.evaluation[schema.target].notna()]
    y_true = evaluation[schema.target].to_numpy().astype(np.int8)
    champion_scores = champion.predict_proba(evaluation[schema.features])[:, 1]
    challenger_scores = challenger.predict_proba(evaluation[schema.features])[:, 1]
    paired = paired_bootstrap_difference(
        roc_auc,
        True,
        y_true,
        champion_scores,
        challenger_scores,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        seed=seed,
    )
    assert paired.difference is not None and paired.ci_low is not None
    assert paired.ci_high is not None
    return Measurement(
        seed=seed,
        champion_auc=float(roc_auc(y_true, champion_scores)),
        challenger_auc=float(roc_auc(y_true, challenger_scores)),
        gain=paired.difference,
        ci_low=paired.ci_low,
        ci_high=paired.ci_high,
        helpful=paired.difference >= min_improvement and paired.ci_low > 0,
        eval_rows=len(y_true),
    )
