#!/usr/bin/env bash
# The store-traffic sign, end to end on one machine:
#   hubcast-service (port 8888)  <- REST --  hubcast-bridge (port 7071, store_sign.so, --static)
#        ^ WebSocket                              ^ device HTTPS API
#   browser sign page                         door-counter simulator
# Builds what is missing, starts the three, prints the URL; Ctrl-C stops all.
# Usage: samples/store-sign/run.sh   (env: BUILD=build SERVICE_PORT=8888 BRIDGE_PORT=7071)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${BUILD:-$root/build}"
service_port="${SERVICE_PORT:-8888}"
bridge_port="${BRIDGE_PORT:-7071}"
signalr_js="$root/conformance/node_modules/@microsoft/signalr/dist/browser/signalr.min.js"

[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" --target hubcast-service hubcast-bridge store_sign -j"$(nproc)" >/dev/null
if [ ! -f "$signalr_js" ]; then
  echo "run.sh: $signalr_js missing; run scripts/setup.sh (it installs the npm packages)" >&2
  exit 1
fi

# The served directory: the pages plus the browser build of @microsoft/signalr.
www="$build/samples/store-sign/www"
mkdir -p "$www"
cp "$here"/web/*.html "$www"/
cp "$signalr_js" "$www"/

pids=()
cleanup() {
  trap - INT TERM EXIT
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "store-sign: stopped"
}
trap cleanup INT TERM EXIT

"$build/hubcast-service" --port "$service_port" > "$build/samples/store-sign/service.out" &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://localhost:$service_port/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done
export AzureSignalRConnectionString
AzureSignalRConnectionString="$(head -n1 "$build/samples/store-sign/service.out")"

"$build/hubcast-bridge" --port "$bridge_port" --hub store \
  --transform "$build/samples/store-sign/store_sign.so" --static "$www" \
  --device-registry "$here/devices.json" &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$bridge_port/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done

node "$here/simulator.mjs" "http://127.0.0.1:$bridge_port" &
pids+=($!)

cat <<MSG

  Store sign:      http://localhost:$bridge_port/?store=s1   (also ?store=s2)
  Telemetry chart: http://localhost:$bridge_port/chart.html

  Ctrl-C stops hubcast-service, hubcast-bridge and the simulator.
MSG
wait
