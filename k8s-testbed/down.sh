#!/usr/bin/env bash
# Deletes the kind cluster that up.sh created (saved images in k8s-testbed/images/ stay).
set -euo pipefail
command -v kind >/dev/null 2>&1 || { echo "down.sh needs kind on PATH" >&2; exit 2; }
if kind get clusters | grep -qx loadctl; then
  kind delete cluster --name loadctl
else
  echo "no kind cluster named loadctl"
fi
