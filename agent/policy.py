"""The `rules` decision maker: a deterministic policy that drives the same tools as Claude.

It replies to each request of the decision loop with a Messages API response (text blocks, then tool_use
blocks), so it goes through the same loop, guardrails and audit trail. Its text states which thresholds
it compared and what it concluded. It decides from the drift report's verdicts and from the tool
results only, never from feature names, so it works offline and gives a baseline for Claude.

Evidence hierarchy: performance is read first. A significant realised drop (labels present) decides
alone, and so does a significant estimated drop together with dataset drift (the estimate cannot see
concept drift, and the guardrails require drift then). When performance shows no significant drop,
dataset or target drift still leads to a retrain. On the flight data of the decision benchmark, a
champion that kept its validation score still lost to a challenger retrained on the recent rows in
three of the four months where it kept it, so a kept score is no reason to skip a retrain. The
evaluation, not this policy, decides whether the challenger replaces the champion.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from agent.steps import Decision
from agent.tools.guardrails import (
    describe_drift_evidence,
    drift_warrants_retrain,
    significant_drop,
)
from drift.report import DriftReport
from watchtower.settings import Settings

Stage = Literal["start", "inspected", "retrained", "evaluated", "promoted", "summarized"]
EvidenceBasis = Literal["realised performance", "estimated performance", "drift"]
PERFORMANCE_TOOLS = {
    "realised": "check_model_performance",
    "estimated": "estimate_model_performance",
}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _tool_results(messages: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], bool]]:
    """Return the tool results of the last user message by tool_use id: (parsed content, is_error)."""
    if not messages or messages[-1].get("role") != "user":
        return {}
    content = messages[-1].get("content")
    if not isinstance(content, list):
        return {}
    results = {}
    for block in content:
        if block.get("type") != "tool_result":
            continue
        try:
            parsed = json.loads(block.get("content") or "{}")
        except json.JSONDecodeError:
            parsed = {"message": block.get("content")}
        results[block["tool_use_id"]] = (parsed, bool(block.get("is_error")))
    return results


class RulesPolicy:
    """A deterministic decision maker with the same interface as the Claude one."""

    backend: Literal["rules"] = "rules"
    model: str | None = None

    def __init__(self, report: DriftReport, settings: Settings) -> None:
        self._report = report
        self._settings = settings
        self._stage: Stage = "start"
        self._issued: dict[str, str] = {}
        self._decision = Decision.NO_ACTION
        self._notes: list[str] = []

    def respond(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        tool_choice: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Return the next response of the policy, in the Messages API response format."""
        results = self._results_by_name(messages)
        if tool_choice is not None and tool_choice.get("name") == "write_summary":
            return self._summary(
                "The loop requested the summary now; writing it from the actions so far."
            )
        if self._stage == "start":
            return self._inspect()
        if self._stage == "inspected":
            return self._decide_retrain(results)
        if self._stage == "retrained":
            return self._after_retrain(results.get("trigger_retrain"))
        if self._stage == "evaluated":
            return self._after_evaluation(results.get("evaluate_model"))
        if self._stage == "promoted":
            return self._after_promotion(results.get("promote_model"))
        return self._response([_text("The summary is written; nothing is left to do.")])

    def _results_by_name(
        self, messages: list[dict[str, Any]]
    ) -> dict[str, tuple[dict[str, Any], bool]]:
        by_id = _tool_results(messages)
        return {self._issued[key]: value for key, value in by_id.items() if key in self._issued}

    def _response(self, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        has_tool = any(block["type"] == "tool_use" for block in blocks)
        return {
            "content": blocks,
            "stop_reason": "tool_use" if has_tool else "end_turn",
            "usage": {},
            "model": None,
        }

    def _call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        tool_use_id = f"rules_{len(self._issued) + 1:03d}"
        self._issued[tool_use_id] = name
        return {"type": "tool_use", "id": tool_use_id, "name": name, "input": arguments}

    def _inspect(self) -> dict[str, Any]:
        self._stage = "inspected"
        text = (
            "Rules policy: reading the evidence. Performance comes first: the realised check when "
            "the current window has labels, else the estimate without labels. A significant drop "
            "decides; without one, dataset or target drift decides, and the evaluation then decides "
            "whether a challenger replaces the champion. The per-feature listing, the target test "
            "and both performance tools follow."
        )
        listing = {"only_drifted": True, "limit": self._settings.drift_top_features}
        return self._response(
            [
                _text(text),
                self._call("run_statistical_drift", listing),
                self._call("run_target_drift", {}),
                self._call(PERFORMANCE_TOOLS["realised"], {}),
                self._call(PERFORMANCE_TOOLS["estimated"], {}),
            ]
        )

    def _decide_retrain(self, results: dict[str, tuple[dict[str, Any], bool]]) -> dict[str, Any]:
        realised = _available(results.get(PERFORMANCE_TOOLS["realised"]))
        estimated = _available(results.get(PERFORMANCE_TOOLS["estimated"]))
        drift = f"Drift evidence: {describe_drift_evidence(self._report)}."
        if realised is not None:
            basis: EvidenceBasis = "realised performance"
            dropped, verdict = self._judge_realised(realised, estimated)
        elif estimated is not None:
            basis = "estimated performance"
            dropped, verdict = self._judge_estimated(estimated)
        else:
            basis = "drift"
            dropped, verdict = False, self._no_performance(results)

        retrain = dropped
        if not dropped and drift_warrants_retrain(self._report):
            basis = "drift"
            retrain = True
            verdict += (
                " Dataset or target drift is present, so a retrain on the recent rows is tried; "
                "the evaluation decides whether the challenger replaces the champion."
            )
        elif not dropped:
            verdict += " Neither dataset nor target drift is present."

        text = f"Evidence that decided: {basis}. {verdict} {drift}"
        if not retrain:
            self._notes.append(f"{text} No retraining, so no action was taken.")
            return self._summary(f"{text} No retraining: no action.")
        self._stage = "retrained"
        reason = f"{text} This warrants retraining."
        self._notes.append(reason)
        return self._response([_text(reason), self._call("trigger_retrain", {"reason": reason})])

    def _judge_realised(
        self, realised: dict[str, Any], estimated: dict[str, Any] | None
    ) -> tuple[bool, str]:
        """Return whether the realised check shows a significant drop, with the text that states it."""
        margin = self._settings.performance_drop_margin
        cross_check = ""
        if estimated is not None:
            cross_check = (
                f" For comparison, the estimate without labels: {_interval_text(estimated)}."
            )
        if significant_drop(realised, margin) is not None:
            return True, f"{realised.get('message')}{cross_check}"
        return False, f"{realised.get('message')}{cross_check} No significant realised drop."

    def _judge_estimated(self, estimated: dict[str, Any]) -> tuple[bool, str]:
        """Return whether the estimate shows a significant drop that may decide alone."""
        margin = self._settings.performance_drop_margin
        message = str(estimated.get("message"))
        if significant_drop(estimated, margin) is None:
            return False, f"{message} No significant estimated drop."
        if self._report.dataset.drifted:
            return True, f"{message} The estimated drop comes with dataset drift."
        return (
            False,
            f"{message} The estimated drop comes without dataset drift, and an estimate alone "
            "does not allow a retrain.",
        )

    def _no_performance(self, results: dict[str, tuple[dict[str, Any], bool]]) -> str:
        reasons = [
            _unavailable_reason(results.get(PERFORMANCE_TOOLS[kind]), kind)
            for kind in ("realised", "estimated")
        ]
        return f"No performance evidence ({'; '.join(reasons)}), so drift decides."

    def _after_retrain(self, result: tuple[dict[str, Any], bool] | None) -> dict[str, Any]:
        content, is_error = result if result else ({"message": "no result"}, True)
        if is_error or content.get("state") != "success":
            detail = content.get("message") or f"state {content.get('state')}"
            # A rejected call never started a job, so the run took no action.
            rejected = content.get("error") == "rejected"
            self._decision = Decision.NO_ACTION if rejected else Decision.FAILED
            self._notes.append(f"The retrain did not register a model version ({detail}).")
            return self._summary(f"The retrain did not register a model version: {detail}.")
        self._stage = "evaluated"
        self._decision = Decision.RETRAINED_NOT_PROMOTED
        version = content.get("model_version")
        self._notes.append(f"The retrain registered version {version}.")
        text = (
            f"The retrain succeeded and registered version {version}; scoring it on the held-out "
            "rows, against the champion when there is one."
        )
        return self._response([_text(text), self._call("evaluate_model", {})])

    def _after_evaluation(self, result: tuple[dict[str, Any], bool] | None) -> dict[str, Any]:
        content, is_error = result if result else ({"message": "no result"}, True)
        if is_error:
            self._notes.append(
                f"The evaluation failed ({content.get('message')}); the champion stays."
            )
            return self._summary(
                f"The evaluation failed: {content.get('message')}. The champion stays."
            )
        comparison = self._describe_evaluation(content)
        if content.get("recommend_promotion") is not True:
            self._notes.append(f"{comparison} Promotion is not recommended, so the champion stays.")
            return self._summary(f"{comparison} Not recommended: the champion stays.")
        self._stage = "promoted"
        reason = f"{comparison} The evaluation recommends promotion."
        self._notes.append(reason)
        return self._response([_text(reason), self._call("promote_model", {"reason": reason})])

    def _after_promotion(self, result: tuple[dict[str, Any], bool] | None) -> dict[str, Any]:
        content, is_error = result if result else ({"message": "no result"}, True)
        if is_error:
            self._notes.append(
                f"The promotion failed ({content.get('message')}); the champion stays."
            )
            return self._summary(f"The promotion failed: {content.get('message')}.")
        self._decision = Decision.PROMOTED
        previous = content.get("previous_champion_version")
        moved = (
            f"version {previous} keeps the previous-champion alias"
            if previous
            else "there was no champion before it"
        )
        self._notes.append(
            f"Version {content.get('champion_version')} is now the champion; {moved}."
        )
        return self._summary("The promotion succeeded.")

    def _describe_evaluation(self, content: dict[str, Any]) -> str:
        difference = content.get("difference")
        metric = content.get("primary_metric")
        reason = str(content.get("reason", "")).rstrip(".")
        if not difference or difference.get("difference") is None:
            return (
                f"On {content.get('n_eval_rows')} held-out rows there is no champion {metric} to "
                f"compare with. The evaluator's reason: {reason}."
            )
        return (
            f"On {content.get('n_eval_rows')} held-out rows the challenger minus champion {metric} is "
            f"{_number(difference.get('difference'))} (confidence interval "
            f"{_number(difference.get('ci_low'))} to {_number(difference.get('ci_high'))}) against a "
            f"minimum improvement of {_number(content.get('min_improvement'))}. The evaluator's "
            f"reason: {reason}."
        )

    def _summary(self, text: str) -> dict[str, Any]:
        self._stage = "summarized"
        summary = " ".join(self._notes) or text
        arguments = {"decision": self._decision.value, "summary": f"Rules policy. {summary}"}
        return self._response([_text(text), self._call("write_summary", arguments)])


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "n/a"


def _available(result: tuple[dict[str, Any], bool] | None) -> dict[str, Any] | None:
    """Return a performance tool's content when it contains evidence, else None."""
    if result is None:
        return None
    content, is_error = result
    if is_error or content.get("status") != "available":
        return None
    return content


def _unavailable_reason(result: tuple[dict[str, Any], bool] | None, kind: str) -> str:
    if result is None:
        return f"{kind}: no result"
    content, is_error = result
    status = "error" if is_error else content.get("status")
    return f"{kind}: {status}, {content.get('message')}"


def _interval_text(result: dict[str, Any]) -> str:
    current = result.get("current") or {}
    return (
        f"{result.get('metric')} {_number(current.get('value'))} (interval "
        f"{_number(current.get('ci_low'))} to {_number(current.get('ci_high'))})"
    )
