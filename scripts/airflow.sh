#!/usr/bin/env bash
# Install, start and stop a real Airflow 3 on 127.0.0.1 for the retraining DAGs and the integration test.
#
#   scripts/airflow.sh install   create .airflow-venv with apache-airflow (skipped when already there)
#   scripts/airflow.sh start     migrate the metadata database, start api-server, scheduler and
#                                dag-processor, wait until the API is healthy
#   scripts/airflow.sh stop      stop the process groups recorded at start, by their PIDs
#   scripts/airflow.sh status    print which recorded components are running
#
# Environment:
#   AIRFLOW_PORT            API server port (default 8080)
#   AIRFLOW_VERSION         apache-airflow release to install (default 3.3.2)
#   AIRFLOW_PYTHON          interpreter that creates .airflow-venv (default python3)
#   AIRFLOW_START_TIMEOUT   seconds to wait for a healthy API server (default 180)
#   AIRFLOW_HOME            metadata database, logs and PID files (default .airflow-home)
#   WATCHTOWER_PYTHON       interpreter the example DAG runs the training job with (default .venv/bin/python)
#
# Airflow 3.3 requires fastapi<0.137, so it gets its own virtual environment, apart from the
# service's .venv. `airflow standalone` is not used because it leaves processes running after SIGTERM.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.airflow-venv"
AIRFLOW_VERSION="${AIRFLOW_VERSION:-3.3.2}"
AIRFLOW_PYTHON="${AIRFLOW_PYTHON:-python3}"
PORT="${AIRFLOW_PORT:-8080}"
START_TIMEOUT="${AIRFLOW_START_TIMEOUT:-180}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow-home}"
RUN_DIR="$AIRFLOW_HOME/run"
LOG_DIR="$AIRFLOW_HOME/logs"
COMPONENTS=(api-server scheduler dag-processor)

log() { echo "airflow.sh: $*" >&2; }

install_airflow() {
    if [ -x "$VENV/bin/airflow" ] && "$VENV/bin/python" -c \
        "import importlib.metadata as m, sys; sys.exit(m.version('apache-airflow') != '$AIRFLOW_VERSION')" 2>/dev/null; then
        log "apache-airflow $AIRFLOW_VERSION is already installed in $VENV"
        return 0
    fi
    local started
    started=$(date +%s)
    log "creating $VENV with $AIRFLOW_PYTHON ($("$AIRFLOW_PYTHON" --version 2>&1))"
    "$AIRFLOW_PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    # Airflow's official constraints files are published on GitHub, which this project's machines
    # cannot reach, so pip resolves from the package index alone. The fastapi pin keeps the resolver
    # away from the releases Airflow 3.3 rejects (0.137 and later).
    log "installing apache-airflow==$AIRFLOW_VERSION (several minutes on a fresh machine)"
    "$VENV/bin/pip" install --quiet "apache-airflow==$AIRFLOW_VERSION" "fastapi<0.137"
    log "installed apache-airflow $AIRFLOW_VERSION in $(($(date +%s) - started)) s"
}

require_venv() {
    if [ ! -x "$VENV/bin/airflow" ]; then
        log "$VENV/bin/airflow is missing; run 'scripts/airflow.sh install' (or 'make airflow-venv') first"
        exit 1
    fi
}

pid_of() {
    local file="$RUN_DIR/$1.pid"
    [ -f "$file" ] && cat "$file"
}

