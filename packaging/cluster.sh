#!/usr/bin/env bash
# A real multi-node Pulsar cluster on 127.0.0.1, from the same pinned distribution as the standalone:
#
#   packaging/cluster.sh up        # start what is not running, wait until every process is healthy
#   packaging/cluster.sh status    # one line per process: pid, health, RSS
#   packaging/cluster.sh down      # stop everything (workers first), wait for the ports to close
#   packaging/cluster.sh kill NAME # kill -9 one process (and, for a worker, its function instances)
#   packaging/cluster.sh start NAME   # start one process again (after kill), wait until it is healthy
#   packaging/cluster.sh restart NAME # stop one process gracefully (SIGTERM, as `down`), start it, wait
#
# Seven processes, each with its own ports, config and data folder under .cache/pulsar/cluster/<name>:
#
#   zk        ZooKeeper (metadata and configuration store)   client 2191
#   bookie-1  BookKeeper + stream storage (function state)   bookie 3191, state 4191, http 8201
#   bookie-2  BookKeeper                                     bookie 3192, http 8202
#   broker-1  broker, no functions worker inside             pulsar://127.0.0.1:6660, http://127.0.0.1:8090
#   broker-2                                                 pulsar://127.0.0.1:6661, http://127.0.0.1:8091
#   worker-1  functions worker (bin/pulsar functions-worker, process runtime)   http://127.0.0.1:6760
#   worker-2                                                                      http://127.0.0.1:6761
#
# None of these ports is the standalone's (6650/8080/2181/3181/4181) or the secured one's, so a standalone
# and the cluster can run side by side. The cluster's metadata is initialised once
# (bin/pulsar initialize-cluster-metadata, cluster name `streamloop`). Clients use both brokers:
# pulsar://127.0.0.1:6660,127.0.0.1:6661 and http://127.0.0.1:8090,127.0.0.1:8091; the functions REST API is
# the workers' (http://127.0.0.1:6760,127.0.0.1:6761), as on any cluster whose workers run apart from the
# brokers. `streamloop ... --cluster-conf .cache/pulsar/cluster/client.conf`-style use: see docs/production.md.
#
# Replication: every ledger on both bookies (ensemble 2, write quorum 2) and acked by one (ack quorum 1), with
# ensemble changes delayed while the ack quorum holds, so a bookie's death stops neither writes nor reads.
# Function state's table service (stream storage) runs on bookie-1 alone, its logs on both bookies: with two
# table servers, a server's death or return moves state containers, and BookKeeper 4.17 leaves the other's
# routing to the moved ones stale (docs/production.md).
#
# Environment: PULSAR_VERSION, PULSAR_HOME (as for pulsar.sh), STREAMLOOP_WORKER_VENV (the python3 of the
# function instances, default .venv), CLUSTER_UP_TIMEOUT (seconds per process, default 240),
# CLUSTER_ZK_MEM, CLUSTER_BOOKIE_MEM, CLUSTER_BROKER_MEM, CLUSTER_WORKER_MEM (JVM sizes, see below).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CACHE="$REPO/.cache/pulsar"
RUN="$CACHE/cluster"
PULSAR_VERSION="${PULSAR_VERSION:-4.0.8}"
WORKER_VENV="${STREAMLOOP_WORKER_VENV:-$REPO/.venv}"
UP_TIMEOUT="${CLUSTER_UP_TIMEOUT:-240}"
OFFLOADERS="$CACHE/apache-pulsar-offloaders-$PULSAR_VERSION/offloaders"
CLUSTER=streamloop
ZK_PORT=2191
STATE_BOOKIE=bookie-1 # the one bookie serving function state: the workers' stateStorageServiceUrl
ZK="127.0.0.1:$ZK_PORT"
BROKER_URLS="pulsar://127.0.0.1:6660,127.0.0.1:6661"
WEB_URLS="http://127.0.0.1:8090,127.0.0.1:8091"
WORKER_URLS="http://127.0.0.1:6760,127.0.0.1:6761"
# Heaps sized so the whole cluster (~3 GB RSS) fits a 2-core, 24 GB machine beside the tests.
ZK_MEM="${CLUSTER_ZK_MEM:--Xms64m -Xmx192m}"
BOOKIE_MEM="${CLUSTER_BOOKIE_MEM:--Xms128m -Xmx256m -XX:MaxDirectMemorySize=256m}"
BROKER_MEM="${CLUSTER_BROKER_MEM:--Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m}"
WORKER_MEM="${CLUSTER_WORKER_MEM:--Xms64m -Xmx256m -XX:MaxDirectMemorySize=128m}"
SMALL_GC="-XX:+UseSerialGC -XX:+PerfDisableSharedMem"
SERVER_GC="-XX:+UseG1GC -XX:MaxGCPauseMillis=100 -XX:+PerfDisableSharedMem"
PROCESSES=(zk bookie-1 bookie-2 broker-1 broker-2 worker-1 worker-2)

