#!/usr/bin/env bash
# How soon a change shows (issue 16), on a SQLite store of N demo escalations (default 1,000,000):
#  1. a 1,000-row import through the server's API: the server commits, applies the change to its
#     index and then answers, so the change is visible when the answer comes; the time from the
#     commit to the new index is the server's own "index updated" line (duration_ms);
#  2. a 1,000-row `escamap import` beside the server: from the command's exit (its commit) to
#     the server's stats showing the rows.
# Three rounds of each.
#   scripts/visibility.sh [rows]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
cargo build --release --quiet
bin=$PWD/target/release/escamap
dir=$(mktemp -d)
cleanup() {
    kill ${pid:-} 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
db="$dir/v.db"
"$bin" demo-data --rows "$rows" --out "$dir/demo.csv" --end 2026-11-24 >/dev/null 2>&1
"$bin" --db "$db" import --max-import-rows "$rows" "$dir/demo.csv" >/dev/null 2>&1
echo 'a long bench password' | "$bin" --db "$db" user add bench --role admin >/dev/null 2>&1
token=$("$bin" --db "$db" user token bench --label bench | tail -1)
port=5095
ESCAMAP_LOG_LEVEL=debug ESCAMAP_LOG_FILE="$dir/serve.log" "$bin" --db "$db" serve --port $port --no-sample >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do curl -fs http://127.0.0.1:$port/readyz >/dev/null 2>&1 && break; sleep 0.05; done
total() { curl -fs -H "authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/stats" | sed 's/.*"total_escalations":\([0-9]*\).*/\1/'; }
sed 's/\x1b\[[0-9;]*m//g' "$dir/serve.log" | grep -o 'index built from the store.*'

echo "== 1,000 rows imported through the server's API"
for round in 1 2 3; do
    scripts/change.sh 1000 "API$round" >"$dir/change.csv"
    curl -fs -H "authorization: Bearer $token" -H 'content-type: text/csv' \
        --data-binary @"$dir/change.csv" http://127.0.0.1:$port/api/v1/imports >/dev/null
    sed 's/\x1b\[[0-9;]*m//g' "$dir/serve.log" | grep -o 'index updated.*' | tail -1
done

echo "== 1,000 rows imported by escamap import beside the server"
for round in 1 2 3; do
    scripts/change.sh 1000 "CLI$round" >"$dir/change.csv"
    before=$(total)
    "$bin" --db "$db" import "$dir/change.csv" >/dev/null 2>&1
    start=$(date +%s%N)
    while [ "$(total)" = "$before" ]; do :; done
    echo "visible $(( ($(date +%s%N) - start) / 1000000 )) ms after the command's commit ($rows rows in the index)"
    sed 's/\x1b\[[0-9;]*m//g' "$dir/serve.log" | grep -o 'index updated.*' | tail -1
done
