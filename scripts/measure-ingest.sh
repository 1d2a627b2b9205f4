#!/usr/bin/env bash
# Ingests LINES lines from one emulated source into a fresh database (release build), prints the
# rate, then times REQUESTS sequential GETs of QUERY on that database and prints median and p99.
#
#   scripts/measure-ingest.sh [LINES=800000] [QUERY=/logs?code=500] [REQUESTS=200]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-800000}
query=${2:-/logs?code=500}
requests=${3:-200}

cargo build --release --quiet
bin=target/release/loggerator
work=$(mktemp -d)
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Both processes listen on port 0 and log the address they got.
address_in() {
    until grep -Eo "$2[0-9.]+:[0-9]+" "$1" 2>/dev/null | head -1 | sed "s|$2||"; do sleep 0.05; done
}
"$bin" emulate --port 0 --count "$lines" 2>"$work/emulate.log" &
source=$(address_in "$work/emulate.log" "source on ")

start=$(date +%s.%N)
"$bin" serve --source "$source" --db "$work/bench.db" --listen 127.0.0.1:0 2>"$work/serve.log" &
api=$(address_in "$work/serve.log" "http://")
until curl -sf "http://$api/sources" | grep -q '"finished"'; do sleep 0.05; done
end=$(date +%s.%N)

# VmHWM: the peak resident set of the service so far.
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$(jobs -p | tail -1)/status")
db_bytes=$(du -cb "$work"/bench.db* | tail -1 | cut -f1)
python3 - "$start" "$end" "$lines" "$rss_kb" "$db_bytes" <<'PY'
import sys
start, end, lines, rss_kb, db_bytes = map(float, sys.argv[1:])
print(f"ingest: {lines:.0f} lines in {end - start:.1f} s = {lines / (end - start):,.0f} lines/s; "
      f"peak RSS {rss_kb / 1024:.0f} MiB; database {db_bytes / 2**20:.0f} MiB")
PY

for _ in $(seq "$requests"); do
    curl -sf -o /dev/null -w '%{time_total}\n' "http://$api$query"
done | sort -n | python3 -c "
import sys
t = [float(x) * 1000 for x in sys.stdin]
print(f'GET $query: {len(t)} requests, median {t[len(t) // 2]:.2f} ms, p99 {t[int(len(t) * 0.99) - 1]:.2f} ms')
"
