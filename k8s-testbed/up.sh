#!/usr/bin/env bash
# Creates the kind cluster of loadctl's testbed and deploys the reference systems.
#
# usage: k8s-testbed/up.sh [--offline] [--chaos] [SYSTEM ...]
#   SYSTEM     volunteer (seed 000), flash-sale (seed 003), chat (seed 004); default: all
#   --offline  use what `up.sh --save-images` saved in k8s-testbed/images/ instead of
#              pulling or building: the kind node image (pinned by digest in
#              kind-config.yaml), nginx, metrics-server (image and manifest) and
#              loadctl-testbed:dev, loaded with `kind load image-archive`; every manifest
#              uses imagePullPolicy: IfNotPresent
#   --save-images  build and pull every image once, `docker save` them (and fetch the
#              metrics-server manifest, and with --chaos the Chaos Mesh chart and images)
#              for later --offline use
#   --chaos    also install Chaos Mesh (chart 2.7.2, pinned below) for the
#              network-delay and stress drills, and the Role of chaos/rbac.yaml; needs helm
#
# Needs: docker (a running engine), kind, kubectl. Prints the URLs when everything is ready.
set -euo pipefail
cd "$(dirname "$0")"

CLUSTER=loadctl
IMAGE=loadctl-testbed:dev
NGINX=nginx:1.27-alpine
METRICS_SERVER_VERSION=v0.7.2
METRICS_IMAGE=registry.k8s.io/metrics-server/metrics-server:$METRICS_SERVER_VERSION
METRICS_URL=https://github.com/kubernetes-sigs/metrics-server/releases/download/$METRICS_SERVER_VERSION/components.yaml
CHAOS_MESH_VERSION=2.7.2
CHAOS_IMAGES=("ghcr.io/chaos-mesh/chaos-mesh:v$CHAOS_MESH_VERSION" "ghcr.io/chaos-mesh/chaos-daemon:v$CHAOS_MESH_VERSION" "ghcr.io/chaos-mesh/chaos-dashboard:v$CHAOS_MESH_VERSION")
NODE_IMAGE=$(sed -n 's/^ *image: \(kindest\/node:.*\)$/\1/p' kind-config.yaml | head -n 1)

offline=0
save=0
chaos=0
systems=()
for arg in "$@"; do
  case "$arg" in
    --offline) offline=1 ;;
    --save-images) save=1 ;;
    --chaos) chaos=1 ;;
    volunteer|flash-sale|chat) systems+=("$arg") ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
if [ ${#systems[@]} -eq 0 ]; then
  systems=(volunteer flash-sale chat)
fi

tools=(docker kind kubectl)
if [ "$chaos" -eq 1 ]; then tools+=(helm); fi
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "up.sh needs $tool on PATH" >&2; exit 2; }
done

build_image() {
  docker build -f Dockerfile -t "$IMAGE" ..
}

if [ "$save" -eq 1 ]; then
  mkdir -p images
  build_image
  for img in "$NODE_IMAGE" "$NGINX" "$METRICS_IMAGE"; do docker pull "$img"; done
  docker save -o images/node.tar "$NODE_IMAGE"
  docker save -o images/nginx.tar "$NGINX"
  docker save -o images/metrics-server.tar "$METRICS_IMAGE"
  docker save -o images/loadctl-testbed.tar "$IMAGE"
  curl -fsSL -o images/metrics-server.yaml "$METRICS_URL"
  if [ "$chaos" -eq 1 ]; then
    helm pull chaos-mesh --repo https://charts.chaos-mesh.org --version "$CHAOS_MESH_VERSION" -d images
    for img in "${CHAOS_IMAGES[@]}"; do docker pull "$img"; done
    docker save -o images/chaos-mesh.tar "${CHAOS_IMAGES[@]}"
  fi
  echo "saved images in k8s-testbed/images/; use up.sh --offline"
  exit 0
fi

if [ "$offline" -eq 1 ]; then
  docker load -i images/node.tar
else
  build_image
fi

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --config kind-config.yaml --wait 120s
fi

if [ "$offline" -eq 1 ]; then
  for archive in images/nginx.tar images/metrics-server.tar images/loadctl-testbed.tar; do
    kind load image-archive "$archive" --name "$CLUSTER"
  done
else
  kind load docker-image "$IMAGE" --name "$CLUSTER"
  docker pull "$NGINX" && kind load docker-image "$NGINX" --name "$CLUSTER"
fi

# metrics-server, so the HPAs have CPU and memory to act on. kind's kubelets serve
# self-signed certificates: --kubelet-insecure-tls, as kind's documentation says.
if [ "$offline" -eq 1 ]; then
  kubectl apply -f images/metrics-server.yaml
else
  kubectl apply -f "$METRICS_URL"
fi
kubectl -n kube-system patch deployment metrics-server --type=json \
  -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"},
       {"op":"replace","path":"/spec/template/spec/containers/0/imagePullPolicy","value":"IfNotPresent"}]'

for system in "${systems[@]}"; do
  kubectl apply -f "manifests/$system.yaml"
done

# Chaos Mesh for the network-delay and stress drills: kind's nodes run containerd.
if [ "$chaos" -eq 1 ]; then
  if [ "$offline" -eq 1 ]; then
    kind load image-archive images/chaos-mesh.tar --name "$CLUSTER"
    chart="images/chaos-mesh-$CHAOS_MESH_VERSION.tgz"
  else
    for img in "${CHAOS_IMAGES[@]}"; do docker pull "$img" && kind load docker-image "$img" --name "$CLUSTER"; done
    chart="chaos-mesh --repo https://charts.chaos-mesh.org --version $CHAOS_MESH_VERSION"
  fi
  # shellcheck disable=SC2086 # $chart is a chart reference and its options
  helm upgrade --install chaos-mesh $chart --namespace chaos-mesh --create-namespace \
    --set chaosDaemon.runtime=containerd --set chaosDaemon.socketPath=/run/containerd/containerd.sock \
    --set images.tag="v$CHAOS_MESH_VERSION" --set dashboard.create=false --wait --timeout 300s
  kubectl apply -f agents/rbac.yaml -f chaos/rbac.yaml
fi

kubectl -n kube-system rollout status deployment/metrics-server --timeout=180s
declare -A namespace=([volunteer]=volunteer [flash-sale]=flash-sale [chat]=chat)
for system in "${systems[@]}"; do
  ns=${namespace[$system]}
  for d in $(kubectl -n "$ns" get deployments -o name); do
    kubectl -n "$ns" rollout status "$d" --timeout=300s
  done
done

echo
echo "testbed ready:"
for system in "${systems[@]}"; do
  case "$system" in
    volunteer) echo "  volunteer platform (seed 000):   http://127.0.0.1:30081   loadctl run scenarios/activities-list.toml --target http://127.0.0.1:30081" ;;
    flash-sale) echo "  flash sale (seed 003):           http://127.0.0.1:30082   (seed 002 limits: http://127.0.0.1:30084)" ;;
    chat) echo "  chat gateway (seed 004):         ws://127.0.0.1:30083/ws  loadctl run scenarios/chat-smoke.toml --target ws://127.0.0.1:30083" ;;
  esac
done
