#!/usr/bin/env bash
# Runs the test suite on a fresh machine: installs what the tests need and is missing
# (cargo-nextest; Debian's chromium, nginx-light, shellcheck, iproute2 and kubernetes-client: the
# report test opens report.html in headless Chromium, the testbed's gateway configurations are
# checked with `nginx -t` and its scripts with shellcheck, agents run in network namespaces made
# with `ip`, a real kubectl reads the simulated cluster; Python's `websockets` package: a chat test
# runs a relay on it; Node.js and playwright-core from npm: the HAR import test records a page
# with headless Chromium; Prometheus: the remote-write exporter pushes to it; opentelemetry-proto
# and grpcio: the OTLP exporter's receivers), then runs every
# test.
#
# usage: ci/test.sh [EXTRA NEXTEST ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
# The distributed test puts agents and the target in network namespaces (`ip netns`).
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
# A test drives the simulated control plane with a real kubectl.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
# The HAR import test records a real browser session through playwright-core (Node.js).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# The remote-write exporter is checked against a real Prometheus (its remote-write receiver).
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
export PATH="$PATH:/usr/sbin"

# A chat test runs a relay written in Python on the `websockets` package; the OTLP tests
# decode what loadctl sends with the `opentelemetry-proto` package, over gRPC with grpcio.
if ! python3 -c "import websockets" >/dev/null 2>&1; then
  python3 -m pip install --quiet websockets
fi
if ! python3 -c "import grpc, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc" >/dev/null 2>&1; then
  python3 -m pip install --quiet opentelemetry-proto grpcio
fi
# The gRPC tests load a Python grpcio server (a server loadctl did not write), its
# messages compiled from the example .proto by grpcio-tools, with grpcio-reflection.
if ! python3 -c "import grpc_tools.protoc, grpc_reflection.v1alpha.reflection" >/dev/null 2>&1; then
  python3 -m pip install --quiet grpcio-tools grpcio-reflection
fi

# playwright-core drives Debian's Chromium (no browser download) for the HAR recording test.
if [ ! -d target/npm/node_modules/playwright-core ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix target/npm playwright-core@1
fi

# The product alone, without the reference services (`testbed` feature), builds; a scenario
# that names no target then asks for one (exit 2) instead of sending anywhere.
cargo build --locked --no-default-features
product=$(mktemp -d)
cp target/debug/loadctl "$product/loadctl"
set +e
"$product/loadctl" run scenarios/activities-list.toml --out "$product/out" --no-progress 2>"$product/err"
rc=$?
set -e
if [ "$rc" != 2 ] || ! grep -q "names no target" "$product/err"; then
  echo "ci/test.sh: a build without the testbed feature should refuse a scenario without a target (exit 2), got $rc:" >&2
  cat "$product/err" >&2
  exit 1
fi
if "$product/loadctl" testbed serve activities --help >/dev/null 2>&1; then
  echo "ci/test.sh: a build without the testbed feature still has \`loadctl testbed\`" >&2
  exit 1
fi
rm -rf "$product"

exec cargo nextest run --locked --no-fail-fast "$@"