log() { echo "cluster.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}
# shellcheck source=packaging/pulsar-lib.sh
source "$HERE/pulsar-lib.sh"

home() { echo "${PULSAR_HOME:-$CACHE/apache-pulsar-$PULSAR_VERSION}"; }

index() { echo "${1##*-}"; } # index broker-2 -> 2

ports() { # ports NAME: every port NAME listens on (checked free before a start, closed after a stop)
  case "$1" in
  zk) echo "$ZK_PORT 7191" ;;
  "$STATE_BOOKIE") echo "$((3190 + $(index "$1"))) $((4190 + $(index "$1"))) $((8200 + $(index "$1")))" ;;
  bookie-*) echo "$((3190 + $(index "$1"))) $((8200 + $(index "$1")))" ;;
  broker-*) echo "$((6659 + $(index "$1"))) $((8089 + $(index "$1")))" ;;
  worker-*) echo "$((6759 + $(index "$1")))" ;;
  esac
}

health_url() { # the URL that answers 200 when NAME is healthy (ZooKeeper: none, its port is checked)
  case "$1" in
  bookie-*) echo "http://127.0.0.1:$((8200 + $(index "$1")))/api/v1/bookie/is_ready" ;;
  broker-*) echo "http://127.0.0.1:$((8089 + $(index "$1")))/admin/v2/brokers/health" ;;
  worker-*) echo "http://127.0.0.1:$((6759 + $(index "$1")))/admin/v2/worker/cluster/leader" ;;
  esac
}

