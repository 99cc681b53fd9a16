#!/usr/bin/env bash
# A local Apache Pulsar standalone for streamloop: fetch, up, down, status.
#
#   packaging/pulsar.sh fetch    # Maven Central tarballs (server, offloaders), sha512-checked, unpacked once
#   packaging/pulsar.sh up       # standalone on 127.0.0.1 only, functions worker + state (ZooKeeper mode),
#                                # the filesystem offloader with its tier in .cache/pulsar/run*/data/tier
#   packaging/pulsar.sh status   # is it answering?
#   packaging/pulsar.sh down     # stop it and wait for its ports to close
#
#   PULSAR_SECURE=1 packaging/pulsar.sh up   # (make pulsar-up SECURE=1) the secured standalone: TLS only
#       (pulsar+ssl://127.0.0.1:6651, https://127.0.0.1:8443), JWT token authentication, authorization on.
#       At the first start it makes, under .cache/pulsar/run-secure/secure/ (mode 0700): a CA and the broker's
#       certificate (openssl), a token secret key and the tokens of the superuser role `admin` and of the
#       role `streamloop` that deploys and runs the loop (bin/pulsar tokens), and a client.conf for each
#       (admin.conf, streamloop.conf). Grant `streamloop` a namespace with `streamloop provision --grant`.
#
# Environment:
#   PULSAR_VERSION      distribution version (default 4.0.8; its sha512 must be in pulsar-distribution.sha512)
#   PULSAR_HOME         use this unpacked distribution instead of fetching one
#   PULSAR_SERVICE_URL  broker URL (default pulsar://127.0.0.1:6650, secured pulsar+ssl://127.0.0.1:6651)
#   PULSAR_ADMIN_URL    admin URL (default http://127.0.0.1:8080, secured https://127.0.0.1:8443)
#   STREAMLOOP_WORKER_VENV  the virtualenv whose python3/pip the functions worker runs (default .venv)
#   PULSAR_UP_TIMEOUT   seconds to wait for a healthy standalone (default 300)
#   PULSAR_OFFLOAD_DELETION_LAG_MS  keep an offloaded ledger's BookKeeper copy this long (default 10000)
#   PULSAR_MEM, PULSAR_GC  JVM options (defaults sized for 2 cores / a few GiB)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CACHE="$REPO/.cache/pulsar"
SECURE="${PULSAR_SECURE:-0}"
if [[ $SECURE == 1 ]]; then
  RUN="$CACHE/run-secure"
  PULSAR_SERVICE_URL="${PULSAR_SERVICE_URL:-pulsar+ssl://127.0.0.1:6651}"
  PULSAR_ADMIN_URL="${PULSAR_ADMIN_URL:-https://127.0.0.1:8443}"
else
  RUN="$CACHE/run"
  PULSAR_SERVICE_URL="${PULSAR_SERVICE_URL:-pulsar://127.0.0.1:6650}"
  PULSAR_ADMIN_URL="${PULSAR_ADMIN_URL:-http://127.0.0.1:8080}"
fi
PID_FILE="$RUN/pulsar.pid"
SECRETS="$RUN/secure"

PULSAR_VERSION="${PULSAR_VERSION:-4.0.8}"
PULSAR_ADMIN_URL="${PULSAR_ADMIN_URL%/}"
WORKER_VENV="${STREAMLOOP_WORKER_VENV:-$REPO/.venv}"
UP_TIMEOUT="${PULSAR_UP_TIMEOUT:-300}"
TARBALL="pulsar-server-distribution-${PULSAR_VERSION}-bin.tar.gz"
OFFLOADERS_TARBALL="pulsar-offloader-distribution-${PULSAR_VERSION}-bin.tar.gz"
# Pulsar's offloader NARs (filesystem, jcloud), unpacked beside the distribution: the server tarball has none.
OFFLOADERS="$CACHE/apache-pulsar-offloaders-$PULSAR_VERSION/offloaders"

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
# shellcheck source=packaging/pulsar-lib.sh
source "$HERE/pulsar-lib.sh"

pulsar_home() { # the distribution to run: $PULSAR_HOME, or the one fetch unpacked
  if [[ -n "${PULSAR_HOME:-}" ]]; then
    echo "$PULSAR_HOME"
  else
    echo "$CACHE/apache-pulsar-$PULSAR_VERSION"
  fi
}

