"""Decision benchmark: is retraining decided when it helps, on real data?

For each scenario (a reference and a current window of real data) the benchmark first measures
whether retraining helps (`labels.py`, three seeds). A scenario whose label differs between seeds is
unstable and left out of the scores. Then it runs each decision maker through the real pipeline
(`deciders.py`): `rules` always, `claude` only when ANTHROPIC_API_KEY is set. It adds two bounds
computed from the measurement: "always retrain" (retrain every time, promote when the evaluation
recommends it) and "never retrain". Two more rows replay simpler rules on the evidence the `rules`
run recorded, without running the loop again: "drift alone" (retrain on dataset or target drift) and
"drift or realised drop". It prints, per decision maker, the decisions that match the label, the
retrainings triggered and the mean held-out ROC AUC of the model that is champion after its
decision.

Usage:
    .venv/bin/python bench/decisions/run.py [--seeds 3] [--max-rows N] [--output results.json]

The census control needs the nannyml 0.13.1 package files. Install them without their many
dependencies with `pip install --no-deps --target DIR nannyml==0.13.1` and pass
`--nannyml-data DIR/nannyml/datasets/data`, or install nannyml into the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deciders import DecisionRun, run_decision_maker  # noqa: E402
from labels import Measurement, load_train_job, measure  # noqa: E402
from scenarios import Scenario, census_scenarios, flight_scenarios, nannyml_data_folder  # noqa: E402

from data.spec import DataSpec, load_windows  # noqa: E402
from watchtower.settings import Settings  # noqa: E402

logger = logging.getLogger("bench.decisions")

BOUNDS = ["always retrain", "never retrain"]
# Rules replayed on the evidence recorded by the `rules` run. A replayed retrain counts as promoted
# when the measurement of seed 0 calls it helpful, because that is the evaluator's promotion rule.
REPLAYED = ["drift alone (replayed)", "drift or realised drop (replayed)"]


@dataclass
class ScenarioResult:
    """The measured label of one scenario and what each decision maker did on it."""

    name: str
    rows: dict[str, int]
    measurements: list[Measurement]
    stable: bool
    helpful: bool
    decisions: dict[str, DecisionRun] = field(default_factory=dict)

    @property
    def reference(self) -> Measurement:
        # Seed 0 is the seed the training job uses, so the pipeline's models match this measurement.
        return self.measurements[0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per label (default 3)")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="sample at most this many rows per window, keeping their order (default: all rows)",
    )
    parser.add_argument(
        "--nannyml-data",
        type=Path,
        default=None,
        help="folder with nannyml's employment_MA_*.pq files (default: the installed nannyml)",
    )
    parser.add_argument(
        "--only", default=None, help="run only the scenarios whose name contains this text"
    )
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def build_scenarios(args: argparse.Namespace, folder: Path) -> list[Scenario]:
    scenarios = flight_scenarios(folder, args.max_rows)
    data_folder = args.nannyml_data or nannyml_data_folder()
    if data_folder is None:
        print("census control skipped: nannyml's data files were not found (see --nannyml-data)")
    else:
        scenarios += census_scenarios(Path(data_folder), folder, args.max_rows)
    if args.only:
        scenarios = [scenario for scenario in scenarios if args.only in scenario.name]
    return scenarios


def scenario_windows(scenario: Scenario) -> Any:
    spec = DataSpec(
        source="files",
        options={
            "reference_path": str(scenario.reference_path),
            "current_path": str(scenario.current_path),
            "target": scenario.target,
            "timestamp": scenario.timestamp,
            "categorical": scenario.categorical,
        },
    )
    return load_windows(spec)


def label(job: Any, scenario: Scenario, seeds: int, settings: Settings) -> ScenarioResult:
    windows = scenario_windows(scenario)
    measurements = [
        measure(
            job,
            windows,
            seed=seed,
            holdout_fraction=settings.eval_holdout_fraction,
            min_improvement=settings.eval_min_improvement,
            n_resamples=settings.eval_bootstrap_samples,
            confidence_level=settings.eval_confidence_level,
        )
        for seed in range(seeds)
    ]
    verdicts = {item.helpful for item in measurements}
    return ScenarioResult(
        name=scenario.name,
        rows=scenario.rows,
        measurements=measurements,
        stable=len(verdicts) == 1,
        helpful=measurements[0].helpful,
    )


def _realised_drop(run: DecisionRun) -> bool:
    realised = run.performance.get("realised") or {}
    return bool((realised.get("drop") or {}).get("significant"))


def retrained(result: ScenarioResult, run: DecisionRun | None, maker: str) -> bool:
    if maker == "never retrain":
        return False
    if maker == "always retrain":
        return True
    if maker in REPLAYED:
        recorded = result.decisions["rules"]
        drift = bool(recorded.dataset_drifted or recorded.target_drifted)
        return drift or (maker == REPLAYED[1] and _realised_drop(recorded))
    assert run is not None
    return run.retrained


def held_out_auc(result: ScenarioResult, run: DecisionRun | None, maker: str) -> float:
    """ROC AUC on the held-out rows of the model that is champion after the decision."""
    measured = result.reference
    if maker in BOUNDS or maker in REPLAYED:
        promoted = retrained(result, run, maker) and measured.helpful
        return measured.challenger_auc if promoted else measured.champion_auc
    assert run is not None
    if run.promoted and run.challenger_auc is not None:
        return float(run.challenger_auc)
    return measured.champion_auc


def score(results: list[ScenarioResult], makers: list[str]) -> list[dict[str, Any]]:
    stable = [result for result in results if result.stable]
    rows = []
    for maker in makers:
        runs = [result.decisions.get(maker) for result in stable]
        decisions = [
            retrained(result, run, maker) for result, run in zip(stable, runs, strict=True)
        ]
        right = sum(
            decision == result.helpful for decision, result in zip(decisions, stable, strict=True)
        )
        aucs = [held_out_auc(result, run, maker) for result, run in zip(stable, runs, strict=True)]
        rows.append(
            {
                "decision_maker": maker,
                "right": right,
                "scenarios": len(stable),
                "retrainings": sum(decisions),
                "mean_held_out_auc": sum(aucs) / len(aucs) if aucs else None,
            }
        )
    return rows


def print_scenarios(results: list[ScenarioResult]) -> None:
    print()
    print(
        "| Scenario | Rows (ref / cur) | Champion AUC | Gain per seed | Label | Drift share | "
        "Realised drop | Estimated drop | rules |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for result in results:
        gains = ", ".join(f"{item.gain:+.3f}" for item in result.measurements)
        label_text = ("helpful" if result.helpful else "not helpful") + (
            "" if result.stable else " (unstable)"
        )
        run = result.decisions.get("rules")
        realised = _drop_text(run.performance.get("realised")) if run else "n/a"
        estimated = _drop_text(run.performance.get("estimated")) if run else "n/a"
        share = f"{run.drift_share:.2f}" if run and run.drift_share is not None else "n/a"
        decision = f"{run.decision} ({run.evidence})" if run else "n/a"
        print(
            f"| {result.name} | {result.rows['reference']} / {result.rows['current']} | "
            f"{result.reference.champion_auc:.3f} | {gains} | {label_text} | {share} | {realised} | "
            f"{estimated} | {decision} |"
        )


def _drop_text(result: dict[str, Any] | None) -> str:
    if not result or result.get("status") != "available":
        return "n/a"
    drop = result.get("drop") or {}
    mark = "*" if drop.get("significant") else ""
    return f"{drop.get('drop'):+.3f} [{drop.get('ci_low'):+.3f}, {drop.get('ci_high'):+.3f}]{mark}"


def print_summary(rows: list[dict[str, Any]]) -> None:
    print()
    print("| Decision maker | Decisions right | Retrainings | Mean held-out ROC AUC |")
    print("|---|---|---|---|")
    for row in rows:
        auc = "n/a" if row["mean_held_out_auc"] is None else f"{row['mean_held_out_auc']:.4f}"
        print(
            f"| {row['decision_maker']} | {row['right']} of {row['scenarios']} | "
            f"{row['retrainings']} | {auc} |"
        )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    makers = ["rules"] + (["claude"] if settings.anthropic_api_key is not None else [])
    started = time.perf_counter()
    job = load_train_job()

    with tempfile.TemporaryDirectory(prefix="bench-decisions-data-") as name:
        scenarios = build_scenarios(args, Path(name))
        results = []
        for scenario in scenarios:
            step = time.perf_counter()
            result = label(job, scenario, args.seeds, settings)
            for maker in makers:
                result.decisions[maker] = run_decision_maker(job, scenario, maker)
            results.append(result)
            print(
                f"{scenario.name}: {'helpful' if result.helpful else 'not helpful'}"
                f"{'' if result.stable else ' (unstable)'}; rules: "
                f"{result.decisions['rules'].decision} in {time.perf_counter() - step:.0f} s",
                flush=True,
            )

    summary = score(results, [*makers, *BOUNDS, *REPLAYED])
    print_scenarios(results)
    print_summary(summary)
    elapsed = time.perf_counter() - started
    print(
        f"\n{len(results)} scenarios, {sum(r.stable for r in results)} stable, in {elapsed:.0f} s "
        f"on {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    if args.output:
        payload = {
            "summary": summary,
            "scenarios": [asdict(result) for result in results],
            "seconds": elapsed,
        }
        args.output.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