pid_of() { # pid_of NAME: the pid of the process this script started, if it is alive
  local file="$RUN/$1/pid" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

healthy() { # healthy NAME: its ports answer and its health URL returns 200
  local name="$1" url
  port_open "$(ports "$name" | cut -d' ' -f1)" || return 1
  url="$(health_url "$name")"
  [[ -z "$url" ]] || curl -fsS -m 10 "$url" >/dev/null 2>&1
}

write_zk_conf() {
  local conf="$RUN/zk/zookeeper.conf"
  cp "$(home)/conf/zookeeper.conf" "$conf"
  set_prop "$conf" dataDir "$RUN/zk/data"
  set_prop "$conf" clientPort "$ZK_PORT"
  set_prop "$conf" clientPortAddress 127.0.0.1
  set_prop "$conf" admin.enableServer false
  set_prop "$conf" metricsProvider.httpHost 127.0.0.1
  set_prop "$conf" metricsProvider.httpPort 7191
}

write_bookie_conf() { # write_bookie_conf NAME
  local name="$1" i conf
  i="$(index "$name")"
  conf="$RUN/$name/bookkeeper.conf"
  cp "$(home)/conf/bookkeeper.conf" "$conf"
  set_prop "$conf" bookiePort "$((3190 + i))"
  set_prop "$conf" advertisedAddress 127.0.0.1
  set_prop "$conf" listeningInterface lo
  set_prop "$conf" allowLoopback true
  set_prop "$conf" journalDirectory "$RUN/$name/data/journal"
  set_prop "$conf" ledgerDirectories "$RUN/$name/data/ledgers"
  set_prop "$conf" metadataServiceUri "zk+hierarchical://$ZK/ledgers"
  set_prop "$conf" zkServers "$ZK"
  set_prop "$conf" httpServerEnabled true
  set_prop "$conf" httpServerPort "$((8200 + i))"
  set_prop "$conf" httpServerHost 127.0.0.1
  # Prometheus stats share the HTTP server's port (/metrics) when they name the same one.
  set_prop "$conf" prometheusStatsHttpPort "$((8200 + i))"
  set_prop "$conf" prometheusStatsHttpAddress 127.0.0.1
  # Small caches (Pulsar's kitchen-sink compose uses 16 MB) for a small direct-memory budget.
  set_prop "$conf" dbStorage_writeCacheMaxSizeMb 32
  set_prop "$conf" dbStorage_readAheadCacheMaxSizeMb 32
  set_prop "$conf" dbStorage_rocksDB_blockCacheSize 16777216
  [[ "$name" == "$STATE_BOOKIE" ]] || return 0
  # Stream storage: the table service that holds function state. Its logs are replicated like the topics.
  set_prop "$conf" extraServerComponents org.apache.bookkeeper.stream.server.StreamStorageLifecycleComponent
  set_prop "$conf" storageserver.grpc.port "$((4190 + i))"
  set_prop "$conf" storage.range.store.dirs "$RUN/$name/data/ranges"
  set_prop "$conf" storage.serve.readonly.tables false
  set_prop "$conf" storage.cluster.controller.schedule.interval.ms 30000
  set_prop "$conf" dlog.bkcEnsembleSize 2
  set_prop "$conf" dlog.bkcWriteQuorumSize 2
  set_prop "$conf" dlog.bkcAckQuorumSize 1
  # ... and its BookKeeper client (DistributedLog passes bkc.* on) keeps writing while the ack quorum holds,
  # like the brokers': without it a dead bookie fails every state log's writer for good (BK error -6).
  set_prop "$conf" dlog.bkc.delayEnsembleChange true
}

write_broker_conf() { # write_broker_conf NAME
  local name="$1" i conf
  i="$(index "$name")"
  conf="$RUN/$name/broker.conf"
  cp "$(home)/conf/broker.conf" "$conf"
  set_prop "$conf" clusterName "$CLUSTER"
  set_prop "$conf" metadataStoreUrl "zk:$ZK"
  set_prop "$conf" configurationMetadataStoreUrl "zk:$ZK"
  set_prop "$conf" bindAddress 127.0.0.1
  set_prop "$conf" advertisedAddress 127.0.0.1
  set_prop "$conf" brokerServicePort "$((6659 + i))"
  set_prop "$conf" webServicePort "$((8089 + i))"
  set_prop "$conf" functionsWorkerEnabled false
  # A dead broker's topics move once its metadata session expires (Pulsar's default: 30 s).
  set_prop "$conf" metadataStoreSessionTimeoutMillis 10000
  set_prop "$conf" numHttpServerThreads 16
  set_prop "$conf" managedLedgerDefaultEnsembleSize 2
  set_prop "$conf" managedLedgerDefaultWriteQuorum 2
  set_prop "$conf" managedLedgerDefaultAckQuorum 1
  # BookKeeper client settings pass through with the bookkeeper_ prefix: with one of the two bookies down
  # the ack quorum (1) still holds, so keep writing to the survivor instead of failing the ledger for want
  # of a replacement bookie.
  set_prop "$conf" bookkeeper_delayEnsembleChange true
  # The same tiered storage as the standalone, one tier folder shared by both brokers.
  mkdir -p "$RUN/tier"
  cp "$(home)/conf/filesystem_offload_core_site.xml" "$RUN/$name/filesystem_offload_core_site.xml"
  set_prop "$conf" offloadersDirectory "$OFFLOADERS"
  set_prop "$conf" managedLedgerOffloadDriver filesystem
  set_prop "$conf" fileSystemProfilePath "$RUN/$name/filesystem_offload_core_site.xml"
  set_prop "$conf" fileSystemURI "file://$RUN/tier"
}

write_worker_conf() { # write_worker_conf NAME
  local name="$1" i conf
  i="$(index "$name")"
  conf="$RUN/$name/functions_worker.yml"
  cp "$(home)/conf/functions_worker.yml" "$conf"
  set_yaml "$conf" workerId "$name"
  set_yaml "$conf" workerHostname 127.0.0.1
  set_yaml "$conf" workerPort "$((6759 + i))"
  set_yaml "$conf" configurationMetadataStoreUrl "zk:$ZK"
  set_yaml "$conf" metadataStoreSessionTimeoutMillis 10000
  set_yaml "$conf" pulsarServiceUrl "$BROKER_URLS"
  set_yaml "$conf" pulsarWebServiceUrl "$WEB_URLS"
  set_yaml "$conf" pulsarFunctionsCluster "$CLUSTER"
  set_yaml "$conf" downloadDirectory "$RUN/$name/data/functions"
  set_yaml "$conf" numHttpServerThreads 16
  # Function packages are stored in BookKeeper on both bookies, so a worker can fetch one with a bookie down.
  set_yaml "$conf" numFunctionPackageReplicas 2
  # Function state: the Python runtime's state client takes one host (a list fails with "Misformatted domain
  # name"); a real cluster puts a DNS name or a load balancer over every table server's port here.
  set_yaml "$conf" stateStorageServiceUrl "bk://127.0.0.1:$((4190 + $(index "$STATE_BOOKIE")))"
  # Instance logs: <this folder>/logs/functions/<tenant>/<namespace>/<name>/<name>-<i>.log
  sed -i -E "s|^(    logDirectory:).*|\1 $RUN/$name/logs|" "$conf"
  # A dead worker's instances are rescheduled on the other after these (Pulsar's defaults: 30 s and 60 s).
  set_yaml "$conf" failureCheckFreqMs 5000
  set_yaml "$conf" rescheduleTimeoutMs 10000
}

java_env() { # java_env NAME: the env assignments for bin/pulsar of NAME
  case "$1" in
  zk) echo "PULSAR_MEM=$ZK_MEM|PULSAR_GC=$SMALL_GC|PULSAR_ZK_CONF=$RUN/zk/zookeeper.conf" ;;
  bookie-*) echo "BOOKIE_MEM=$BOOKIE_MEM|BOOKIE_GC=$SERVER_GC|PULSAR_BOOKKEEPER_CONF=$RUN/$1/bookkeeper.conf" ;;
  broker-*) echo "PULSAR_MEM=$BROKER_MEM|PULSAR_GC=$SERVER_GC|PULSAR_BROKER_CONF=$RUN/$1/broker.conf" ;;
  worker-*) echo "PULSAR_MEM=$WORKER_MEM|PULSAR_GC=$SMALL_GC|PULSAR_WORKER_CONF=$RUN/$1/functions_worker.yml" ;;
  esac
}

