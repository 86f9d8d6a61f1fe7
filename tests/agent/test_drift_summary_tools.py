"""The compact drift summary, the drift tools and the tool registry."""

from __future__ import annotations

import json

import pytest
from agent_testkit import drifted_report, make_feature, make_report

from agent.prompts import render_first_message
from agent.summary import MAX_NAME_CHARS, summarize_drift
from agent.tools.base import Tool, ToolInput
from agent.tools.registry import TOOL_MODULES, ToolRegistry, build_registry


def _wide_report(n_features: int, name_length: int = 20):
    features = [
        make_feature(
            f"f{index:05d}".ljust(name_length, "x"),
            drifted=index % 3 == 0,
            psi=index / n_features,
            p_value=0.01,
        )
        for index in range(n_features)
    ]
    return make_report(features)


def test_summary_size_is_bounded() -> None:
    small = render_first_message(summarize_drift(_wide_report(30), top_n=10))
    large = render_first_message(summarize_drift(_wide_report(5000), top_n=10))

    # Only counts grow with the number of features, by a few digits each.
    assert len(large) - len(small) < 100


def test_summary_lists_top_features_first() -> None:
    summary = summarize_drift(_wide_report(300), top_n=10)

    names = [item["name"] for item in summary["top_features"]]
    assert len(names) == 10
    assert all(item["drifted"] for item in summary["top_features"])
    # The drifted feature with the largest PSI is index 297 (PSI 0.99).
    assert names[0].startswith("f00297")
    assert summary["aggregates"]["n_features"] == 300
    assert summary["aggregates"]["n_drifted"] == 100


def test_summary_cuts_long_names() -> None:
    summary = summarize_drift(_wide_report(3, name_length=500), top_n=3)

    name = summary["top_features"][0]["name"]
    assert len(name) == MAX_NAME_CHARS
    assert name.endswith("…")


def test_summary_is_strict_json() -> None:
    report = drifted_report()
    report.features[0].p_value = float("nan")
    report.features[0].effect_size = float("inf")
    message = render_first_message(summarize_drift(report, top_n=5))

    data = message.split("<drift_summary>\n", 1)[1].split("\n</drift_summary>", 1)[0]
    parsed = json.loads(data, parse_constant=lambda name: pytest.fail(f"non-finite {name} in JSON"))
    assert parsed["top_features"][0]["p_value"] is None


def test_registry_lists_the_nine_tools() -> None:
    registry = build_registry()

    assert registry.names == [
        "run_statistical_drift",
        "run_feature_drift",
        "run_target_drift",
        "trigger_retrain",
        "evaluate_model",
        "promote_model",
        "write_summary",
        "check_model_performance",
        "estimate_model_performance",
    ]
    assert len(TOOL_MODULES) == 5


def test_tool_schemas_forbid_unknown_arguments() -> None:
    for definition in build_registry().definitions():
        schema = definition["input_schema"]
        assert schema["type"] == "object", definition["name"]
        assert schema["additionalProperties"] is False, definition["name"]
        assert len(definition["description"]) > 60, definition["name"]


def test_registry_rejects_duplicate_names() -> None:
    class Empty(ToolInput):
        pass

    tool = Tool(name="twice", description="d", input_model=Empty, run=lambda env, args: {})

    with pytest.raises(ValueError, match="'twice' is registered twice"):
        ToolRegistry([tool, tool])


def test_statistical_drift_paginates() -> None:
    from agent.tools.base import RunProgress, ToolEnv
    from agent.tools.registry import run_tool_call

    class Ctx:
        run_id = "run-1"
        drift_report = _wide_report(300)

    env = ToolEnv(ctx=Ctx(), progress=RunProgress())  # type: ignore[arg-type]
    result = run_tool_call(
        build_registry(),
        env,
        "run_statistical_drift",
        {"offset": 10, "limit": 5, "only_drifted": True},
    )

    assert result.is_error is False
    assert result.content["total_matching"] == 100
    assert result.content["returned"] == 5
    # Drifted features by PSI, largest first: indexes 297, 294, ... so the 11th is 267.
    assert result.content["features"][0]["name"].startswith("f00267")


def test_feature_listing_caps_new_categories() -> None:
    from agent.tools.base import RunProgress, ToolEnv
    from agent.tools.registry import run_tool_call

    report = drifted_report()
    report.features[1].new_categories = [f"code-{index}" for index in range(500)]

    class Ctx:
        run_id = "run-1"
        drift_report = report

    env = ToolEnv(ctx=Ctx(), progress=RunProgress())  # type: ignore[arg-type]
    listing = run_tool_call(build_registry(), env, "run_statistical_drift", {"sort_by": "name"})
    detail = run_tool_call(build_registry(), env, "run_feature_drift", {"feature": "color"})

    color = listing.content["features"][0]
    assert color["name"] == "color"
    assert len(color["new_categories"]) == 20
    assert color["n_new_categories"] == 500
    assert len(detail.content["new_categories"]) == 200
    assert detail.content["n_new_categories"] == 500
