#!/usr/bin/env bash
# A local Apache Pulsar standalone for streamloop: fetch, up, down, status.
#
#   packaging/pulsar.sh fetch    # Maven Central tarball, sha512-checked, unpacked once under .cache/pulsar
#   packaging/pulsar.sh up       # standalone on 127.0.0.1 only, functions worker + state (ZooKeeper mode)
#   packaging/pulsar.sh status   # is it answering?
#   packaging/pulsar.sh down     # stop it and wait for its ports to close
#
# Environment:
#   PULSAR_VERSION      distribution version (default 4.0.8; its sha512 must be in pulsar-distribution.sha512)
#   PULSAR_HOME         use this unpacked distribution instead of fetching one
#   PULSAR_SERVICE_URL  broker URL (default pulsar://127.0.0.1:6650); its port is the broker port
#   PULSAR_ADMIN_URL    admin URL (default http://127.0.0.1:8080); its port is the web port
#   STREAMLOOP_WORKER_VENV  the virtualenv whose python3/pip the functions worker runs (default .venv)
#   PULSAR_UP_TIMEOUT   seconds to wait for a healthy standalone (default 300)
#   PULSAR_MEM, PULSAR_GC  JVM options (defaults sized for 2 cores / a few GiB)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CACHE="$REPO/.cache/pulsar"
RUN="$CACHE/run"
PID_FILE="$RUN/pulsar.pid"

PULSAR_VERSION="${PULSAR_VERSION:-4.0.8}"
PULSAR_SERVICE_URL="${PULSAR_SERVICE_URL:-pulsar://127.0.0.1:6650}"
PULSAR_ADMIN_URL="${PULSAR_ADMIN_URL:-http://127.0.0.1:8080}"
PULSAR_ADMIN_URL="${PULSAR_ADMIN_URL%/}"
WORKER_VENV="${STREAMLOOP_WORKER_VENV:-$REPO/.venv}"
UP_TIMEOUT="${PULSAR_UP_TIMEOUT:-300}"
TARBALL="pulsar-server-distribution-${PULSAR_VERSION}-bin.tar.gz"

url_port() { # url_port URL -> the port number at the end of URL
  local rest="${1%/}"
  echo "${rest##*:}"
}
BROKER_PORT="$(url_port "$PULSAR_SERVICE_URL")"
WEB_PORT="$(url_port "$PULSAR_ADMIN_URL")"
# ZooKeeper, bookie and stream storage (state). In 4.0.8's ZooKeeper-mode standalone, ZooKeeper and stream
# storage bind every interface whatever the config says (LocalBookkeeperEnsemble/GrpcServer use
# new InetSocketAddress(port) and ServerBuilder.forPort(port)); firewall 2181 and 4181 on shared networks.
AUX_PORTS=(2181 3181 4181)