command_of() { # the bin/pulsar command of NAME
  case "$1" in
  zk) echo zookeeper ;;
  bookie-*) echo bookie ;;
  broker-*) echo broker ;;
  worker-*) echo functions-worker ;;
  esac
}

start_one() { # start_one NAME: write its config and start it in its own session (no wait)
  local name="$1" port
  if pid_of "$name" >/dev/null; then
    return
  fi
  for port in $(ports "$name"); do
    ! port_open "$port" || die "$name: port $port on 127.0.0.1 is taken by another process"
  done
  mkdir -p "$RUN/$name/data" "$RUN/$name/logs"
  "write_${name%%-*}_conf" "$name"
  local assignments=()
  IFS='|' read -r -a assignments <<<"$(java_env "$name")"
  log "starting $name"
  (
    cd "$RUN/$name"
    close_inherited_fds
    # Workers start each Python instance as `python3` from their PATH: the project venv goes first, and a
    # caller's PIP_*/PYTHONPATH must not leak into the instances.
    # The JVM options are this script's alone (a caller's PULSAR_EXTRA_OPTS may select another GC).
    env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PYTHONPATH -u VIRTUAL_ENV \
      -u PULSAR_EXTRA_OPTS -u BOOKIE_EXTRA_OPTS -u PULSAR_MEM -u PULSAR_GC -u BOOKIE_MEM -u BOOKIE_GC \
      PATH="$WORKER_VENV/bin:$PATH" PULSAR_LOG_DIR="$RUN/$name/logs" \
      PULSAR_GC_LOG="-Xlog:gc:$RUN/$name/logs/gc.log:time,uptime:filecount=2,filesize=10M" \
      BOOKIE_GC_LOG="-Xlog:gc:$RUN/$name/logs/gc.log:time,uptime:filecount=2,filesize=10M" \
      "${assignments[@]}" \
      setsid "$(home)/bin/pulsar" "$(command_of "$name")" >>"$RUN/$name/logs/out.log" 2>&1 </dev/null &
    echo $! >"$RUN/$name/pid"
  )
}

wait_healthy() { # wait_healthy NAME...: until each is healthy; on a timeout or an exit, its log tail
  local name deadline
  for name in "$@"; do
    deadline=$(($(date +%s) + UP_TIMEOUT))
    until healthy "$name"; do
      if ! pid_of "$name" >/dev/null; then
        tail -n 30 "$RUN/$name/logs/out.log" >&2 || true
        die "$name exited during startup (logs: $RUN/$name/logs/)"
      fi
      if (($(date +%s) >= deadline)); then
        tail -n 30 "$RUN/$name/logs/out.log" >&2 || true
        die "$name not healthy after ${UP_TIMEOUT}s (still running; 'packaging/cluster.sh down' stops it)"
      fi
      sleep 1
    done
  done
}

