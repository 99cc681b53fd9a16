#!/usr/bin/env bash
# Deploy the four functions with the real pulsar-admin, from the pulsar-config/*.yaml files.
#
#   packaging/deploy.sh deploy     # `streamloop provision` (topics, retention, offload), then `functions create` each
#                                  # (a `generate` secret gets the namespace's key, made on the first
#                                  # deploy and reused: $STREAMLOOP_KEY_DIR or ~/.config/streamloop/keys)
#   packaging/deploy.sh undeploy   # delete the functions, then the topics
#   packaging/deploy.sh status     # `functions status` of each
#
# Environment: PULSAR_ADMIN_URL (default http://127.0.0.1:8080; several brokers: http://b1:8080,b2:8080),
# PULSAR_FUNCTIONS_URL (the function workers, when they run apart from the brokers; default PULSAR_ADMIN_URL),
# PARTITIONS (default 0: the stream topics events, labels, features, predictions, examples get that many
# partitions; models, metrics and dead-letters are never partitioned), PULSAR_HOME (bin/pulsar-admin; default the
# distribution `packaging/pulsar.sh fetch` unpacked), DEPLOY_ZIP (default dist/streamloop-nodeps.zip: code
# only, for workers whose python3 has the dependencies; dist/streamloop.zip carries every wheel instead),
# PY (default .venv/bin/python: fills the secrets), STREAMLOOP_KEY_DIR (where the generated keys live).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PULSAR_VERSION="${PULSAR_VERSION:-4.0.8}"
PULSAR_HOME="${PULSAR_HOME:-$REPO/.cache/pulsar/apache-pulsar-$PULSAR_VERSION}"
PULSAR_ADMIN_URL="${PULSAR_ADMIN_URL:-http://127.0.0.1:8080}"
PULSAR_ADMIN_URL="${PULSAR_ADMIN_URL%/}"
PULSAR_FUNCTIONS_URL="${PULSAR_FUNCTIONS_URL:-$PULSAR_ADMIN_URL}"
PARTITIONS="${PARTITIONS:-0}"
DEPLOY_ZIP="$(cd "$REPO" && realpath "${DEPLOY_ZIP:-dist/streamloop-nodeps.zip}")"
PY="${PY:-$REPO/.venv/bin/python}"
FUNCTIONS=(features scorer joiner learner)
NAMESPACE_PATH="public/default"
TOPICS=(events labels features predictions examples models metrics dead-letters)

functions() { # bin/pulsar-admin functions, with a fast-starting JVM (C1 only, serial GC: ~4 s a call, not ~17 s)
  PULSAR_EXTRA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" \
    "$PULSAR_HOME/bin/pulsar-admin" --admin-url "$PULSAR_FUNCTIONS_URL" functions "$@"
}

rest() { # rest METHOD PATH [BODY]: the admin REST API of the first broker (following its redirects)
  local method="$1" path="$2" body="${3:-}"
  curl -sS -L -o /dev/null -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
    ${body:+--data "$body"} "${PULSAR_ADMIN_URL%%,*}$path"
}

cmd_deploy() {
  [[ -f "$DEPLOY_ZIP" ]] || {
    echo "deploy.sh: $DEPLOY_ZIP not found; run 'make package'" >&2
    exit 1
  }
  # The namespace's topics and their policies, as `streamloop deploy` provisions them (docs/history.md).
  "$PY" -m streamloop provision --admin-url "$PULSAR_ADMIN_URL" --namespace "$NAMESPACE_PATH" \
    --partitions "$PARTITIONS"
  # Each YAML with its `generate` secrets filled goes to a private temporary file (never argv: a secret on
  # a command line is visible to every local user), removed on exit.
  filled="$(mktemp -d)"
  trap 'rm -rf "$filled"' EXIT
  for name in "${FUNCTIONS[@]}"; do
    "$PY" -m streamloop.tools.deployment "$REPO/pulsar-config/$name.yaml" "$filled/$name.yaml"
    echo "deploy.sh: functions create $name"
    functions create --function-config-file "$filled/$name.yaml" --py "$DEPLOY_ZIP"
  done
}

cmd_undeploy() {
  for name in "${FUNCTIONS[@]}"; do
    functions delete --tenant public --namespace default --name "$name" || true
  done
  for topic in "${TOPICS[@]}"; do # partitioned (make deploy PARTITIONS=N) or not: the other path is a 404
    rest DELETE "/admin/v2/persistent/$NAMESPACE_PATH/$topic/partitions?force=true" >/dev/null || true
    rest DELETE "/admin/v2/persistent/$NAMESPACE_PATH/$topic?force=true" >/dev/null || true
  done
  echo "deploy.sh: functions and topics deleted"
}

cmd_status() {
  for name in "${FUNCTIONS[@]}"; do
    echo "== $name"
    functions status --tenant public --namespace default --name "$name" || true
  done
}

case "${1:-}" in
deploy | undeploy | status) "cmd_$1" ;;
*)
  echo "usage: $0 deploy|undeploy|status" >&2
  exit 2
  ;;
esac
