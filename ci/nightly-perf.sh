#!/usr/bin/env bash
# Nightly performance gate: run each scenario, compare it with its last good run, keep
# every run's folder as an artifact, and fail on an SLO breach or a regression.
#
# usage: ci/nightly-perf.sh [--target URL] [SCENARIO.toml ...] [-- EXTRA LOADCTL RUN ARGS]
#
#   SCENARIO.toml   default: scenarios/activities-list.toml scenarios/flash-sale-10k.toml
#   --target URL    run against a deployment (the kind testbed: http://127.0.0.1:30081);
#                   without it each scenario runs against loadctl's embedded service
#
# environment:
#   LOADCTL     the loadctl binary (default: built here with cargo build --release)
#   ARTIFACTS   where run folders and nightly.md go (default: reports/nightly)
#   BASELINES   last good run per scenario, kept between nights (default: reports/baselines)
#   HISTORY     a run store (SQLite) kept between nights: every run is recorded in it, and
#               the gate also fails on a new regression in the scenario's trend (change
#               points over the nights, not one noisy comparison); unset: no history
#   REV         the label each recorded run gets (default: git rev-parse --short HEAD)
#
# Exit code: 0 when every scenario passed; otherwise the first failing scenario's loadctl
# exit code (1 SLO breach, regression or failed verification; 2 scenario error; 3 invalid
# run: the generator could not hold the load; 130 interrupted).
set -euo pipefail
cd "$(dirname "$0")/.."

target=()
scenarios=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=(--target "$2"); shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
if [ ${#scenarios[@]} -eq 0 ]; then
  scenarios=(scenarios/activities-list.toml scenarios/flash-sale-10k.toml)
fi

if [ -z "${LOADCTL:-}" ]; then
  cargo build --release --locked --quiet
  LOADCTL=target/release/loadctl
fi
ARTIFACTS=${ARTIFACTS:-reports/nightly}
BASELINES=${BASELINES:-reports/baselines}
mkdir -p "$ARTIFACTS" "$BASELINES"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report="$ARTIFACTS/nightly.md"
{
  echo "# loadctl nightly $stamp"
  echo
  echo "| scenario | exit | status | report |"
  echo "|---|---:|---|---|"
} > "$report"

first_failure=0
details=""
for scenario in "${scenarios[@]}"; do
  name=$(basename "$scenario" .toml)
  out="$ARTIFACTS/$name-$stamp"
  n=1
  while [ -e "$out" ]; do out="$ARTIFACTS/$name-$stamp-$n"; n=$((n + 1)); done
  base="$BASELINES/$name"
  baseline=()
  if [ -f "$base/summary.json" ]; then
    baseline=(--baseline "$base")
  fi
  history=()
  if [ -n "${HISTORY:-}" ]; then
    rev=${REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
    history=(--history "$HISTORY" --label "rev=$rev" --gate-trend)
  fi
  echo "== $name: $scenario ${target[*]} ${baseline[*]}" >&2
  set +e
  "$LOADCTL" run "$scenario" --no-progress --out "$out" "${target[@]}" "${baseline[@]}" "${history[@]}" "${extra[@]}"
  code=$?
  set -e
  status=$(sed -n 's/^  "status": "\([a-z]*\)",$/\1/p' "$out/summary.json" 2>/dev/null || true)
  echo "| $name | $code | ${status:-none} | $out/report.html |" >> "$report"
  if [ ${#history[@]} -gt 0 ] && [ -f "$out/trend/trend.json" ]; then
    details+=$'\n'"## $name over the recorded nights ($out/trend/trend.html)"$'\n\n'
    scenario_name=$(sed -n 's/^  "scenario": "\(.*\)",$/\1/p' "$out/summary.json")
    env -u GITHUB_STEP_SUMMARY "$LOADCTL" trend --db "$HISTORY" --scenario "$scenario_name" \
      --out "$out/trend" --markdown "$out/trend/trend.md" > /dev/null || true
    details+=$(cat "$out/trend/trend.md" 2>/dev/null || true)$'\n'
  fi
  if [ ${#baseline[@]} -gt 0 ] && [ -f "$out/summary.json" ]; then
    details+=$'\n'"## $name against its last good run"$'\n\n'
    details+=$("$LOADCTL" compare "$base" "$out" --format md || true)$'\n'
  fi
  if [ "$code" -eq 0 ]; then
    # A good run becomes the next night's baseline.
    rm -rf "$base.tmp" && cp -r "$out" "$base.tmp" && rm -rf "$base" && mv "$base.tmp" "$base"
  elif [ "$first_failure" -eq 0 ]; then
    first_failure=$code
  fi
done
printf '%s\n' "$details" >> "$report"
cat "$report"
exit "$first_failure"
