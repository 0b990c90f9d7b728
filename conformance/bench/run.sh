#!/usr/bin/env bash
# conformance/bench/run.sh: run every benchmark scenario of issue 10 against
# hubcast-service and (where it applies) the Node `ws` baseline, and write the
# results into docs/performance.md (between the BEGIN/END bench markers).
#
#   run.sh              full sizes, 3 runs per scenario (median reported)
#   run.sh --quick      same scenarios, short runs, 1 run each
#   run.sh --smoke      tiny (CI, ctest -L bench): checks only that messages
#                       flowed on every transport; never timings; no doc
# Options: --service BIN --loadgen BIN --runs N --no-node --out FILE
#          --only "fanout lat1 ..." (scenario names, see below)
#
# Server on CPU 0, load generator on CPU 1 (taskset), when 2+ CPUs exist.
# Everything binds 127.0.0.1, every run is bounded and stops by itself.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
svc="$root/build-bench/hubcast-service"
lg="$root/build-bench/hubcast-loadgen"
out="$root/docs/performance.md"
mode=full
runs=3
use_node=1
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick; runs=1 ;;
    --smoke) mode=smoke; runs=1; use_node=0 ;;
    --service) svc=$2; shift ;;
    --loadgen) lg=$2; shift ;;
    --runs) runs=$2; shift ;;
    --no-node) use_node=0 ;;
    --out) out=$2; shift ;;
    --only) only=$2; shift ;;
    *) echo "usage: $0 [--quick|--smoke] [--service BIN] [--loadgen BIN] [--runs N] [--no-node] [--out FILE] [--only LIST]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$svc" ] || { echo "run.sh: no service binary at $svc (build build-bench first)" >&2; exit 2; }
[ -x "$lg" ] || { echo "run.sh: no loadgen binary at $lg" >&2; exit 2; }
node_server="$here/baselines/ws-server.mjs"
if [ $use_node = 1 ] && { ! command -v node >/dev/null || [ ! -d "$root/conformance/node_modules/ws" ]; }; then
  echo "run.sh: node or the ws package missing: no baseline" >&2
  use_node=0
fi

# File descriptors: one process may hold ~20 000 sockets here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fdmax=$(ulimit -n)

