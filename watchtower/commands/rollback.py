"""`watchtower rollback`: move the `champion` alias back to the `previous-champion` version."""

from __future__ import annotations

import argparse
import sys

from watchtower.settings import get_settings


def run_rollback(args: argparse.Namespace) -> int:
    # Imported here so that other subcommands start without loading MLflow.
    from training.registry import ModelRegistry, RegistryError, redact_uri

    settings = get_settings()
    model_name = args.model or settings.mlflow_model_name
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_registry_uri)
    try:
        result = registry.rollback(model_name)
    except RegistryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    print(f"model {model_name} in {redact_uri(registry.registry_uri)}:")
    print(f"  champion: version {result.champion_version}")
    if result.previous_champion_version is None:
        print("  previous-champion: removed (there was no champion to keep)")
    else:
        print(f"  previous-champion: version {result.previous_champion_version}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rollback",
        help="move the champion alias back to the previous champion",
        description=(
            "Move the MLflow alias 'champion' back to the version with alias 'previous-champion', "
            "and give 'previous-champion' to the version that was champion. Reads MLFLOW_TRACKING_URI "
            "and MLFLOW_REGISTRY_URI."
        ),
    )
    parser.add_argument(
        "--model", default=None, help="registered model name (default: MLFLOW_MODEL_NAME)"
    )
    parser.set_defaults(handler=run_rollback)
