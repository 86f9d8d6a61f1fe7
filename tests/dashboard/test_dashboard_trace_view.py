"""How the trace page draws single steps: rejected and failed tool calls are marked as such."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _draw_step(step: dict) -> AppTest:
    def script() -> None:
        import streamlit as st

        from dashboard.trace_view import render_step

        render_step(st.session_state["step"])

    app = AppTest.from_function(script)
    app.session_state["step"] = step
    return app.run()


def test_rejected_call_shows_warning():
    step = {
        "seq": 7,
        "kind": "tool_result",
        "tool_name": "promote_model",
        "output": {
            "tool_use_id": "toolu_01",
            "is_error": True,
            "content": {
                "error": "rejected",
                "message": "promotion needs a stored evaluation report",
                "rule": "promote_needs_evaluation",
            },
        },
        "created_at": "2026-12-04T20:00:00Z",
    }

    app = _draw_step(step)

    assert not app.exception
    assert "Rejected call" in app.markdown[0].value
    assert "promotion needs a stored evaluation report" in app.warning[0].value


def test_failed_call_is_an_error():
    step = {
        "seq": 9,
        "kind": "tool_result",
        "tool_name": "evaluate_model",
        "output": {
            "tool_use_id": "toolu_02",
            "is_error": True,
            "content": {"error": "failed", "message": "the evaluation failed: MLflow is down"},
        },
        "created_at": "2026-12-04T20:00:00Z",
    }

    app = _draw_step(step)

    assert "Tool error" in app.markdown[0].value
    assert app.error[0].value == "the evaluation failed: MLflow is down"


def test_reasoning_step_shows_text_and_tokens():
    step = {
        "seq": 3,
        "kind": "llm_reasoning",
        "text": "Drift share 0.25 is above the threshold 0.20.",
        "usage": {"input_tokens": 1200, "output_tokens": 80},
        "duration_ms": 850.0,
        "created_at": "2026-12-04T20:00:00Z",
    }

    app = _draw_step(step)

    assert app.markdown[1].value == "Drift share 0.25 is above the threshold 0.20."
    assert "1200 input / 80 output tokens" in app.caption[0].value
    assert "850 ms" in app.caption[0].value


def test_tool_call_shows_arguments():
    step = {
        "seq": 4,
        "kind": "tool_call",
        "tool_name": "trigger_retrain",
        "input": {"reason": "dataset drift"},
        "created_at": "2026-12-04T20:00:00Z",
    }

    app = _draw_step(step)

    assert "`trigger_retrain`" in app.markdown[0].value
    assert app.json[0].value == '{"reason": "dataset drift"}'
