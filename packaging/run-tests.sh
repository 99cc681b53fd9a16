#!/usr/bin/env bash
# The whole test suite: lint, then pytest with a real Pulsar standalone when this machine can run one.
#
# If no standalone answers and Java + Maven are here, this starts one (packaging/pulsar.sh up) and stops it
# again after its phase. Without Java or Maven the real-broker tests skip with a message saying what to
# install — unless STREAMLOOP_REQUIRE_PULSAR=1 (CI), where they fail.
# Extra arguments go to pytest, e.g. `packaging/run-tests.sh -k joiner`; a phase that collects no test is a
# failure, except when such arguments selected tests of the other phase only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cd "$REPO"
VENV="${VENV:-.venv}"
export PATH="$REPO/$VENV/bin:$PATH"

echo "== lint (ruff)"
ruff check functions tests packaging
ruff format --check functions tests packaging

# Two phases, each against its own standalone (they share ZooKeeper's and the bookie's ports, so one at a
# time): every test but the secured ones on the plain standalone, then the secured tests (tests/secure,
# marker `secure`) on the secured standalone (PULSAR_SECURE=1: TLS, token authentication, authorization).
started=""
stop_pulsar() {
  if [[ -n $started ]]; then
    PULSAR_SECURE="$started" "$HERE/pulsar.sh" down || true
    started=""
  fi
}
trap stop_pulsar EXIT

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
  python -m pytest "$@" || status=$?
  if [[ $status == 5 ]]; then
    collected_nothing=$((collected_nothing + 1))
    if ((EXTRA_ARGS == 0 || collected_nothing == 2)); then
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
echo "== pytest: everything but the secured-cluster tests"
status=0
run_pytest -m "not secure" "$@" || status=$?
stop_pulsar
echo "== phase 1 took $(($(date +%s) - phase_start)) s"
phase_start=$(date +%s)
use_pulsar 1
echo "== pytest: the secured-cluster tests"
run_pytest -m secure "$@" || status=$?
stop_pulsar
echo "== phase 2 took $(($(date +%s) - phase_start)) s"
exit $status
