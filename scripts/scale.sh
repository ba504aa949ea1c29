#!/usr/bin/env bash
# How cost grows with size: for each size, the demo export imported into a new SQLite store (whole
# process: wall time, peak RSS), then `escamap serve` on it (the index load it logs, the server's RSS
# once loaded, `GET /` p50 under `wrk -t2 -c4 -d5s`), RUNS times; each figure the median (of two: the
# mean of the two). Needs wrk and GNU time.
#   scripts/scale.sh [sizes...]        (default: 100000 1000000 10000000)
# Stats plus the three views come from criterion: ESCAMAP_BENCH_ROWS=N cargo bench --bench engine -- aggregate/stats_plus
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${*:-100000 1000000 10000000}
runs=${RUNS:-2}
port=${ESCAMAP_LOAD_PORT:-5098}
for tool in wrk /usr/bin/time curl; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install wrk time curl)" >&2; exit 1; }
done
cargo build --release --quiet
bin=$PWD/target/release/escamap
dir=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "| escalations | import (wall) | import peak RSS | index load | server RSS | GET / p50 |"
echo "|---|---|---|---|---|---|"
for rows in $sizes; do
    "$bin" demo-data --rows "$rows" --out "$dir/demo.csv" --end 2026-11-24 >/dev/null 2>&1
    : > "$dir/wall"; : > "$dir/rss"; : > "$dir/load"; : > "$dir/srss"; : > "$dir/p50"
    for _ in $(seq 1 "$runs"); do
        rm -f "$dir"/store.db* "$dir/serve.log"
        /usr/bin/time -f "%e %M" -o "$dir/t" "$bin" --db "$dir/store.db" import --max-import-rows 100000000 "$dir/demo.csv" >/dev/null 2>&1
        read -r wall rss < "$dir/t"
        echo "$wall" >> "$dir/wall"; echo $((rss / 1024)) >> "$dir/rss"
        ESCAMAP_LOG_FILE="$dir/serve.log" ESCAMAP_LOG_LEVEL=info \
            "$bin" --db "$dir/store.db" serve --port "$port" --no-sample --no-rate-limit >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
        grep "index loaded" "$dir/serve.log" | grep -o 'duration_ms=[0-9]*' | head -1 | cut -d= -f2 >> "$dir/load"
        grep VmRSS /proc/$pid/status | awk '{print int($2 / 1024)}' >> "$dir/srss"
        wrk -t2 -c4 -d5s --latency "http://127.0.0.1:$port/" | awk '$1 == "50%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; print v }' >> "$dir/p50"
        kill "$pid"; wait "$pid" 2>/dev/null || true
    done
    printf "| %s | %s s | %s MiB | %s ms | %s MiB | %s ms |\n" "$rows" "$(median < "$dir/wall")" "$(median < "$dir/rss")" \
        "$(median < "$dir/load")" "$(median < "$dir/srss")" "$(median < "$dir/p50")"
done
