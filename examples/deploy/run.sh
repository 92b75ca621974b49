#!/usr/bin/env bash
# examples/deploy/run.sh — N `vkagent serve` replicas behind HAProxy (Debian's
# haproxy package), all on this machine: the balancer on PORT, the replicas
# on PORT+1 .. PORT+N. HAProxy checks GET /health every half second, so a
# replica that is loading or stopping (503) gets no new requests; a request
# refused by a stopping replica is retried on another one. Ctrl-C or SIGTERM
# stops everything (the replicas finish what they are doing first).
#
#   examples/deploy/run.sh MODEL [N=2] [PORT=8080]
#
# Environment: VKAGENT (the program, default build/cli/vkagent), VKAGENT_API_KEY
# (passed to the replicas), VKAGENT_DEPLOY_DIR (where the configuration, the
# logs and the replicas' pid files go; default a new temporary folder),
# VKAGENT_HOST (the balancer's address, default 127.0.0.1). docs/deploy.md
# explains the configuration and how to spread replicas over machines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=${1:?usage: run.sh MODEL [N] [PORT]}
n=${2:-2}
port=${3:-8080}
vkagent=${VKAGENT:-$here/../../build/cli/vkagent}
host=${VKAGENT_HOST:-127.0.0.1}
dir=${VKAGENT_DEPLOY_DIR:-$(mktemp -d -t vkagent-deploy.XXXXXX)}
mkdir -p "$dir"
command -v haproxy >/dev/null || { echo "run.sh: haproxy is missing (apt-get install haproxy)" >&2; exit 1; }

pids=()
stop_all() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
}
trap stop_all INT TERM EXIT

servers=""
for i in $(seq 1 "$n"); do
  p=$((port + i))
  "$vkagent" serve -m "$model" --host 127.0.0.1 --port "$p" 2>"$dir/replica-$i.log" &
  pids+=($!)
  echo $! >"$dir/replica-$i.pid"
  servers+="    server r$i 127.0.0.1:$p check"$'\n'
done

# The balancer: the template below with the address and the replicas filled in.
sed -e "s|@BIND@|$host:$port|" "$here/haproxy.cfg.in" >"$dir/haproxy.cfg"
printf '%s' "$servers" >>"$dir/haproxy.cfg"
haproxy -f "$dir/haproxy.cfg" -db >"$dir/haproxy.log" 2>&1 &
balancer=$!
pids+=("$balancer")
echo "$balancer" >"$dir/haproxy.pid"

echo "run.sh: $n replicas behind http://$host:$port/v1 (logs and pids in $dir)" >&2
# Until the balancer is gone or a signal comes: a replica that stops (say,
# for an upgrade) leaves the others serving.
wait "$balancer" || true