initialize_metadata() { # once per cluster folder: the cluster, the ledgers root and the stream storage
  [[ -f "$RUN/initialized" ]] && return
  log "initialising the cluster metadata (cluster $CLUSTER)"
  env PULSAR_MEM=-Xmx256m PULSAR_GC=-XX:+UseSerialGC PULSAR_LOG_DIR="$RUN/zk/logs" \
    "$(home)/bin/pulsar" initialize-cluster-metadata --cluster "$CLUSTER" \
    --metadata-store "zk:$ZK" --configuration-metadata-store "zk:$ZK" \
    --web-service-url "$WEB_URLS" --broker-service-url "$BROKER_URLS" \
    --initial-num-stream-storage-containers 4 >>"$RUN/zk/logs/initialize.log" 2>&1 ||
    {
      tail -n 20 "$RUN/zk/logs/initialize.log" >&2
      die "initialize-cluster-metadata failed (log: $RUN/zk/logs/initialize.log)"
    }
  touch "$RUN/initialized"
}

cmd_up() {
  "$HERE/pulsar.sh" fetch
  [[ -x "$WORKER_VENV/bin/python3" ]] || die "no python3 in $WORKER_VENV (run 'make venv' first)"
  local started
  started="$(date +%s)"
  mkdir -p "$RUN"
  start_one zk
  wait_healthy zk
  initialize_metadata
  start_one bookie-1
  start_one bookie-2
  wait_healthy bookie-1 bookie-2
  start_one broker-1
  start_one broker-2
  wait_healthy broker-1 broker-2
  # One worker at a time: two starting together race to create the coordination subscription (HTTP 409).
  start_one worker-1
  wait_healthy worker-1
  start_one worker-2
  wait_healthy worker-2
  wait_workers_joined
  log "up in $(($(date +%s) - started)) s: brokers $BROKER_URLS, admin $WEB_URLS, functions $WORKER_URLS"
}

wait_workers_joined() { # both workers are members of the functions cluster
  local deadline=$(($(date +%s) + UP_TIMEOUT))
  until [[ "$(curl -fsS -m 10 http://127.0.0.1:6760/admin/v2/worker/cluster 2>/dev/null | grep -o '"workerId"' | wc -l)" == 2 ]]; do
    (($(date +%s) < deadline)) || die "the two workers did not both join the functions cluster"
    sleep 1
  done
}

stop_one() { # stop_one NAME SIGNAL: signal its whole process group (a worker's instances too), wait
  local name="$1" signal="$2" pid port
  pid="$(pid_of "$name")" || return 0
  kill "-$signal" -- "-$pid" 2>/dev/null || kill "-$signal" "$pid" 2>/dev/null || true
  if ! wait_exit "$pid" 60; then
    log "$name still alive after 60 s; killing"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name/pid"
  for port in $(ports "$name"); do
    wait_port_closed "$port" 30 || log "$name: port $port still open 30 s after stopping"
  done
}

cmd_down() {
  local name
  for name in worker-2 worker-1 broker-2 broker-1 bookie-2 bookie-1 zk; do
    if pid_of "$name" >/dev/null; then
      log "stopping $name"
      stop_one "$name" TERM
    fi
  done
  log "down"
}

cmd_status() { # exit 0: every process healthy; 1: some not; 3: none running
  local name pid health rss any=0 all=1
  for name in "${PROCESSES[@]}"; do
    if pid="$(pid_of "$name")"; then
      any=1
      if healthy "$name"; then
        health=healthy
      else
        health="not healthy"
        all=0
      fi
      rss="$(ps -o rss= -p "$pid" | awk '{printf "%d MB", $1 / 1024}')"
      printf '%-9s pid %-7s %-12s RSS %s\n' "$name" "$pid" "$health" "$rss"
    else
      printf '%-9s not running\n' "$name"
      all=0
    fi
  done
  ((any)) || return 3
  ((all)) || return 1
}

known() { # known NAME: fail unless NAME is one of the cluster's processes
  local name
  for name in "${PROCESSES[@]}"; do
    [[ "$name" != "$1" ]] || return 0
  done
  die "no process '$1' (one of: ${PROCESSES[*]})"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
kill)
  known "${2:-}"
  pid="$(pid_of "$2")" || die "$2 is not running"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
  wait_exit "$pid" 15 || log "$2 (pid $pid) still alive 15 s after SIGKILL" # gone: `start` may follow
  rm -f "$RUN/$2/pid"
  log "killed $2 (pid $pid) with SIGKILL"
  ;;
start)
  known "${2:-}"
  start_one "$2"
  wait_healthy "$2"
  ;;
restart) # a rolling restart's step: a graceful stop closes its ZooKeeper session at once (kill -9 leaves it
  # to expire, ~30 s, while the new process registers under the same name)
  known "${2:-}"
  log "restarting $2"
  stop_one "$2" TERM
  start_one "$2"
  wait_healthy "$2"
  ;;
*)
  echo "usage: $0 {up|down|status|kill NAME|start NAME|restart NAME}" >&2
  exit 2
  ;;
esac
