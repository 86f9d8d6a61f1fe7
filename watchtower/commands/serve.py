"""`watchtower serve`: start the API with uvicorn (the same app as `uvicorn api.main:app`)."""

from __future__ import annotations

import argparse


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    print(f"API at http://{args.host}:{args.port} (docs at /docs, stop with Ctrl+C)", flush=True)
    uvicorn.run(
        "api.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=(args.log_level or "info").lower(),
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("serve", help="start the API server")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes (default: 1); streams work across workers",
    )
    parser.set_defaults(handler=run_serve)
