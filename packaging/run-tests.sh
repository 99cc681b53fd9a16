#!/usr/bin/env bash
# The whole test suite: lint, then pytest with a real Pulsar standalone when this machine can run one.
#
# If no standalone answers and Java + Maven are here, this starts one (packaging/pulsar.sh up) and stops it
# again after its phase. Without Java or Maven the real-broker tests skip with a message saying what to
# install — unless STREAMLOOP_REQUIRE_PULSAR=1 (CI), where they fail.
# Extra arguments go to pytest, e.g. `packaging/run-tests.sh -k joiner`; a phase that collects no test is a
# failure, except when such arguments selected tests of other phases only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cd "$REPO"
VENV="${VENV:-.venv}"
export PATH="$REPO/$VENV/bin:$PATH"

echo "== lint (ruff)"
ruff check functions tests packaging
ruff format --check functions tests packaging

# Three phases: every test but the secured and the cluster ones on the plain standalone; then the cluster
# tests (tests/multinode, marker `cluster`) on the multi-node cluster (packaging/cluster.sh: two brokers, two
# bookies, two function workers), with the plain standalone still up for the cluster-vs-standalone test; then
# the secured tests (tests/secure, marker `secure`) on the secured standalone (PULSAR_SECURE=1: TLS, token
# authentication, authorization), which shares the plain one's ZooKeeper and bookie ports: one at a time.
started=""
stop_pulsar() {
  if [[ -n $started ]]; then
    PULSAR_SECURE="$started" "$HERE/pulsar.sh" down || true
    started=""
  fi
}
cluster_started=""
stop_cluster() {
  if [[ -n $cluster_started ]]; then
    "$HERE/cluster.sh" down || true
    cluster_started=""
  fi
}
trap 'stop_cluster; stop_pulsar' EXIT

use_pulsar() { # use_pulsar SECURE: the standalone of that kind, started here unless one already answers
  local secure="$1"
  if PULSAR_SECURE="$secure" "$HERE/pulsar.sh" status >/dev/null 2>&1; then
    echo "== using the Pulsar standalone already running (secured: $secure)"
    if [[ -z "${PULSAR_HOME:-}" ]] && command -v mvn >/dev/null; then
      "$HERE/pulsar.sh" fetch # the tests still need bin/pulsar-admin from a distribution
    fi
  elif command -v java >/dev/null && command -v mvn >/dev/null; then
    echo "== starting a Pulsar standalone (secured: $secure)"
    PULSAR_SECURE="$secure" "$HERE/pulsar.sh" up
    started="$secure"
  else
    echo "== no Java 17+/Maven here: real-broker tests will skip (install openjdk-17-jre-headless and maven)"
  fi
}

collected_nothing=0
run_pytest() { # run_pytest ARGS...: pytest; collecting no test is a failure (see the top of this file)
  local status=0
  python -m pytest --durations=12 "$@" || status=$?
  if [[ $status == 5 ]]; then
    collected_nothing=$((collected_nothing + 1))
    if ((EXTRA_ARGS == 0 || collected_nothing == 3)); then
      echo "pytest collected no tests: that is a failure, not a pass" >&2
      return 1
    fi
    return 0
  fi
  return $status
}
EXTRA_ARGS=$#

# The chaos scenarios (tests/chaos) are part of the suite; their books go to out/chaos.json as with
# `make chaos`.
mkdir -p out
export STREAMLOOP_CHAOS_REPORT="${STREAMLOOP_CHAOS_REPORT:-out/chaos.json}"
phase_start=$(date +%s)
use_pulsar 0
echo "== pytest: everything but the secured and the multi-node cluster tests"
status=0
run_pytest -m "not secure and not cluster" "$@" || status=$?
echo "== phase 1 took $(($(date +%s) - phase_start)) s"
phase_start=$(date +%s)
if "$HERE/cluster.sh" status >/dev/null 2>&1; then
  echo "== using the multi-node cluster already running"
elif command -v java >/dev/null && command -v mvn >/dev/null; then
  echo "== starting the multi-node cluster"
  "$HERE/cluster.sh" up
  cluster_started=1
fi
echo "== pytest: the multi-node cluster tests"
export STREAMLOOP_CLUSTER_REPORT="${STREAMLOOP_CLUSTER_REPORT:-out/cluster.json}"
run_pytest -m cluster "$@" || status=$?
stop_cluster
stop_pulsar
echo "== phase 2 (cluster) took $(($(date +%s) - phase_start)) s"
phase_start=$(date +%s)
use_pulsar 1
echo "== pytest: the secured-cluster tests"
run_pytest -m secure "$@" || status=$?
stop_pulsar
echo "== phase 3 (secured) took $(($(date +%s) - phase_start)) s"
exit $status
