#!/bin/bash
# Runs Tern the way the pod does, without docker or a cluster: the framework-dependent publish of the Dockerfile's
# build stage, under bubblewrap with a read-only root, /tmp the only writable place (a tmpfs), uid/gid 1654, the
# model read-only at /models/model.gguf and the image's environment; then checks /health, /metrics and a completion,
# and that nothing was written to /tmp.
#   docs/deploy/check-readonly.sh MODEL.gguf [tern serve flags...]     (from the repository root)
set -euo pipefail
model=$(realpath "$1"); shift
port=${PORT:-18080}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

dotnet publish src/Tern.Cli -c Release -a "$(dpkg --print-architecture 2>/dev/null || echo amd64)" --no-self-contained -o "$work/app" > "$work/publish.log"
bwrap --unshare-user --uid 1654 --gid 1654 --die-with-parent \
    --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/bin /bin --ro-bind /etc /etc \
    --ro-bind "$work/app" /app --ro-bind "$model" /models/model.gguf --dir /home/app \
    --proc /proc --dev /dev --tmpfs /tmp --remount-ro / \
    --clearenv --setenv PATH /usr/bin --setenv HOME /home/app \
    --setenv DOTNET_EnableDiagnostics 0 --setenv TMPDIR /tmp --setenv ASPNETCORE_HTTP_PORTS "" \
    /app/tern serve --host 0.0.0.0 --port "$port" -m /models/model.gguf "$@" > "$work/serve.log" 2>&1 &
server=$!

for _ in $(seq 1 600); do
    curl -sf "localhost:$port/health" > /dev/null && break
    kill -0 $server 2>/dev/null || { cat "$work/serve.log"; echo "FAIL: the server exited"; exit 1; }
    sleep 0.5
done
curl -sf "localhost:$port/health"; echo
curl -sf "localhost:$port/metrics" | grep -E '^vllm:(num_requests_waiting|num_requests_running|kv_cache_usage_perc|cache_config_info)'
curl -sf "localhost:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8}' | head -c 300; echo
tern=$(pgrep -n -f "^/app/tern serve --host 0.0.0.0 --port $port ")
written=$(ls -A "/proc/$tern/root/tmp")
[ -z "$written" ] || { echo "FAIL: written to /tmp: $written"; exit 1; }
echo "OK: served on a read-only root as uid 1654 (inside its user namespace), nothing written to /tmp, $(grep VmRSS /proc/$tern/status | tr -s " ")"