tmp=$(mktemp -d /tmp/hubcast-bench.XXXXXX)
srv_pid=""
cleanup() {
  [ -n "$srv_pid" ] && kill -9 "$srv_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

ncpu=$(nproc)
if [ "$ncpu" -ge 2 ] && [ $mode != smoke ] && command -v taskset >/dev/null; then
  pin_srv="taskset -c 0"
  pin_lg="taskset -c 1"
else
  pin_srv=""
  pin_lg=""
fi

# start_server hubcast|node  -> sets srv_pid, srv_port
start_server() {
  local kind=$1
  : >"$tmp/srv.out"
  if [ "$kind" = hubcast ]; then
    local pl=""
    command -v prlimit >/dev/null && pl="prlimit --nofile=$fdmax:$fdmax"
    $pin_srv $pl "$svc" --port 0 --host 127.0.0.1 --log-level warn >"$tmp/srv.out" 2>"$tmp/srv.err" &
  else
    $pin_srv node "$node_server" --port 0 >"$tmp/srv.out" 2>"$tmp/srv.err" &
  fi
  srv_pid=$!
  for _ in $(seq 100); do
    grep -q 'Port=' "$tmp/srv.out" 2>/dev/null && break
    sleep 0.05
  done
  srv_port=$(sed -n 's/.*Port=\([0-9]*\);.*/\1/p' "$tmp/srv.out")
  if [ -z "$srv_port" ]; then
    echo "run.sh: $kind did not start:" >&2
    cat "$tmp/srv.err" >&2
    exit 1
  fi
}

stop_server() {
  kill -TERM "$srv_pid" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  srv_pid=""
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# field NAME <<< "RESULT k=v ..."
field() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

# run_lg SERVERKIND ARGS... -> prints the RESULT line (fresh server each run)
run_lg() {
  local kind=$1; shift
  start_server "$kind"
  local line
  line=$(timeout 180 $pin_lg "$lg" --port "$srv_port" --server-pid "$srv_pid" "$@" 2>"$tmp/lg.err" | grep '^RESULT' || true)
  stop_server
  if [ -z "$line" ]; then
    echo "run.sh: loadgen produced no result ($kind $*):" >&2
    tail -5 "$tmp/lg.err" >&2
    line="RESULT failed=1"
  fi
  echo "$line"
}

# idle_run SERVERKIND N -> "held rss_kb_per_conn"
idle_run() {
  local kind=$1 n=$2
  local procs=$(( (n + 9499) / 9500 ))
  local per=$(( (n + procs - 1) / procs ))
  local src=1
  [ "$n" -gt 28000 ] && src=4
  start_server "$kind"
  sleep 0.3
  local rss0; rss0=$(rss_kb "$srv_pid")
  local pids=() i
  for i in $(seq "$procs"); do
    timeout 180 $pin_lg "$lg" --mode idle --skip-negotiate --subs "$per" --hold 6 --setup-conc 512 \
      --src-ips "$src" --port "$srv_port" >"$tmp/idle.$i" 2>&1 &
    pids+=($!)
  done
  # Wait until every process printed READY (bounded).
  for _ in $(seq 600); do
    local ready; ready=$(cat "$tmp"/idle.* 2>/dev/null | grep -c '^READY' || true)
    [ "$ready" -ge "$procs" ] && break
    sleep 0.1
  done
  sleep 1
  local rss1; rss1=$(rss_kb "$srv_pid")
  local held; held=$(cat "$tmp"/idle.* | sed -n 's/^READY live=//p' | awk '{s+=$1} END {print s+0}')
  wait "${pids[@]}" 2>/dev/null || true
  rm -f "$tmp"/idle.*
  stop_server
  awk -v h="$held" -v a="$rss0" -v b="$rss1" 'BEGIN {printf "%d %.2f %d\n", h, h ? (b-a)/h : 0, b}'
}

# ---------------------------------------------------------------------------
if [ $mode = smoke ]; then
  fail=0
  for tr in ws sse lp; do
    line=$(run_lg hubcast --transport "$tr" --subs 20 --warmup 0.2 --duration 0.5 --drain 2 --setup-timeout 10)
    d=$(field delivered <<<"$line"); lost=$(field lost <<<"$line")
    echo "bench smoke $tr: delivered=${d:-0} lost=${lost:-?}"
    if [ "${d:-0}" -le 0 ] || [ "${lost:-1}" != 0 ]; then fail=1; echo "$line"; fi
  done
  line=$(run_lg hubcast --subs 20 --group-size 5 --warmup 0.2 --duration 0.5 --drain 2 --setup-timeout 10)
  d=$(field delivered <<<"$line"); echo "bench smoke groups: delivered=${d:-0}"
  [ "${d:-0}" -gt 0 ] || fail=1
  line=$(run_lg hubcast --mode connect --concurrency 4 --warmup 0.1 --duration 0.5)
  d=$(field connects <<<"$line"); echo "bench smoke connect: connects=${d:-0}"
  [ "${d:-0}" -gt 0 ] || fail=1
  exit $fail
fi

if [ $mode = quick ]; then
  dur=2; warm=0.5; idle_n=4000
else
  dur=5; warm=1; idle_n=19000
fi
want() { [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; }

declare -A R   # R[scenario.server.metric] = median
log="$tmp/runs.log"
: >"$log"
# scenario NAME "SERVERKINDS" METRICS -- loadgen args
# Runs alternate between the servers (hubcast, node, hubcast, node, ...) so
# that both see the same drift in this VM's speed, which is large (see
# docs/performance.md, "Status").
scenario() {
  local name=$1 kinds=$2 metrics=$3; shift 4
  local i m line kind
  echo "== $name on $kinds ($runs run(s) each, alternating; load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  for i in $(seq "$runs"); do
    for kind in $kinds; do
      line=$(run_lg "$kind" "$@")
      echo "$name $kind $line" >>"$log"
      echo "   $kind: $line" | cut -c1-400 >&2
    done
  done
  for kind in $kinds; do
    for m in $metrics lg_cpu_pct srv_cpu_s lost closed; do
      R[$name.$kind.$m]=$(grep "^$name $kind " "$log" | while read -r l; do field "$m" <<<"$l"; done | median)
    done
  done
}

# Host speed probe: this VM's speed drifts by tens of percent while the
# load average stays low (another tenant on the host), so print a fixed
# syscall-bound job's rate next to the results: 1 M 64-byte read+write
# pairs through dd on the server's CPU, in MB/s (higher = faster host).
host_probe() { ${pin_srv:-} dd if=/dev/zero of=/dev/null bs=64 count=1000000 2>&1 | awk '/copied/ {print $(NF-1)}'; }
probe_before=$(host_probe)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%MZ)
common=(--warmup "$warm" --duration "$dur" --drain 3 --setup-timeout 60)
servers="hubcast"
[ $use_node = 1 ] && servers="hubcast node"

s=$servers
want fanout && scenario fanout "$s" "deliveries_per_s p50_us p99_us" -- --subs 1000 --window 32 --pub-conns 16 "${common[@]}"
want lat1 && scenario lat1 "$s" "p50_us p99_us max_us" -- --subs 1 --rate 500 --pub-conns 1 "${common[@]}"
want lat1000 && scenario lat1000 "$s" "p50_us p99_us max_us deliveries_per_s" -- --subs 1000 --rate 100 --pub-conns 2 "${common[@]}"
# Group send: each publish reaches only 10 sockets, so the per-turn costs
# (one poll() over every socket) are shared by fewer deliveries than in a
# broadcast; 64 publishers in flight (as from several function instances)
# let one loop turn take ~30 publishes (docs/performance.md, "Group send").
want group && scenario group "$s" "publishes_per_s deliveries_per_s p99_us" -- --subs 1000 --group-size 10 --window 64 --pub-conns 64 "${common[@]}"
want connect && scenario connect "$s" "connects_per_s p50_us p99_us" -- --mode connect --concurrency 64 --warmup "$warm" --duration "$dur"
want sse && scenario sse hubcast "deliveries_per_s p99_us" -- --transport sse --subs 1000 --window 32 --pub-conns 16 "${common[@]}"
# 16 publisher connections (16 publishes in flight) so that several
# publishes reach a subscriber's queue before it is writable: each write
# then carries several records (docs/performance.md, "fan-out").
# Long polling with 1 000 subscribers: a parked poll no longer holds one of
# lws's header tables.
want lp && scenario lp hubcast "deliveries_per_s p99_us" -- --transport lp --subs 1000 --window 32 --pub-conns 16 "${common[@]}"

if want idle; then
  for s in $servers; do
    echo "== idle on $s ($idle_n connections)" >&2
    vals=()
    for i in $(seq "$runs"); do
      v=$(idle_run "$s" "$idle_n"); echo "   held/kb-per-conn/rss-kb: $v" >&2
      echo "idle $s RESULT held=$(cut -d' ' -f1 <<<"$v") kb_per_conn=$(cut -d' ' -f2 <<<"$v") rss_kb=$(cut -d' ' -f3 <<<"$v")" >>"$log"
    done
    for m in held kb_per_conn rss_kb; do
      R[idle.$s.$m]=$(grep "^idle $s " "$log" | while read -r l; do field "$m" <<<"$l"; done | median)
    done
  done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
probe_after=$(host_probe)

# ---------------------------------------------------------------------------
# Report
g() { echo "${R[$1]:-n/a}"; }
ratio() { awk -v a="$(g "$1")" -v b="$(g "$2")" 'BEGIN { if (a+0>0 && b+0>0) printf "%.2f×", a/b; else print "n/a" }'; }
percpu() { awk -v a="$(g "$1")" -v c="$(g "$2")" -v d="$dur" 'BEGIN { if (a+0>0 && c+0>0) printf "%.0f", a*d/c; else print "n/a" }'; }
fmt() { awk -v a="$(g "$1")" 'BEGIN { if (a ~ /^[0-9.e+-]+$/) printf "%.0f", a; else print a }'; }
ms() { awk -v a="$(g "$1")" 'BEGIN { if (a ~ /^[0-9.e+-]+$/) printf "%.3f", a/1000; else print a }'; }
pf() { if awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { if (a !~ /^[0-9.e+-]+$/) exit 1; if (op == ">=") exit !(a+0 >= b+0); exit !(a+0 <= b+0) }'; then echo pass; else echo "**FAIL**"; fi; }

cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
block="$tmp/block.md"
{
  echo "<!-- BEGIN bench results (generated by conformance/bench/run.sh; do not edit by hand) -->"
  echo "### Results: $started, mode \`$mode\`, $runs run(s) per scenario (median)"
  echo
  echo "- Machine: $cpu_model, $ncpu CPU(s), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
  echo "- Load average (1/5/15 min) before: $load_before; after: $load_after"
  echo "- Host speed probe (dd, 64-byte read+write pairs on the server's CPU): before ${probe_before:-?} MB/s, after ${probe_after:-?} MB/s"
  echo "- Pinning: server \`${pin_srv:-none}\`, load generator \`${pin_lg:-none}\`; fd limit $fdmax"
  echo "- Windows: warm-up ${warm} s, measured ${dur} s; per-server-CPU-second = measured count / server CPU seconds in the window"
  echo
  echo "| scenario | hubcast | Node \`ws\` baseline | ratio | bar | hubcast per server-CPU-s | loadgen CPU % (hubcast run) |"
  echo "|---|---|---|---|---|---|---|"
  f=fanout.hubcast
  echo "| broadcast fan-out, 1 000 subs, 64 B (deliveries/s) | $(fmt $f.deliveries_per_s) | $(fmt fanout.node.deliveries_per_s) | $(ratio $f.deliveries_per_s fanout.node.deliveries_per_s) | ≥ 500 000 and ≥ 4×: $(pf "$(g $f.deliveries_per_s)" ">=" 500000) / $(pf "$(awk -v a="$(g $f.deliveries_per_s)" -v b="$(g fanout.node.deliveries_per_s)" 'BEGIN{ if (b+0>0) print a/b; else print "x"}')" ">=" 4) | $(percpu $f.deliveries_per_s $f.srv_cpu_s) | $(g $f.lg_cpu_pct) |"
  f=lat1.hubcast
  echo "| REST → receive, 1 sub, 500/s: p50 / p99 / max (ms) | $(ms $f.p50_us) / $(ms $f.p99_us) / $(ms $f.max_us) | $(ms lat1.node.p50_us) / $(ms lat1.node.p99_us) / $(ms lat1.node.max_us) | | p50 ≤ 0.3: $(pf "$(g $f.p50_us)" "<=" 300), p99 ≤ 1: $(pf "$(g $f.p99_us)" "<=" 1000) | | $(g $f.lg_cpu_pct) |"
  f=lat1000.hubcast
  echo "| REST → receive, 1 000 subs, 100/s: p50 / p99 / max (ms) | $(ms $f.p50_us) / $(ms $f.p99_us) / $(ms $f.max_us) | $(ms lat1000.node.p50_us) / $(ms lat1000.node.p99_us) / $(ms lat1000.node.max_us) | | p99 ≤ 10: $(pf "$(g $f.p99_us)" "<=" 10000) | | $(g $f.lg_cpu_pct) |"
  echo "| idle WebSockets held: count / user-space KB per conn | $(g idle.hubcast.held) / $(g idle.hubcast.kb_per_conn) | $(g idle.node.held) / $(g idle.node.kb_per_conn) | $(ratio idle.node.kb_per_conn idle.hubcast.kb_per_conn) less | $idle_n held, ≤ 4 KB: $(pf "$(g idle.hubcast.held)" ">=" "$idle_n") / $(pf "$(g idle.hubcast.kb_per_conn)" "<=" 4) | | |"
  f=group.hubcast
  echo "| group send, 10-member groups: in / out (msgs/s) | $(fmt $f.publishes_per_s) / $(fmt $f.deliveries_per_s) | $(fmt group.node.publishes_per_s) / $(fmt group.node.deliveries_per_s) | $(ratio $f.deliveries_per_s group.node.deliveries_per_s) | 10 000 / 100 000: $(pf "$(g $f.publishes_per_s)" ">=" 10000) | $(percpu $f.deliveries_per_s $f.srv_cpu_s) out | $(g $f.lg_cpu_pct) |"
  echo "| SSE broadcast, 1 000 subs (deliveries/s) | $(fmt sse.hubcast.deliveries_per_s) | – | $(ratio sse.hubcast.deliveries_per_s fanout.hubcast.deliveries_per_s) of WS | ≥ 70 % of WS: $(pf "$(awk -v a="$(g sse.hubcast.deliveries_per_s)" -v b="$(g fanout.hubcast.deliveries_per_s)" 'BEGIN{ if (b+0>0) print a/b; else print "x"}')" ">=" 0.7) | $(percpu sse.hubcast.deliveries_per_s sse.hubcast.srv_cpu_s) | $(g sse.hubcast.lg_cpu_pct) |"
  echo "| long-polling broadcast, 1 000 subs (deliveries/s; lost) | $(fmt lp.hubcast.deliveries_per_s); lost $(g lp.hubcast.lost) | – | | ≥ 50 000, no loss: $(pf "$(g lp.hubcast.deliveries_per_s)" ">=" 50000) / $(pf "$(g lp.hubcast.lost)" "<=" 0) | $(percpu lp.hubcast.deliveries_per_s lp.hubcast.srv_cpu_s) | $(g lp.hubcast.lg_cpu_pct) |"
  f=connect.hubcast
  echo "| connect rate, negotiate + WS + handshake (per s) | $(fmt $f.connects_per_s) | $(fmt connect.node.connects_per_s) | $(ratio $f.connects_per_s connect.node.connects_per_s) | ≥ 3 000: $(pf "$(g $f.connects_per_s)" ">=" 3000) | $(percpu $f.connects_per_s $f.srv_cpu_s) | $(g $f.lg_cpu_pct) |"
  echo
  echo "Azure SignalR Service, per unit: 1 000 connections, 2 000 broadcast messages/s out."
  echo "hubcast's broadcast rate equals $(awk -v a="$(g fanout.hubcast.deliveries_per_s)" 'BEGIN { if (a+0>0) printf "%.0f", a/2000; else print "n/a" }') units' worth of outbound messages; its idle footprint"
  echo "is $(g idle.hubcast.kb_per_conn) KB per connection."
  echo
  echo "<details><summary>Every run (RESULT lines)</summary>"
  echo
  echo '```'
  cat "$log"
  echo '```'
  echo "</details>"
  echo "<!-- END bench results -->"
} >"$block"

if [ -f "$out" ] && grep -q '^<!-- BEGIN bench results' "$out"; then
  awk -v f="$block" '
    /^<!-- BEGIN bench results/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /^<!-- END bench results/ { skip = 0; next }
    !skip { print }' "$out" >"$tmp/doc.md"
  cp "$tmp/doc.md" "$out"
else
  { echo "# Performance"; echo; cat "$block"; } >>"$out"
fi
cat "$block"
echo "run.sh: results written to $out" >&2
