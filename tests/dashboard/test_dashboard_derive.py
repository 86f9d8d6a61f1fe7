"""Tables the dashboard derives from API responses: drift frames, comparisons, champion history."""

from __future__ import annotations

import math

from dashboard.derive import (
    Promotion,
    champion_history,
    classify_step,
    comparison_frame,
    dataset_drift_frame,
    drift_feature_frame,
    find_promotion,
    result_content,
)


def _run(run_id: str, triggered_at: str, decision: str | None = None) -> dict:
    return {"run_id": run_id, "triggered_at": triggered_at, "decision": decision}


def _drift_report(share: float, drifted: bool, features: list[tuple[str, float, bool]]) -> dict:
    return {
        "dataset": {
            "drifted": drifted,
            "drift_share": share,
            "threshold": 0.2,
            "n_tested": len(features),
            "n_drifted": sum(flag for _, _, flag in features),
        },
        "features": [
            {
                "name": name,
                "kind": "numeric",
                "method": "ks",
                "effect_size": effect,
                "effect_threshold": 0.2,
                "p_value": 0.001 if flag else 0.6,
                "p_value_threshold": 0.05,
                "drifted": flag,
            }
            for name, effect, flag in features
        ],
        "target": {"drifted": False},
    }


def _eval_report(champion: str | None, challenger: str, diff: float, recommend: bool) -> dict:
    return {
        "primary_metric": "roc_auc",
        "champion": {"version": champion, "metrics": {"roc_auc": 0.70}} if champion else None,
        "challenger": {"version": challenger, "metrics": {"roc_auc": 0.70 + diff}},
        "difference": {
            "metric": "roc_auc",
            "difference": diff,
            "ci_low": diff - 0.01,
            "ci_high": diff + 0.01,
            "confidence_level": 0.95,
        },
        "min_improvement": 0.005,
        "recommend_promotion": recommend,
        "reason": "test",
    }


def test_drift_features_sorted_oldest_first():
    pairs = [
        (_run("b", "2026-12-02T00:00:00+00:00"), _drift_report(0.5, True, [("x", 0.4, True)])),
        (_run("a", "2026-12-01T00:00:00+00:00"), _drift_report(0.0, False, [("x", 0.01, False)])),
    ]

    frame = drift_feature_frame(pairs)

    assert frame["run_id"].tolist() == ["a", "b"]
    assert frame["drifted"].tolist() == [False, True]
    assert frame["effect_size"].tolist() == [0.01, 0.4]


def test_drift_features_one_row_per_feature():
    report = _drift_report(0.5, True, [("x", 0.4, True), ("y", 0.05, False)])

    frame = drift_feature_frame([(_run("a", "2026-12-01T00:00:00Z"), report)])

    assert sorted(frame["feature"]) == ["x", "y"]


def test_drift_features_empty_input_has_columns():
    frame = drift_feature_frame([])

    assert frame.empty
    assert "effect_size" in frame.columns


def test_dataset_drift_keeps_share_and_threshold():
    report = _drift_report(0.5, True, [("x", 0.4, True), ("y", 0.05, False)])

    frame = dataset_drift_frame([(_run("a", "2026-12-01T00:00:00Z"), report)])

    assert frame.loc[0, "drift_share"] == 0.5
    assert frame.loc[0, "threshold"] == 0.2
    assert frame.loc[0, "n_drifted"] == 1
    assert bool(frame.loc[0, "drifted"]) is True


def test_comparison_reads_primary_metric():
    pairs = [(_run("a", "2026-12-01T00:00:00Z", "promoted"), _eval_report("1", "2", 0.05, True))]

    row = comparison_frame(pairs).iloc[0]

    assert row["champion_value"] == 0.70
    assert math.isclose(row["challenger_value"], 0.75)
    assert math.isclose(row["ci_low"], 0.04)
    assert math.isclose(row["ci_high"], 0.06)
    assert row["champion_version"] == "1"
    assert row["challenger_version"] == "2"


def test_comparison_without_champion_has_no_value():
    pairs = [(_run("a", "2026-12-01T00:00:00Z"), _eval_report(None, "1", 0.0, True))]

    row = comparison_frame(pairs).iloc[0]

    assert row["champion_value"] is None or math.isnan(row["champion_value"])


def _envelope(content: dict, is_error: bool) -> dict:
    """A tool result as the decision loop stores it."""
    return {"tool_use_id": "toolu_01", "is_error": is_error, "content": content}


REJECTION = {"error": "rejected", "message": "no", "rule": "promote_needs_evaluation"}


def test_classify_rejected_result():
    step = {
        "kind": "tool_result",
        "tool_name": "promote_model",
        "output": _envelope(REJECTION, True),
    }

    assert classify_step(step) == "rejected"


def test_classify_rejected_result_without_envelope():
    step = {"kind": "tool_result", "tool_name": "promote_model", "output": REJECTION}

    assert classify_step(step) == "rejected"


def test_classify_failed_result():
    content = {"error": "failed", "message": "MLflow down"}
    step = {"kind": "tool_result", "output": _envelope(content, True)}

    assert classify_step(step) == "tool_error"


def test_classify_successful_envelope():
    step = {"kind": "tool_result", "output": _envelope({"recorded": True}, False)}

    assert classify_step(step) == "tool_result"


def test_result_content_unwraps_envelope():
    assert result_content(_envelope({"a": 1}, False)) == {"a": 1}
    assert result_content({"a": 1}) == {"a": 1}
    assert result_content(None) == {}


def test_classify_plain_kinds():
    assert classify_step({"kind": "llm_reasoning", "text": "x"}) == "reasoning"
    assert classify_step({"kind": "tool_call", "input": {}}) == "tool_call"
    assert classify_step({"kind": "tool_result", "output": {"drifted": True}}) == "tool_result"
    assert classify_step({"kind": "error", "text": "x"}) == "error"
    assert classify_step({"kind": "status", "text": "x"}) == "status"


def test_find_promotion_reads_champion_version():
    content = {"model_name": "m", "champion_version": "3", "previous_champion_version": "2"}
    steps = [
        {"kind": "tool_call", "tool_name": "promote_model", "input": {}},
        {"kind": "tool_result", "tool_name": "promote_model", "output": _envelope(content, False)},
    ]

    assert find_promotion("r", steps) == Promotion("r", "3", "2")


def test_find_promotion_ignores_rejected_call():
    steps = [
        {"kind": "tool_result", "tool_name": "promote_model", "output": _envelope(REJECTION, True)}
    ]

    assert find_promotion("r", steps) is None


def test_champion_history_follows_promotions():
    runs = [
        _run("r1", "2026-12-01T00:00:00Z", "no_action"),
        _run("r2", "2026-12-02T00:00:00Z", "retrained_not_promoted"),
        _run("r3", "2026-12-03T00:00:00Z", "promoted"),
        _run("r4", "2026-12-04T00:00:00Z", "no_action"),
    ]
    reports = {
        "r2": _eval_report("1", "2", 0.0, False),
        "r3": _eval_report("1", "3", 0.05, True),
    }
    promotions = {"r3": Promotion("r3", "3", "1")}

    history = champion_history(list(reversed(runs)), reports, promotions)

    assert history["run_id"].tolist() == ["r1", "r2", "r3", "r4"]
    assert history["champion_version"].tolist() == [None, "1", "3", "3"]
    assert history["source"].tolist() == [
        "unknown",
        "seen_at_evaluation",
        "promoted",
        "carried_over",
    ]
