#!/usr/bin/env bash
# Deploy the four functions with the real pulsar-admin, from the pulsar-config/*.yaml files.
#
#   packaging/deploy.sh deploy     # create the topics (models compacted), then `functions create` each
#                                  # (a `generate` secret gets the namespace's key, made on the first
#                                  # deploy and reused: $STREAMLOOP_KEY_DIR or ~/.config/streamloop/keys)
#   packaging/deploy.sh undeploy   # delete the functions, then the topics
#   packaging/deploy.sh status     # `functions status` of each
#
# Environment: PULSAR_ADMIN_URL (default http://127.0.0.1:8080), PULSAR_HOME (bin/pulsar-admin; default the
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
DEPLOY_ZIP="$(cd "$REPO" && realpath "${DEPLOY_ZIP:-dist/streamloop-nodeps.zip}")"
PY="${PY:-$REPO/.venv/bin/python}"
FUNCTIONS=(features scorer joiner learner)
NAMESPACE_PATH="public/default"
TOPICS=(events labels features predictions examples models metrics dead-letters)
# The models topic keeps only the latest model per name once it holds more than this many bytes.
COMPACTION_THRESHOLD_BYTES=$((8 * 1024 * 1024))
# The examples topic keeps acked messages this long / this big, so a new learner can learn the history
# first (docs/backfill.md). -1 is unlimited (pair it with tiered storage). A size limit must exceed the
# broker's backlog quota (backlogQuotaDefaultLimitGB=10 by default) or the broker refuses it (HTTP 412).
EXAMPLES_RETENTION_MINUTES="${EXAMPLES_RETENTION_MINUTES:-10080}"
EXAMPLES_RETENTION_MB="${EXAMPLES_RETENTION_MB:--1}"

admin() { # bin/pulsar-admin with a fast-starting JVM (C1 only, serial GC: ~4 s a call instead of ~17 s)
  PULSAR_EXTRA_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" \
    "$PULSAR_HOME/bin/pulsar-admin" --admin-url "$PULSAR_ADMIN_URL" "$@"
}

rest() { # rest METHOD PATH [BODY]: the admin REST API, failing on HTTP errors except 404/409 on cleanup
  local method="$1" path="$2" body="${3:-}"
  curl -sS -o /dev/null -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
    ${body:+--data "$body"} "$PULSAR_ADMIN_URL$path"
}

cmd_deploy() {
  [[ -f "$DEPLOY_ZIP" ]] || {
    echo "deploy.sh: $DEPLOY_ZIP not found; run 'make package'" >&2
    exit 1
  }
  for topic in "${TOPICS[@]}"; do
    code="$(rest PUT "/admin/v2/persistent/$NAMESPACE_PATH/$topic")"
    [[ $code == 204 || $code == 409 ]] || {
      echo "deploy.sh: creating $topic: HTTP $code" >&2
      exit 1
    }
  done
  code="$(rest POST "/admin/v2/persistent/$NAMESPACE_PATH/models/compactionThreshold" "$COMPACTION_THRESHOLD_BYTES")"
  [[ $code == 204 ]] || echo "deploy.sh: compaction threshold on models: HTTP $code (topic policies off?)" >&2
  retention="{\"retentionTimeInMinutes\": $EXAMPLES_RETENTION_MINUTES, \"retentionSizeInMB\": $EXAMPLES_RETENTION_MB}"
  code="$(rest POST "/admin/v2/persistent/$NAMESPACE_PATH/examples/retention" "$retention")"
  [[ $code == 204 ]] || echo "deploy.sh: retention on examples: HTTP $code (topic policies off?)" >&2
  # Each YAML with its `generate` secrets filled goes to a private temporary file (never argv: a secret on
  # a command line is visible to every local user), removed on exit.
  filled="$(mktemp -d)"
  trap 'rm -rf "$filled"' EXIT
  for name in "${FUNCTIONS[@]}"; do
    "$PY" -m streamloop.tools.deployment "$REPO/pulsar-config/$name.yaml" "$filled/$name.yaml"
    echo "deploy.sh: functions create $name"
    admin functions create --function-config-file "$filled/$name.yaml" --py "$DEPLOY_ZIP"
  done
}

cmd_undeploy() {
  for name in "${FUNCTIONS[@]}"; do
    admin functions delete --tenant public --namespace default --name "$name" || true
  done
  for topic in "${TOPICS[@]}"; do
    rest DELETE "/admin/v2/persistent/$NAMESPACE_PATH/$topic?force=true" >/dev/null || true
  done
  echo "deploy.sh: functions and topics deleted"
}

cmd_status() {
  for name in "${FUNCTIONS[@]}"; do
    echo "== $name"
    admin functions status --tenant public --namespace default --name "$name" || true
  done
}

case "${1:-}" in
deploy | undeploy | status) "cmd_$1" ;;
*)
  echo "usage: $0 deploy|undeploy|status" >&2
  exit 2
  ;;
esac
