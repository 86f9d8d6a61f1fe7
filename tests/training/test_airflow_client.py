"""The Airflow client against a fake Airflow served through `httpx.MockTransport`.

The fake speaks the parts of the REST API the client uses, for Airflow 3 (`/api/v2`, bearer tokens
from `/auth/token`) and Airflow 2 (`/api/v1`, basic auth), with the status codes measured on real
servers: 422 for a v2 trigger without `logical_date`, 409 for a duplicate run id, 401 on a bad token.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from training.airflow_client import (
    AirflowAuthError,
    AirflowClient,
    AirflowError,
    AirflowRequestError,
    DagPausedError,
    DagRunTimeoutError,
)

PASSWORD = "s3cret-pass-word"
DAG_ID = "ml_retrain_pipeline"
CONF = {"watchtower_run_id": "run-1", "model_name": "churn"}


@dataclass
class FakeAirflow:
    """A minimal Airflow REST API with the behaviour of the real servers."""

    version: str = "v2"
    paused: bool = False
    # States a DAG run goes through, one per GET of the run; the last one repeats.
    run_states: list[str] = field(default_factory=lambda: ["queued", "running", "success"])
    task_states: dict[str, str] = field(
        default_factory=lambda: {"validate_conf": "success", "train_model": "success"}
    )
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    tokens_issued: int = 0
    # How many API requests with a valid token get 401 anyway (an expired token).
    expire_next_tokens: int = 0
    reject_login: bool = False
    run_gets: int = 0
    # Status codes returned on the next GETs of a DAG run before the normal responses resume.
    run_get_failures: list[int] = field(default_factory=list)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/auth/token":
            return self._login(request)
        if path.endswith("/version"):
            served = path == f"/api/{self.version}/version"
            return httpx.Response(200 if served else 404, json={"version": "3.3.2"})
        if not path.startswith(f"/api/{self.version}/"):
            return httpx.Response(404, json={"detail": "Not Found"})
        if not self._authorised(request):
            return httpx.Response(
                401, json={"detail": "Not authenticated"}, headers={"www-authenticate": "Bearer"}
            )
        return self._route(request, path.removeprefix(f"/api/{self.version}"))

    def _login(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if self.reject_login or body.get("password") != PASSWORD:
            return httpx.Response(401, json={"detail": "Invalid credentials"})
        self.tokens_issued += 1
        return httpx.Response(201, json={"access_token": f"token-{self.tokens_issued}-xyz"})

    def _authorised(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        if self.version == "v1":
            expected = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
            return header == f"Basic {expected}"
        if not header.startswith("Bearer token-"):
            return False
        if self.expire_next_tokens > 0:
            self.expire_next_tokens -= 1
            return False
        return True

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        if path == f"/dags/{DAG_ID}" and request.method == "GET":
            return httpx.Response(200, json={"dag_id": DAG_ID, "is_paused": self.paused})
        if path.startswith("/dags/") and path.count("/") == 2 and request.method == "GET":
            return httpx.Response(404, json={"detail": f"DAG with dag_id: '{path}' not found"})
        if path == f"/dags/{DAG_ID}" and request.method == "PATCH":
            self.paused = json.loads(request.content)["is_paused"]
            return httpx.Response(200, json={"dag_id": DAG_ID, "is_paused": self.paused})
        if path == f"/dags/{DAG_ID}/dagRuns" and request.method == "POST":
            return self._trigger(json.loads(request.content))
        if path.endswith("/taskInstances"):
            instances = [{"task_id": k, "state": v} for k, v in self.task_states.items()]
            return httpx.Response(200, json={"task_instances": instances, "total_entries": 2})
        if path.startswith(f"/dags/{DAG_ID}/dagRuns/"):
            return self._get_run(path.rsplit("/", 1)[1])
        return httpx.Response(404, json={"detail": "Not Found"})

    def _trigger(self, body: dict[str, Any]) -> httpx.Response:
        if self.version == "v2" and "logical_date" not in body:
            detail = [{"type": "missing", "loc": ["body", "logical_date"], "msg": "Field required"}]
            return httpx.Response(422, json={"detail": detail})
        if self.version == "v1" and "logical_date" in body:
            return httpx.Response(400, json={"detail": "{'logical_date': ['Unknown field.']}"})
        run_id = body["dag_run_id"]
        if run_id in self.runs:
            return httpx.Response(409, json={"detail": f"DAG run {run_id} already exists"})
        self.runs[run_id] = {"dag_run_id": run_id, "state": "queued", "conf": body["conf"]}
        return httpx.Response(200, json=self.runs[run_id])

    def _get_run(self, run_id: str) -> httpx.Response:
        if self.run_get_failures:
            return httpx.Response(self.run_get_failures.pop(0), json={"detail": "busy"})
        if run_id not in self.runs:
            return httpx.Response(404, json={"detail": f"DAG run {run_id} not found"})
        state = self.run_states[min(self.run_gets, len(self.run_states) - 1)]
        self.run_gets += 1
        self.runs[run_id]["state"] = state
        return httpx.Response(200, json=self.runs[run_id])

    def sent(self, method: str, path_end: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(path_end)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(fake: FakeAirflow, clock: FakeClock | None = None, **kwargs: Any) -> AirflowClient:
    clock = clock or FakeClock()
    return AirflowClient(
        "http://127.0.0.1:8080",
        "admin",
        PASSWORD,
        transport=fake.transport,
        poll_interval_seconds=1.0,
        sleep=clock.sleep,
        clock=clock,
        **kwargs,
    )


def test_v2_trigger_body_is_exact():
    fake = FakeAirflow(version="v2")
    make_client(fake).trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    (post,) = fake.sent("POST", "/dagRuns")
    assert json.loads(post.content) == {
        "dag_run_id": "watchtower__run-1",
        "logical_date": None,
        "conf": CONF,
    }


def test_v1_trigger_body_is_exact():
    fake = FakeAirflow(version="v1")
    make_client(fake).trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    (post,) = fake.sent("POST", "/dagRuns")
    assert json.loads(post.content) == {"dag_run_id": "watchtower__run-1", "conf": CONF}
    assert post.url.path == f"/api/v1/dags/{DAG_ID}/dagRuns"


def test_version_detected_as_v2():
    assert make_client(FakeAirflow(version="v2")).api_version == "v2"


def test_version_detected_as_v1():
    assert make_client(FakeAirflow(version="v1")).api_version == "v1"


def test_version_setting_skips_detection():
    fake = FakeAirflow(version="v1")
    client = make_client(fake, api_version="v1")
    client.get_dag(DAG_ID)
    assert fake.sent("GET", "/version") == []


def test_unknown_server_has_no_version():
    fake = FakeAirflow(version="v9")
    with pytest.raises(AirflowError, match="neither /api/v2/version nor /api/v1/version"):
        make_client(fake).detect_api_version()


def test_v1_uses_basic_auth():
    fake = FakeAirflow(version="v1")
    make_client(fake).get_dag(DAG_ID)
    assert fake.tokens_issued == 0
    assert fake.sent("GET", f"/dags/{DAG_ID}")[0].headers["authorization"].startswith("Basic ")


def test_v2_sends_bearer_token():
    fake = FakeAirflow(version="v2")
    make_client(fake).get_dag(DAG_ID)
    assert fake.sent("GET", f"/dags/{DAG_ID}")[0].headers["authorization"] == "Bearer token-1-xyz"


def test_v2_token_reused_across_calls():
    fake = FakeAirflow(version="v2")
    client = make_client(fake)
    client.get_dag(DAG_ID)
    client.get_dag(DAG_ID)
    assert fake.tokens_issued == 1


def test_v2_expired_token_refreshed_once():
    fake = FakeAirflow(version="v2")
    client = make_client(fake)
    client.get_dag(DAG_ID)
    fake.expire_next_tokens = 1
    assert client.get_dag(DAG_ID)["dag_id"] == DAG_ID
    assert fake.tokens_issued == 2


def test_v2_second_401_raises_auth_error():
    fake = FakeAirflow(version="v2", expire_next_tokens=100)
    with pytest.raises(AirflowAuthError, match="rejected the credentials of user 'admin'"):
        make_client(fake).get_dag(DAG_ID)
    assert fake.tokens_issued == 2
    assert len(fake.sent("GET", f"/dags/{DAG_ID}")) == 2


def test_v2_rejected_login_raises_auth_error():
    fake = FakeAirflow(version="v2", reject_login=True)
    with pytest.raises(AirflowAuthError, match="AIRFLOW_PASSWORD") as raised:
        make_client(fake).get_dag(DAG_ID)
    assert PASSWORD not in str(raised.value)


def test_v1_wrong_password_raises_auth_error():
    fake = FakeAirflow(version="v1")
    client = AirflowClient("http://127.0.0.1:8080", "admin", "wrong", transport=fake.transport)
    with pytest.raises(AirflowAuthError, match="HTTP 401"):
        client.get_dag(DAG_ID)


def test_duplicate_run_id_reuses_existing_run():
    fake = FakeAirflow(version="v2", run_states=["running"])
    client = make_client(fake)
    first = client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    second = client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    assert first.created is True
    assert second.created is False
    assert second.dag_run_id == "watchtower__run-1"
    assert second.state == "running"
    assert len(fake.runs) == 1


def test_duplicate_run_id_on_v1_reuses_existing_run():
    fake = FakeAirflow(version="v1", run_states=["success"])
    client = make_client(fake)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    second = client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    assert second.created is False
    assert second.state == "success"


def test_rejected_body_surfaces_validation_detail():
    fake = FakeAirflow(version="v2")
    client = make_client(fake, api_version="v2")
    # A v1 body sent to a v2 server, as a client that ignores the version would send it.
    with pytest.raises(AirflowRequestError) as raised:
        client._raise_for_status(
            client._api("POST", f"/dags/{DAG_ID}/dagRuns", json={"dag_run_id": "x", "conf": {}}),
            "the trigger",
        )
    assert raised.value.status_code == 422
    assert "logical_date" in raised.value.detail
    assert "Field required" in str(raised.value)


def test_rejected_trigger_raises_with_server_detail():
    fake = FakeAirflow(version="v2")
    client = make_client(fake)
    client.trigger_body = lambda dag_run_id, conf: {"dag_run_id": dag_run_id, "conf": conf}  # type: ignore[method-assign]
    with pytest.raises(AirflowRequestError, match="HTTP 422.*logical_date"):
        client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)


def test_paused_dag_is_unpaused():
    fake = FakeAirflow(version="v2", paused=True)
    make_client(fake, unpause_dag=True).trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    (patch,) = fake.sent("PATCH", f"/dags/{DAG_ID}")
    assert json.loads(patch.content) == {"is_paused": False}
    assert fake.paused is False
    assert len(fake.runs) == 1


def test_paused_dag_on_v1_unpaused_with_update_mask():
    fake = FakeAirflow(version="v1", paused=True)
    make_client(fake, unpause_dag=True).trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    (patch,) = fake.sent("PATCH", f"/dags/{DAG_ID}")
    assert patch.url.params["update_mask"] == "is_paused"


def test_paused_dag_rejected_without_unpause():
    fake = FakeAirflow(version="v2", paused=True)
    with pytest.raises(DagPausedError, match="AIRFLOW_UNPAUSE_DAG=true"):
        make_client(fake, unpause_dag=False).trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    assert fake.sent("PATCH", f"/dags/{DAG_ID}") == []
    assert fake.runs == {}


def test_missing_dag_names_dag_id():
    fake = FakeAirflow(version="v2")
    with pytest.raises(AirflowRequestError, match="DAG 'no_such_dag' was not found"):
        make_client(fake).trigger_dag_run("no_such_dag", "watchtower__run-1", CONF)


def test_wait_returns_success():
    fake = FakeAirflow(version="v2", run_states=["queued", "running", "success"])
    client = make_client(fake)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    dag_run = client.wait_for_dag_run(DAG_ID, "watchtower__run-1", timeout_seconds=60)
    assert dag_run.state == "success"
    assert dag_run.failed_tasks == []


def test_wait_backs_off_between_polls():
    fake = FakeAirflow(version="v2", run_states=["queued", "running", "running", "success"])
    clock = FakeClock()
    client = make_client(fake, clock)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    client.wait_for_dag_run(DAG_ID, "watchtower__run-1", timeout_seconds=60)
    # Interval 1 s, growing by a factor of 1.5 after each poll.
    assert clock.sleeps == [1.0, 1.5, 2.25]


def test_failed_run_reports_failed_task_ids():
    fake = FakeAirflow(
        version="v2",
        run_states=["running", "failed"],
        task_states={"validate_conf": "success", "train_model": "failed"},
    )
    client = make_client(fake)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    dag_run = client.wait_for_dag_run(DAG_ID, "watchtower__run-1", timeout_seconds=60)
    assert dag_run.state == "failed"
    assert dag_run.failed_tasks == ["train_model"]


def test_wait_times_out_with_last_state():
    fake = FakeAirflow(version="v2", run_states=["running"])
    client = make_client(fake)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    with pytest.raises(DagRunTimeoutError, match="within 10 s \\(last state: running\\)"):
        client.wait_for_dag_run(DAG_ID, "watchtower__run-1", timeout_seconds=10)


def test_timeout_error_is_a_timeout_error():
    assert issubclass(DagRunTimeoutError, TimeoutError)


def test_wait_survives_transient_503():
    fake = FakeAirflow(version="v2", run_states=["success"])
    client = make_client(fake)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    fake.run_get_failures = [503, 503]
    assert (
        client.wait_for_dag_run(DAG_ID, "watchtower__run-1", timeout_seconds=60).state == "success"
    )


def test_wait_gives_up_after_repeated_503():
    fake = FakeAirflow(version="v2", run_states=["success"])
    client = make_client(fake)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    fake.run_get_failures = [503] * 10
    with pytest.raises(AirflowRequestError, match="HTTP 503"):
        client.wait_for_dag_run(DAG_ID, "watchtower__run-1", timeout_seconds=600)


def test_wait_does_not_retry_404():
    fake = FakeAirflow(version="v2")
    with pytest.raises(AirflowRequestError, match="HTTP 404"):
        make_client(fake).wait_for_dag_run(DAG_ID, "watchtower__missing", timeout_seconds=60)


def test_unreachable_server_names_url():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = AirflowClient(
        "http://127.0.0.1:9", "admin", PASSWORD, transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(AirflowError, match="could not reach Airflow at http://127.0.0.1:9"):
        client.get_dag(DAG_ID)


def test_dag_run_url_points_to_airflow_ui():
    fake = FakeAirflow(version="v2")
    dag_run = make_client(fake).trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    assert dag_run.url == f"http://127.0.0.1:8080/dags/{DAG_ID}/runs/watchtower__run-1"


def test_no_secret_in_logs(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    fake = FakeAirflow(version="v2", paused=True, run_states=["running", "success"])
    client = make_client(fake)
    client.trigger_dag_run(DAG_ID, "watchtower__run-1", CONF)
    fake.expire_next_tokens = 1
    client.wait_for_dag_run(DAG_ID, "watchtower__run-1", timeout_seconds=60)
    assert fake.tokens_issued == 2
    assert PASSWORD not in caplog.text
    assert "token-1-xyz" not in caplog.text
    assert "token-2-xyz" not in caplog.text


def test_one_log_line_per_call(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="training.airflow_client")
    fake = FakeAirflow(version="v2")
    make_client(fake, api_version="v2").get_dag(DAG_ID)
    lines = [r.getMessage() for r in caplog.records if r.name == "training.airflow_client"]
    assert len(lines) == 2
    assert lines[0].startswith("airflow POST http://127.0.0.1:8080/auth/token -> 201 in ")
    assert lines[1].startswith(f"airflow GET http://127.0.0.1:8080/api/v2/dags/{DAG_ID} -> 200 in ")


def test_no_secret_in_repr():
    fake = FakeAirflow(version="v2")
    client = make_client(fake)
    client.get_dag(DAG_ID)
    assert PASSWORD not in repr(client)
    assert "token-1-xyz" not in repr(client)


def test_echoed_password_is_scrubbed_from_errors():
    def echo(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/version"):
            return httpx.Response(200, json={})
        return httpx.Response(400, json={"detail": f"bad input {PASSWORD}"})

    client = AirflowClient(
        "http://127.0.0.1:8080",
        "admin",
        PASSWORD,
        api_version="v1",
        transport=httpx.MockTransport(echo),
    )
    with pytest.raises(AirflowRequestError) as raised:
        client.get_dag(DAG_ID)
    assert PASSWORD not in str(raised.value)
    assert "bad input ***" in raised.value.detail