fetch_artifact() { # fetch_artifact ARTIFACT TARBALL: download into $CACHE once, check the pinned sha512
  local artifact="$1" tarball="$2"
  command -v mvn >/dev/null || die "needs Maven (mvn) and Java 17+ to fetch Pulsar"
  mkdir -p "$CACHE"
  if [[ ! -f "$CACHE/$tarball" ]]; then
    log "fetching org.apache.pulsar:$artifact:$PULSAR_VERSION from Maven Central"
    # -C: fail if the file does not match the checksum Central publishes next to it (.sha1; Central has no
    # .sha512 for these artifacts). The pinned sha512 below is the real check.
    mvn -B -q -C -Dstyle.color=never dependency:copy \
      "-Dartifact=org.apache.pulsar:$artifact:$PULSAR_VERSION:tar.gz:bin" \
      "-DoutputDirectory=$CACHE"
  fi
  local pinned
  pinned="$(grep -F "  $tarball" "$HERE/pulsar-distribution.sha512" || true)"
  [[ -n "$pinned" ]] || die "no pinned sha512 for $tarball in packaging/pulsar-distribution.sha512"
  if ! (cd "$CACHE" && echo "$pinned" | sha512sum --check --status); then
    rm -f "$CACHE/$tarball"
    die "sha512 mismatch for $tarball (deleted; run fetch again)"
  fi
}

unpack() { # unpack TARBALL FOLDER DEST: the tarball's top FOLDER moved to DEST (atomically, once)
  local tmp="$CACHE/.unpack.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  tar -xzf "$CACHE/$1" -C "$tmp"
  mv "$tmp/$2" "$3"
  rm -rf "$tmp"
}

cmd_fetch() {
  local home
  home="$(pulsar_home)"
  if [[ ! -x "$home/bin/pulsar" ]]; then
    [[ -z "${PULSAR_HOME:-}" ]] || die "PULSAR_HOME=$PULSAR_HOME has no bin/pulsar"
    fetch_artifact pulsar-server-distribution "$TARBALL"
    log "sha512 OK; unpacking the distribution"
    unpack "$TARBALL" "apache-pulsar-$PULSAR_VERSION" "$home"
  fi
  if [[ ! -f "$OFFLOADERS/tiered-storage-file-system-$PULSAR_VERSION.nar" ]]; then
    fetch_artifact pulsar-offloader-distribution "$OFFLOADERS_TARBALL"
    log "sha512 OK; unpacking the offloaders"
    unpack "$OFFLOADERS_TARBALL" "apache-pulsar-offloaders-$PULSAR_VERSION" "${OFFLOADERS%/offloaders}"
  fi
  # Where Pulsar's install guide puts them, too: a namespace's offload policies look in $PULSAR_HOME/offloaders
  # whatever the broker's offloadersDirectory says (4.0.8: "No offloader found for driver 'filesystem'").
  if [[ -z "${PULSAR_HOME:-}" && ! -e "$home/offloaders" ]]; then
    ln -s "$OFFLOADERS" "$home/offloaders"
  fi
  log "distribution ready at $home (offloaders: $OFFLOADERS)"
}