log() { echo "pulsar.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

pulsar_home() { # the distribution to run: $PULSAR_HOME, or the one fetch unpacked
  if [[ -n "${PULSAR_HOME:-}" ]]; then
    echo "$PULSAR_HOME"
  else
    echo "$CACHE/apache-pulsar-$PULSAR_VERSION"
  fi
}

cmd_fetch() {
  local home
  home="$(pulsar_home)"
  if [[ -x "$home/bin/pulsar" ]]; then
    log "distribution ready at $home"
    return
  fi
  [[ -z "${PULSAR_HOME:-}" ]] || die "PULSAR_HOME=$PULSAR_HOME has no bin/pulsar"
  command -v mvn >/dev/null || die "needs Maven (mvn) and Java 17+ to fetch Pulsar"
  mkdir -p "$CACHE"
  if [[ ! -f "$CACHE/$TARBALL" ]]; then
    log "fetching org.apache.pulsar:pulsar-server-distribution:$PULSAR_VERSION (about 245 MB) from Maven Central"
    # -C: fail if the file does not match the checksum Central publishes next to it (.sha1; Central has no
    # .sha512 for this artifact). The pinned sha512 below is the real check.
    mvn -B -q -C -Dstyle.color=never dependency:copy \
      "-Dartifact=org.apache.pulsar:pulsar-server-distribution:$PULSAR_VERSION:tar.gz:bin" \
      "-DoutputDirectory=$CACHE"
  fi
  local pinned
  pinned="$(grep -F "  $TARBALL" "$HERE/pulsar-distribution.sha512" || true)"
  [[ -n "$pinned" ]] || die "no pinned sha512 for $TARBALL in packaging/pulsar-distribution.sha512"
  if ! (cd "$CACHE" && echo "$pinned" | sha512sum --check --status); then
    rm -f "$CACHE/$TARBALL"
    die "sha512 mismatch for $TARBALL (deleted; run fetch again)"
  fi
  log "sha512 OK; unpacking"
  local tmp="$CACHE/.unpack.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xzf "$CACHE/$TARBALL" -C "$tmp"
  mv "$tmp/apache-pulsar-$PULSAR_VERSION" "$home"
  rm -rf "$tmp"
  log "distribution ready at $home"
}

port_open() { # port_open PORT -> success if something listens on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

our_pid() { # print the pid of the standalone we started, if it is still alive
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

broker_ready() { # ready, and the health check (a round trip on a heartbeat topic) passes
  curl -fsS -m 5 "$PULSAR_ADMIN_URL/admin/v2/brokers/ready" >/dev/null 2>&1 &&
    curl -fsS -m 30 "$PULSAR_ADMIN_URL/admin/v2/brokers/health" >/dev/null 2>&1
}

worker_ready() { # the worker has a leader and the default namespace lists functions
  curl -fsS -m 5 "$PULSAR_ADMIN_URL/admin/v2/worker/cluster/leader" >/dev/null 2>&1 &&
    curl -fsS -m 5 "$PULSAR_ADMIN_URL/admin/v3/functions/public/default" >/dev/null 2>&1
}

# JVM options for the CLI: C1 only and the serial GC start pulsar-admin in ~4 s instead of ~17 s on 2 cores.
ADMIN_JAVA_OPTS="${PULSAR_ADMIN_JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"

admin() { # run bin/pulsar-admin against PULSAR_ADMIN_URL
  PULSAR_EXTRA_OPTS="$ADMIN_JAVA_OPTS" "$(pulsar_home)/bin/pulsar-admin" --admin-url "$PULSAR_ADMIN_URL" "$@"
}

write_conf() { # copies of the stock config, bound to 127.0.0.1, data and downloads under $RUN
  local home="$1"
  mkdir -p "$RUN/conf" "$RUN/data" "$RUN/logs"
  sed -E \
    -e "s|^bindAddress=.*|bindAddress=127.0.0.1|" \
    -e "s|^advertisedAddress=.*|advertisedAddress=127.0.0.1|" \
    -e "s|^brokerServicePort=.*|brokerServicePort=$BROKER_PORT|" \
    -e "s|^webServicePort=.*|webServicePort=$WEB_PORT|" \
    "$home/conf/standalone.conf" >"$RUN/conf/standalone.conf"
  # The bookie binds to its advertised address (127.0.0.1) only when a listening interface is set.
  printf "\nlisteningInterface=lo\n" >>"$RUN/conf/standalone.conf"
  sed -E \
    -e "s|^workerHostname:.*|workerHostname: 127.0.0.1|" \
    -e "s|^pulsarServiceUrl:.*|pulsarServiceUrl: pulsar://127.0.0.1:$BROKER_PORT|" \
    -e "s|^pulsarWebServiceUrl:.*|pulsarWebServiceUrl: http://127.0.0.1:$WEB_PORT|" \
    -e "s|^downloadDirectory:.*|downloadDirectory: $RUN/data/functions|" \
    "$home/conf/functions_worker.yml" >"$RUN/conf/functions_worker.yml"
}

cmd_up() {
  if our_pid >/dev/null; then
    if broker_ready && worker_ready; then
      log "already up (pid $(our_pid)) at $PULSAR_ADMIN_URL"
      return
    fi
    log "started earlier (pid $(our_pid)) but not healthy yet; waiting"
  elif broker_ready; then
    log "a Pulsar not started by this script already answers at $PULSAR_ADMIN_URL; using it"
    return
  else
    local port
    for port in "$BROKER_PORT" "$WEB_PORT" "${AUX_PORTS[@]}"; do
      ! port_open "$port" || die "port $port on 127.0.0.1 is taken by another process"
    done
    cmd_fetch
    [[ -x "$WORKER_VENV/bin/python3" && -x "$WORKER_VENV/bin/pip" ]] ||
      die "no python3/pip in $WORKER_VENV (run 'make venv' first)"
    local home
    home="$(pulsar_home)"
    write_conf "$home"
    : >"$RUN/logs/standalone.out"
    date +%s >"$RUN/started-at"
    log "starting Pulsar $PULSAR_VERSION standalone on 127.0.0.1 (worker python3: $WORKER_VENV/bin/python3)"
    # The worker starts each Python instance as `python3 ...` and installs zip deps with `pip`, both from its
    # PATH, so the project venv goes first. PIP_* settings from the caller must not leak into those installs.
    (
      cd "$RUN"
      # Inherited descriptors stay open for the broker's lifetime: a caller's `flock` lock would never
      # be released. Close everything above stderr first.
      for fd in /proc/$BASHPID/fd/*; do
        fd="${fd##*/}"
        if ((fd > 2)); then eval "exec $fd>&-"; fi
      done
      env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PYTHONPATH -u VIRTUAL_ENV \
        PATH="$WORKER_VENV/bin:$PATH" \
        PULSAR_STANDALONE_USE_ZOOKEEPER=1 \
        PULSAR_LOG_DIR="$RUN/logs" \
        PULSAR_MEM="${PULSAR_MEM:--Xms512m -Xmx2g -XX:MaxDirectMemorySize=2g}" \
        PULSAR_GC="${PULSAR_GC:--XX:+UseG1GC -XX:MaxGCPauseMillis=100 -XX:+PerfDisableSharedMem}" \
        PULSAR_GC_LOG="-Xlog:gc:$RUN/logs/gc.log:time,uptime:filecount=2,filesize=10M" \
        setsid "$home/bin/pulsar" standalone \
        --config "$RUN/conf/standalone.conf" \
        --functions-worker-conf "$RUN/conf/functions_worker.yml" \
        --advertised-address 127.0.0.1 \
        --metadata-dir "$RUN/data/metadata" \
        --bookkeeper-dir "$RUN/data/bookkeeper" \
        >>"$RUN/logs/standalone.out" 2>&1 </dev/null &
      echo $! >"$PID_FILE"
    )
  fi
  wait_healthy
}

wait_healthy() {
  local start deadline now
  start="$(cat "$RUN/started-at" 2>/dev/null || date +%s)"
  deadline=$(($(date +%s) + UP_TIMEOUT))
  until broker_ready && worker_ready; do
    now="$(date +%s)"
    if ! our_pid >/dev/null; then
      tail -n 40 "$RUN/logs/standalone.out" >&2 || true
      die "standalone exited during startup (log: $RUN/logs/)"
    fi
    if ((now >= deadline)); then
      tail -n 40 "$RUN/logs/standalone.out" >&2 || true
      die "not healthy after ${UP_TIMEOUT}s (still running; 'packaging/pulsar.sh down' to stop it)"
    fi
    sleep 2
  done
  local took=$(($(date +%s) - start))
  echo "$took" >"$RUN/startup-seconds"
  # The CLI users will run must work too (each call is a JVM start: a few seconds).
  admin functions-worker get-cluster >/dev/null
  admin functions list --tenant public --namespace default >/dev/null
  log "up: $PULSAR_SERVICE_URL, $PULSAR_ADMIN_URL (healthy ${took}s after start; logs in $RUN/logs)"
}

cmd_down() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    log "not running (nothing started by this script)"
    return
  fi
  log "stopping pid $pid"
  kill -TERM "$pid"
  local i
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 60s; killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Function instances (python3) run in the standalone's process group; stop any the worker left behind.
  kill -TERM -- "-$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  local port
  for port in "$BROKER_PORT" "$WEB_PORT" "${AUX_PORTS[@]}"; do
    for ((i = 0; i < 30; i++)); do
      port_open "$port" || break
      sleep 1
    done
    ! port_open "$port" || die "port $port still open 30s after stopping"
  done
  log "down"
}

cmd_status() {
  local pid=""
  pid="$(our_pid)" || pid=""
  if broker_ready; then
    if worker_ready; then
      echo "broker and functions worker healthy at $PULSAR_ADMIN_URL${pid:+ (pid $pid)}"
    else
      echo "broker healthy at $PULSAR_ADMIN_URL${pid:+ (pid $pid)}; functions worker not ready"
    fi
    [[ ! -f "$RUN/startup-seconds" ]] || echo "last startup took $(cat "$RUN/startup-seconds")s"
  elif [[ -n "$pid" ]]; then
    echo "starting (pid $pid), not answering yet at $PULSAR_ADMIN_URL"
  else
    echo "not running"
    return 3
  fi
}

case "${1:-}" in
fetch) cmd_fetch ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*)
  echo "usage: $0 {fetch|up|down|status}" >&2
  exit 2
  ;;
esac