is_running() {
    local pid
    pid=$(pid_of "$1") || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

airflow_env() {
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/airflow/dags"
    export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
    export AIRFLOW__API__HOST=127.0.0.1
    export AIRFLOW__API__PORT="$PORT"
    # Without this, task processes call the execution API on port 8080 and fail on any other port.
    export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
    export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
    export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
    export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$LOG_DIR"
    # New DAG files are picked up within seconds instead of the default five minutes.
    export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
    export WATCHTOWER_PYTHON="${WATCHTOWER_PYTHON:-$ROOT/.venv/bin/python}"
    export PATH="$VENV/bin:$PATH"
}

seed_password_file() {
    # The simple auth manager reads the admin password from this file instead of generating one.
    echo '{"admin": "admin"}' >"$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
}

start_component() {
    local name=$1
    shift
    # setsid gives each component its own process group, so stop can end it with its children.
    setsid "$VENV/bin/airflow" "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/$name.pid"
    log "started $name (pid $!), log $LOG_DIR/$name.log"
}

wait_healthy() {
    local deadline=$(($(date +%s) + START_TIMEOUT))
    local url="http://127.0.0.1:$PORT/api/v2/monitor/health"
    while [ "$(date +%s)" -lt "$deadline" ]; do
        for name in "${COMPONENTS[@]}"; do
            if ! is_running "$name"; then
                log "$name exited during start-up; last lines of $LOG_DIR/$name.log:"
                tail -n 30 "$LOG_DIR/$name.log" >&2 || true
                return 1
            fi
        done
        if "$VENV/bin/python" - "$url" <<'EOF' 2>/dev/null; then
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
    body = json.load(response)
states = [body.get(part, {}).get("status") for part in ("metadatabase", "scheduler", "dag_processor")]
sys.exit(0 if all(state == "healthy" for state in states) else 1)
EOF
            return 0
        fi
        sleep 1
    done
    log "the API server was not healthy at $url within $START_TIMEOUT s; last lines of the logs:"
    for name in "${COMPONENTS[@]}"; do
        echo "--- $name" >&2
        tail -n 20 "$LOG_DIR/$name.log" >&2 || true
    done
    return 1
}

check_port_free() {
    if ! "$VENV/bin/python" -c "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1])))" "$PORT" 2>/dev/null; then
        log "port $PORT on 127.0.0.1 is already in use; stop what listens there or set AIRFLOW_PORT"
        exit 1
    fi
}

start_airflow() {
    require_venv
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    for name in "${COMPONENTS[@]}"; do
        if is_running "$name"; then
            log "$name is already running (pid $(pid_of "$name")); run 'scripts/airflow.sh stop' first"
            exit 1
        fi
    done
    check_port_free
    airflow_env
    seed_password_file
    local started
    started=$(date +%s)
    log "migrating the metadata database in $AIRFLOW_HOME"
    if ! "$VENV/bin/airflow" db migrate >"$LOG_DIR/db-migrate.log" 2>&1; then
        log "airflow db migrate failed; last lines of $LOG_DIR/db-migrate.log:"
        tail -n 30 "$LOG_DIR/db-migrate.log" >&2
        exit 1
    fi
    start_component api-server api-server --host 127.0.0.1 --port "$PORT" --workers 1
    start_component scheduler scheduler --skip-serve-logs
    start_component dag-processor dag-processor
    if ! wait_healthy; then
        stop_airflow
        exit 1
    fi
    log "Airflow is healthy at http://127.0.0.1:$PORT after $(($(date +%s) - started)) s (user admin)"
}

stop_component() {
    local name=$1 pid
    pid=$(pid_of "$name") || return 0
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # The negative PID addresses the process group that setsid created for this component.
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) did not stop within 15 s; sending SIGKILL to its process group"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$RUN_DIR/$name.pid"
}

stop_airflow() {
    for name in "${COMPONENTS[@]}"; do
        stop_component "$name"
    done
}

status_airflow() {
    local running=0
    for name in "${COMPONENTS[@]}"; do
        if is_running "$name"; then
            echo "$name: running (pid $(pid_of "$name"))"
            running=$((running + 1))
        else
            echo "$name: stopped"
        fi
    done
    [ "$running" -eq "${#COMPONENTS[@]}" ]
}

case "${1:-}" in
    install) install_airflow ;;
    start) start_airflow ;;
    stop) stop_airflow ;;
    status) status_airflow ;;
    *)
        echo "usage: scripts/airflow.sh {install|start|stop|status}" >&2
        exit 2
        ;;
esac