our_pid() { # print the pid of the standalone we started, if it is still alive
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

web() { # web SECONDS PATH: GET an admin path (as the superuser, over verified TLS, when secured)
  local extra=()
  if [[ $SECURE == 1 ]]; then
    extra=(--cacert "$SECRETS/ca.crt" -H "@$SECRETS/admin.header")
  fi
  curl -fsS -m "$1" "${extra[@]}" "$PULSAR_ADMIN_URL$2" >/dev/null 2>&1
}

broker_ready() { # ready, and the health check (a round trip on a heartbeat topic) passes
  web 5 /admin/v2/brokers/ready && web 30 /admin/v2/brokers/health
}

worker_ready() { # the worker has a leader and the default namespace lists functions
  web 5 /admin/v2/worker/cluster/leader && web 5 /admin/v3/functions/public/default
}

# JVM options for the CLI: C1 only and the serial GC start pulsar-admin in ~4 s instead of ~17 s on 2 cores.
ADMIN_JAVA_OPTS="${PULSAR_ADMIN_JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"

admin() { # run bin/pulsar-admin against PULSAR_ADMIN_URL (secured: as the superuser, from admin.conf)
  if [[ $SECURE == 1 ]]; then
    PULSAR_CLIENT_CONF="$SECRETS/admin.conf" PULSAR_EXTRA_OPTS="$ADMIN_JAVA_OPTS" "$(pulsar_home)/bin/pulsar-admin" "$@"
  else
    PULSAR_EXTRA_OPTS="$ADMIN_JAVA_OPTS" "$(pulsar_home)/bin/pulsar-admin" --admin-url "$PULSAR_ADMIN_URL" "$@"
  fi
}



make_secrets() { # CA, broker certificate, token key and tokens, client.confs: made once per run folder
  [[ -f "$SECRETS/ready" ]] && return
  command -v openssl >/dev/null || die "the secured standalone needs openssl"
  rm -rf "$SECRETS" && mkdir -p "$SECRETS" && chmod 700 "$SECRETS"
  log "making a CA, the broker's certificate and tokens in $SECRETS"
  (
    cd "$SECRETS"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=streamloop local CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.crt 2>/dev/null
    # PKCS#8 key (what the broker reads); the certificate names 127.0.0.1 and localhost for hostname checks.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile broker.ext -out broker.crt 2>/dev/null
    rm -f broker.csr broker.ext ca.srl
    # bin/pulsar picks its own GC and heap (PULSAR_GC, PULSAR_MEM): a small serial-GC JVM for a CLI call.
    local tokens=(env PULSAR_GC=-XX:+UseSerialGC PULSAR_MEM=-Xmx256m PULSAR_EXTRA_OPTS=-XX:TieredStopAtLevel=1
      PULSAR_LOG_DIR="$RUN/logs" "$(pulsar_home)/bin/pulsar" tokens)
    "${tokens[@]}" create-secret-key --output "$SECRETS/token-secret.key" >/dev/null
    local role
    for role in admin streamloop; do
      "${tokens[@]}" create --secret-key "file://$SECRETS/token-secret.key" --subject "$role" \
        --expiry-time 30d >"$role.token"
      cat >"$role.conf" <<CONF
# Pulsar client.conf of the role '$role' on the secured standalone (pulsar-admin: PULSAR_CLIENT_CONF=$SECRETS/$role.conf)
webServiceUrl=$PULSAR_ADMIN_URL
brokerServiceUrl=$PULSAR_SERVICE_URL
authPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken
authParams=file://$SECRETS/$role.token
tlsTrustCertsFilePath=$SECRETS/ca.crt
tlsAllowInsecureConnection=false
tlsEnableHostnameVerification=true
CONF
    done
    printf 'Authorization: Bearer %s\n' "$(cat admin.token)" >admin.header
  )
  touch "$SECRETS/ready"
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
  local conf="$RUN/conf/standalone.conf" worker="$RUN/conf/functions_worker.yml"
  # The bookie binds to its advertised address (127.0.0.1) only when a listening interface is set.
  printf "\nlisteningInterface=lo\n" >>"$conf"
  sed -E \
    -e "s|^workerHostname:.*|workerHostname: 127.0.0.1|" \
    -e "s|^pulsarServiceUrl:.*|pulsarServiceUrl: $PULSAR_SERVICE_URL|" \
    -e "s|^pulsarWebServiceUrl:.*|pulsarWebServiceUrl: $PULSAR_ADMIN_URL|" \
    -e "s|^downloadDirectory:.*|downloadDirectory: $RUN/data/functions|" \
    "$home/conf/functions_worker.yml" >"$worker"
  # The functions worker, on a deletion, holds its FunctionRuntimeManager lock while it calls this broker's
  # own admin API (FunctionActioner.deleteSubscription -> topics stats); status calls waiting for that lock
  # can take every web thread (8 by default) and nothing answers again: a deadlock seen under the tests'
  # status polling. More threads than concurrent pollers keep one free for the worker's call.
  set_prop "$conf" numHttpServerThreads 32
  # Tiered storage: Pulsar's filesystem offloader, its tier a folder. standalone.conf has none of these keys.
  # In 4.0.8 the offloader writes <fileSystemURI's path>/<tenant>/<namespace>/persistent/<topic>/<ledger>-<uuid>
  # (with fileSystemURI=file:/// that is the filesystem's root, whatever hadoop.tmp.dir says).
  mkdir -p "$RUN/data/tier"
  cp "$home/conf/filesystem_offload_core_site.xml" "$RUN/conf/filesystem_offload_core_site.xml"
  set_prop "$conf" offloadersDirectory "$OFFLOADERS"
  set_prop "$conf" managedLedgerOffloadDriver filesystem
  set_prop "$conf" fileSystemProfilePath "$RUN/conf/filesystem_offload_core_site.xml"
  set_prop "$conf" fileSystemURI "file://$RUN/data/tier"
  # An offloaded ledger's BookKeeper copy is deleted this long after the offload (Pulsar's default: 4 hours).
  # Set here, broker-wide: a namespace-level lag (`namespaces set-offload-deletion-lag`) creates namespace
  # offload policies without a driver, and 4.0.8 then fails to create any offloader for that namespace.
  set_prop "$conf" managedLedgerOffloadDeletionLagMs "${PULSAR_OFFLOAD_DELETION_LAG_MS:-10000}"
  # ... checked when the broker trims ledgers, every retentionCheckIntervalInSeconds (default 120).
  set_prop "$conf" retentionCheckIntervalInSeconds 10
  [[ $SECURE == 1 ]] || return 0
  # Secured: TLS only (no plain-text ports), token authentication, authorization, superuser `admin`. The
  # broker's own client and the functions worker (hence every function instance on the process runtime)
  # authenticate as `admin` with a token read from a file (a path, not the token, shows in `ps`).
  set_prop "$conf" brokerServicePort ""
  set_prop "$conf" webServicePort ""
  set_prop "$conf" brokerServicePortTls "$BROKER_PORT"
  set_prop "$conf" webServicePortTls "$WEB_PORT"
  set_prop "$conf" tlsEnabled true
  set_prop "$conf" tlsCertificateFilePath "$SECRETS/broker.crt"
  set_prop "$conf" tlsKeyFilePath "$SECRETS/broker.key"
  set_prop "$conf" tlsTrustCertsFilePath "$SECRETS/ca.crt"
  set_prop "$conf" brokerClientTlsEnabled true
  set_prop "$conf" brokerClientTrustCertsFilePath "$SECRETS/ca.crt"
  set_prop "$conf" authenticationEnabled true
  set_prop "$conf" authenticationProviders org.apache.pulsar.broker.authentication.AuthenticationProviderToken
  set_prop "$conf" tokenSecretKey "file://$SECRETS/token-secret.key"
  set_prop "$conf" authorizationEnabled true
  set_prop "$conf" superUserRoles admin
  set_prop "$conf" brokerClientAuthenticationPlugin org.apache.pulsar.client.impl.auth.AuthenticationToken
  set_prop "$conf" brokerClientAuthenticationParameters "file://$SECRETS/admin.token"
  set_yaml "$worker" useTls true
  set_yaml "$worker" tlsTrustCertsFilePath "$SECRETS/ca.crt"
  set_yaml "$worker" brokerClientTrustCertsFilePath "$SECRETS/ca.crt"
  set_yaml "$worker" tlsEnableHostnameVerification true
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
    [[ $SECURE == 0 ]] || make_secrets
    write_conf "$home"
    : >"$RUN/logs/standalone.out"
    date +%s >"$RUN/started-at"
    log "starting Pulsar $PULSAR_VERSION standalone on 127.0.0.1 (worker python3: $WORKER_VENV/bin/python3)"
    # The worker starts each Python instance as `python3 ...` and installs zip deps with `pip`, both from its
    # PATH, so the project venv goes first. PIP_* settings from the caller must not leak into those installs.
    (
      cd "$RUN"
      # Inherited descriptors stay open for the broker's lifetime: close everything above stderr first.
      close_inherited_fds
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
        --zookeeper-dir "$RUN/data/zookeeper" \
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
  [[ $SECURE == 0 ]] || log "client.conf of the superuser: $SECRETS/admin.conf, of the loop: $SECRETS/streamloop.conf"
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
  if ! wait_exit "$pid" 60; then
    log "still alive after 60s; killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Function instances (python3) run in the standalone's process group; stop any the worker left behind.
  kill -TERM -- "-$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  local port
  for port in "$BROKER_PORT" "$WEB_PORT" "${AUX_PORTS[@]}"; do
    wait_port_closed "$port" 30 || die "port $port still open 30s after stopping"
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
