"""Champion against challenger with models registered in a real MLflow store."""

from __future__ import annotations

from collections.abc import Callable

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from data.base import DataSchema
from evaluation.evaluator import EvaluationError, evaluate_models
from evaluation.summary import EvalReport
from training.registry import RegisteredVersion

MODEL = "churn"
SCHEMA = DataSchema(features=["x1", "x2"], target="y")
SCORE_SCHEMA = DataSchema(features=["score"], target="y")


class LabelModel(mlflow.pyfunc.PythonModel):
    """Returns labels only (`score > 0.5`), like a model logged with its `predict` method."""

    def predict(self, context, model_input, params=None):
        return (model_input["score"] > 0.5).astype(int).to_numpy()


class ScoreModel(mlflow.pyfunc.PythonModel):
    """Returns the `score` column as the probability of the positive class."""

    def predict(self, context, model_input, params=None):
        return model_input["score"].to_numpy(dtype=float)


def _frame(seed: int, rows: int, rule: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=rows), "x2": rng.normal(size=rows)})
    noise = rng.normal(scale=0.5, size=rows)
    frame["y"] = ((frame[rule] + noise) > 0).astype(int)
    return frame


def _fit(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(frame[["x1", "x2"]], frame["y"])


def _evaluate(
    store, challenger: RegisteredVersion, champion: RegisteredVersion | None, frame, **overrides
) -> EvalReport:
    arguments = {
        "run_id": "run-1",
        "model_name": MODEL,
        "challenger": challenger,
        "champion": champion,
        "eval_frame": frame,
        "schema": SCHEMA,
        "task_type": "classification",
        "primary_metric": "roc_auc",
        "min_improvement": 0.005,
        "n_bootstrap": 200,
        "confidence_level": 0.95,
        "eval_window": {"rows": len(frame)},
    }
    arguments.update(overrides)
    with store.registry.pyfunc_loader() as load:
        return evaluate_models(load_model=load, **arguments)


@pytest.fixture
def drifted(register: Callable[..., RegisteredVersion]):
    """A champion fitted when x1 decided the label, a challenger fitted after x2 took over."""
    champion = register(MODEL, "run-0", sklearn_model=_fit(_frame(1, 600, "x1")))
    challenger = register(MODEL, "run-1", sklearn_model=_fit(_frame(2, 600, "x2")))
    return champion, challenger, _frame(3, 400, "x2")


def test_better_challenger_recommended(mlflow_store, drifted):
    champion, challenger, frame = drifted
    report = _evaluate(mlflow_store, challenger, champion, frame)
    assert report.recommend_promotion is True
    assert report.primary_metric == "roc_auc"
    assert report.challenger.basis == "probabilities"
    assert report.difference is not None
    assert report.difference.ci_low is not None and report.difference.ci_low > 0
    assert report.n_eval_rows == 400
    assert "Promotion recommended" in report.reason


def test_report_difference_equals_metric_gap(mlflow_store, drifted):
    champion, challenger, frame = drifted
    report = _evaluate(mlflow_store, challenger, champion, frame)
    gap = report.challenger.metrics["roc_auc"] - report.champion.metrics["roc_auc"]
    assert report.difference.difference == pytest.approx(gap)


def test_report_round_trips_json(mlflow_store, drifted):
    champion, challenger, frame = drifted
    report = _evaluate(mlflow_store, challenger, champion, frame)
    assert EvalReport.from_dict(report.to_dict()) == report


def test_worse_challenger_not_recommended(mlflow_store, drifted):
    champion, challenger, frame = drifted
    report = _evaluate(mlflow_store, champion, challenger, frame)
    assert report.recommend_promotion is False
    assert report.difference.difference < 0
    assert "below the minimum" in report.reason


def test_identical_challenger_not_recommended(mlflow_store, register):
    model = _fit(_frame(1, 300, "x1"))
    champion = register(MODEL, "run-0", sklearn_model=model)
    challenger = register(MODEL, "run-1", sklearn_model=model)
    report = _evaluate(mlflow_store, challenger, champion, _frame(4, 300, "x1"))
    assert report.recommend_promotion is False
    assert report.difference.difference == 0.0
    assert "does not lie above 0" in report.reason


def test_no_champion_judged_alone(mlflow_store, drifted):
    _, challenger, frame = drifted
    report = _evaluate(mlflow_store, challenger, None, frame)
    assert report.recommend_promotion is True
    assert report.champion is None
    assert report.difference is None
    assert "No champion" in report.reason


def test_labels_only_challenger_scored_on_labels(mlflow_store, register):
    # The labels-only challenger forces label metrics for both models.
    champion = register(MODEL, "run-0", python_model=ScoreModel())
    challenger = register(MODEL, "run-1", python_model=LabelModel())
    frame = pd.DataFrame({"score": [0.1, 0.7, 0.9, 0.3], "y": [0, 1, 1, 1]})

    report = _evaluate(mlflow_store, challenger, champion, frame, schema=SCORE_SCHEMA)

    assert report.challenger.basis == "labels"
    assert report.champion.basis == "labels"
    assert report.challenger.metrics["accuracy"] == pytest.approx(0.75)
    assert report.challenger.metrics["f1"] == pytest.approx(0.8)
    assert "roc_auc" not in report.challenger.metrics
    assert "log_loss" not in report.champion.metrics
    assert report.primary_metric == "accuracy"
    assert "needs probabilities" in report.reason
    assert report.recommend_promotion is False


def test_probability_models_keep_probability_basis(mlflow_store, register):
    champion = register(MODEL, "run-0", python_model=ScoreModel())
    challenger = register(MODEL, "run-1", python_model=ScoreModel())
    frame = pd.DataFrame({"score": [0.1, 0.7, 0.9, 0.3], "y": [0, 1, 1, 1]})
    report = _evaluate(mlflow_store, challenger, champion, frame, schema=SCORE_SCHEMA)
    assert report.champion.basis == "probabilities"
    # The only negative (0.1) is below every positive.
    assert report.champion.metrics["roc_auc"] == pytest.approx(1.0)


def test_one_class_window_not_compared(mlflow_store, drifted):
    # ROC AUC is undefined when the evaluation window has one class, so nothing is compared.
    champion, challenger, frame = drifted
    one_class = frame[frame["y"] == 0]
    report = _evaluate(mlflow_store, challenger, champion, one_class)
    assert report.challenger.metrics["roc_auc"] is None
    assert report.champion.metrics["roc_auc"] is None
    assert report.difference.difference is None
    assert report.difference.n_skipped == 200
    assert report.recommend_promotion is False
    assert "one class" in report.reason


def test_one_class_window_alone_not_recommended(mlflow_store, drifted):
    _, challenger, frame = drifted
    report = _evaluate(mlflow_store, challenger, None, frame[frame["y"] == 0])
    assert report.recommend_promotion is False
    assert "undefined" in report.reason


def test_regression_rmse_oriented_lower_better(mlflow_store, register):
    rng = np.random.default_rng(6)
    train = pd.DataFrame({"x1": rng.normal(size=300), "x2": rng.normal(size=300)})
    train["y"] = 3 * train["x1"] + rng.normal(scale=0.3, size=300)
    weak = LinearRegression().fit(train[["x2"]].assign(x1=0.0)[["x1", "x2"]], train["y"])
    strong = LinearRegression().fit(train[["x1", "x2"]], train["y"])
    champion = register(MODEL, "run-0", sklearn_model=weak, predict_fn="predict")
    challenger = register(MODEL, "run-1", sklearn_model=strong, predict_fn="predict")

    report = _evaluate(
        mlflow_store,
        challenger,
        champion,
        train.iloc[:200],
        task_type="regression",
        primary_metric="rmse",
    )
    assert report.challenger.basis == "values"
    assert report.difference.higher_is_better is False
    assert report.difference.difference == pytest.approx(
        report.champion.metrics["rmse"] - report.challenger.metrics["rmse"]
    )
    assert report.recommend_promotion is True


def test_default_loader_reads_models_uri(mlflow_store, drifted):
    champion, challenger, frame = drifted
    report = evaluate_models(
        run_id="run-1",
        model_name=MODEL,
        challenger=challenger,
        champion=champion,
        eval_frame=frame,
        schema=SCHEMA,
        task_type="classification",
        primary_metric="roc_auc",
        min_improvement=0.005,
        n_bootstrap=100,
        confidence_level=0.95,
    )
    assert report.recommend_promotion is True


def test_unknown_primary_metric_rejected(mlflow_store, drifted):
    champion, challenger, frame = drifted
    with pytest.raises(ValueError, match="unknown classification metric 'auc'"):
        _evaluate(mlflow_store, challenger, champion, frame, primary_metric="auc")


def test_missing_target_rejected(mlflow_store, drifted):
    champion, challenger, frame = drifted
    with pytest.raises(ValueError, match="no target column 'y'"):
        _evaluate(mlflow_store, challenger, champion, frame.drop(columns="y"))


def test_missing_target_rows_dropped(mlflow_store, drifted):
    champion, challenger, frame = drifted
    frame = frame.astype({"y": "float"})
    frame.loc[frame.index[:10], "y"] = np.nan
    report = _evaluate(mlflow_store, challenger, champion, frame)
    assert report.n_eval_rows == 390


def test_deleted_champion_artifacts_fail_clearly(mlflow_store, drifted):
    champion, challenger, frame = drifted
    missing = RegisteredVersion(MODEL, "99", f"models:/{MODEL}/99", None, None)
    with pytest.raises(EvaluationError, match=f"models:/{MODEL}/99"):
        _evaluate(mlflow_store, challenger, missing, frame)
