"""API benchmark: concurrent clients each start a dry run and follow its stream to the end.

Starts `uvicorn api.main:app` on 127.0.0.1 in a subprocess with a fresh SQLite run store and the
synthetic data source, then runs the clients from this process. Each client uses its own model name
(`model_name` in the request body), because the API allows one active run per model.

Prints the p50/p99 latency of `POST /pipeline/run` and of the step-to-client delay. The delay is the
time a client received a step minus the step's stored `created_at`, both read from this host's clock.
Then checks that every client received every stored step, in order, and the end event.

    .venv/bin/python bench/api_bench.py --clients 50 --rows 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np


@dataclass
class ClientResult:
    run_id: str = ""
    post_seconds: float = 0.0
    delays_seconds: list[float] = field(default_factory=list)
    received_seqs: list[int] = field(default_factory=list)
    stored_seqs: list[int] = field(default_factory=list)
    end_status: str | None = None
    error: str | None = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(workdir: Path, port: int, rows: int) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'runs.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}",
        "DATA_SOURCE": "synthetic",
        "SYNTHETIC_ROWS": str(rows),
        "DO_NOT_TRACK": "1",
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "LOG_LEVEL": "WARNING",
    }
    environment.pop("WATCHTOWER_API_TOKEN", None)
    command = [
        sys.executable, "-m", "uvicorn", "api.main:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    log = (workdir / "server.log").open("wb")
    repo = Path(__file__).resolve().parents[1]
    return subprocess.Popen(command, env=environment, cwd=repo, stdout=log, stderr=log)


async def _wait_ready(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the API server exited during start-up; see server.log")
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the API at {base_url} was not healthy within 60 s")


async def _follow(http: httpx.AsyncClient, result: ClientResult) -> None:
    async with http.stream("GET", f"/pipeline/status/{result.run_id}/stream") as response:
        event: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                event[name] = value.lstrip(" ")
                continue
            if event.get("event") == "step":
                received = time.time()
                step = json.loads(event["data"])
                stored = datetime.fromisoformat(step["created_at"]).timestamp()
                result.delays_seconds.append(received - stored)
                result.received_seqs.append(step["seq"])
            elif event.get("event") == "end":
                result.end_status = json.loads(event["data"])["status"]
                return
            event = {}


async def _client(
    http: httpx.AsyncClient, index: int, start: asyncio.Event, result: ClientResult
) -> None:
    body = {"dry_run": True, "model_name": f"bench-model-{index}", "trigger_source": "bench"}
    await start.wait()
    try:
        began = time.perf_counter()
        response = await http.post("/pipeline/run", json=body)
        result.post_seconds = time.perf_counter() - began
        response.raise_for_status()
        result.run_id = response.json()["run_id"]
        await _follow(http, result)
        status = (await http.get(f"/pipeline/status/{result.run_id}")).json()
        result.stored_seqs = [step["seq"] for step in status["steps"]]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"


def _percentiles_ms(values: list[float]) -> str:
    if not values:
        return "no values"
    p50, p99 = np.percentile(np.array(values) * 1000.0, [50, 99])
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(values) * 1000.0:.1f} ms"


async def run_benchmark(clients: int, rows: int) -> int:
    with tempfile.TemporaryDirectory(prefix="watchtower-bench-") as folder:
        workdir = Path(folder)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = _start_server(workdir, port, rows)
        try:
            await _wait_ready(base_url, process)
            results = [ClientResult() for _ in range(clients)]
            start = asyncio.Event()
            limits = httpx.Limits(max_connections=clients * 2 + 10)
            async with httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits) as http:
                tasks = [
                    asyncio.create_task(_client(http, index, start, results[index]))
                    for index in range(clients)
                ]
                began = time.perf_counter()
                start.set()
                await asyncio.gather(*tasks)
                wall = time.perf_counter() - began
        finally:
            process.terminate()
            process.wait(timeout=60)
        return _report(results, clients, rows, wall)


def _report(results: list[ClientResult], clients: int, rows: int, wall: float) -> int:
    errors = [r for r in results if r.error]
    incomplete = [
        r
        for r in results
        if not r.error and (r.received_seqs != r.stored_seqs or not r.stored_seqs)
    ]
    completed = sum(1 for r in results if r.end_status == "completed")
    delays = [delay for r in results for delay in r.delays_seconds]
    steps = sum(len(r.received_seqs) for r in results)

    print(f"clients: {clients}, synthetic rows per window: {rows}, wall time: {wall:.1f} s")
    print(f"runs completed: {completed}/{clients}, steps received: {steps}")
    print(f"POST /pipeline/run latency: {_percentiles_ms([r.post_seconds for r in results])}")
    print(f"step-to-client delay: {_percentiles_ms(delays)}")
    print(f"clients with every step in order: {clients - len(errors) - len(incomplete)}/{clients}")
    for result in errors[:5]:
        print(f"client error: {result.error}")
    for result in incomplete[:5]:
        print(f"run {result.run_id}: received {result.received_seqs}, stored {result.stored_seqs}")
    return 0 if not errors and not incomplete and completed == clients else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default: 50)")
    parser.add_argument(
        "--rows", type=int, default=1000, help="synthetic rows per window (default: 1000)"
    )
    args = parser.parse_args()
    return asyncio.run(run_benchmark(args.clients, args.rows))


if __name__ == "__main__":
    sys.exit(main())
