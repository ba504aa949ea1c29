#!/usr/bin/env bash
# Load benchmark: 1,000,000 demo escalations in a fresh store, the release server, and wrk against
# the dashboard, the heatmap API, the data page, the insights and accounts API and the accounts page. Needs wrk (Debian package `wrk`).
#   scripts/load.sh [rows] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
secs=${2:-10}
port=${ESCAMAP_LOAD_PORT:-5099}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/escamap
dir=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" demo-data --rows "$rows" --out "$dir/demo.csv" --end 2026-11-24
"$bin" --db "$dir/load.db" import "$dir/demo.csv"
# --no-rate-limit: this measures the server, not the per-client limits (which would answer 429).
"$bin" --db "$dir/load.db" serve --port "$port" --no-sample --no-rate-limit 2>"$dir/serve.log" &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
for path in "/" "/?tab=client-overview&product=API&from=2025-11-24&to=2026-11-24" \
            "/api/v1/heatmap?view=product-timeline" "/data" "/data?sort=client&order=asc&page=100" \
            "/api/v1/insights" "/api/v1/accounts" "/accounts"; do
    echo "== GET $path"
    wrk -t2 -c4 -d"${secs}s" --latency "http://127.0.0.1:$port$path" | grep -E "Requests/sec|  50%|  99%|Non-2xx|Socket errors"
done
echo "peak RSS of the server: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
echo "RSS of the server now: $(grep VmRSS /proc/$pid/status | awk '{print $2, $3}')"
