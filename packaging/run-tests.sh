#!/usr/bin/env bash
# The whole test suite: lint, then pytest with a real Pulsar standalone when this machine can run one.
#
# If nothing answers at $PULSAR_ADMIN_URL and Java + Maven are here, this starts the standalone
# (packaging/pulsar.sh up) and stops it again at the end. Without Java or Maven the real-broker tests
# skip with a message saying what to install — unless STREAMLOOP_REQUIRE_PULSAR=1 (CI), where they fail.
# Extra arguments go to pytest, e.g. `packaging/run-tests.sh -k joiner`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
cd "$REPO"
VENV="${VENV:-.venv}"
export PATH="$REPO/$VENV/bin:$PATH"

echo "== lint (ruff)"
ruff check functions tests packaging
ruff format --check functions tests packaging

started_pulsar=0
stop_pulsar() {
  if [[ $started_pulsar == 1 ]]; then
    "$HERE/pulsar.sh" down || true
  fi
}
trap stop_pulsar EXIT

if "$HERE/pulsar.sh" status >/dev/null 2>&1; then
  echo "== using the Pulsar already running at ${PULSAR_ADMIN_URL:-http://127.0.0.1:8080}"
  if [[ -z "${PULSAR_HOME:-}" ]] && command -v mvn >/dev/null; then
    "$HERE/pulsar.sh" fetch # the tests still need bin/pulsar-admin from a distribution
  fi
elif command -v java >/dev/null && command -v mvn >/dev/null; then
  echo "== starting a Pulsar standalone for the real-broker tests"
  "$HERE/pulsar.sh" up
  started_pulsar=1
else
  echo "== no Java 17+/Maven here: real-broker tests will skip (install openjdk-17-jre-headless and maven)"
fi

echo "== pytest"
set +e
# The chaos scenarios (tests/chaos, ~7 min on a standalone) are part of the suite; their books go to
# out/chaos.json as with `make chaos`.
mkdir -p out
STREAMLOOP_CHAOS_REPORT="${STREAMLOOP_CHAOS_REPORT:-out/chaos.json}" python -m pytest "$@"
status=$?
set -e
if [[ $status == 5 ]]; then
  echo "pytest collected no tests: that is a failure, not a pass" >&2
  exit 1
fi
exit $status
