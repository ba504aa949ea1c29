#!/usr/bin/env bash
# PostgreSQL benchmark: import 1,000,000 demo escalations into a new database, then measure the
# index load at start, and how long an import on one instance takes to show on a second one.
#   scripts/pg-bench.sh [rows]          (server: ESCAMAP_BENCH_PG, default the local one)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
server=${ESCAMAP_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
name=escamap_bench_$$
url="$server/$name"
cargo build --release --quiet
bin=target/release/escamap
dir=$(mktemp -d)
cleanup() {
    kill ${pids:-} 2>/dev/null || true
    wait 2>/dev/null || true
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
    rm -rf "$dir"
}
trap cleanup EXIT
psql "$server/postgres" -qc "CREATE DATABASE $name"
"$bin" demo-data --rows "$rows" --out "$dir/demo.csv" --end 2026-11-24 >/dev/null 2>&1
echo "== import of $rows rows into the new database (one transaction: COPY straight into the empty table, keys built at the commit)"
/usr/bin/time -f "%e" -o "$dir/ours" "$bin" --db "$url" import "$dir/demo.csv"
echo "wall $(cat "$dir/ours") s"
echo "== the same file into a plain table of text columns with psql \copy (the database's own bulk load)"
cols=$(head -1 "$dir/demo.csv" | awk -F, '{ print NF }')
psql "$url" -qc "CREATE TABLE plain ($(seq -s, -f 'c%g text' 1 "$cols"))"
/usr/bin/time -f "%e" -o "$dir/theirs" psql "$url" -qc "\copy plain from '$dir/demo.csv' csv header"
echo "wall $(cat "$dir/theirs") s; ratio of the walls, escamap / psql: $(printf "%.2f" "$(echo "scale=3; $(cat "$dir/ours") / $(cat "$dir/theirs")" | bc)")"
psql "$url" -qc "DROP TABLE plain"
echo "== the same, into a table that keeps a serial key and a unique ticket as escamap's must (built after the copy)"
psql "$url" -qc "CREATE TABLE keyed (id BIGSERIAL, $(seq -s, -f 'c%g text' 1 "$cols"))"
/usr/bin/time -f "%e" -o "$dir/keyed" psql "$url" -qc "\copy keyed ($(seq -s, -f 'c%g' 1 "$cols")) from '$dir/demo.csv' csv header" \
    -c "ALTER TABLE keyed ADD PRIMARY KEY (id)" -c "ALTER TABLE keyed ADD UNIQUE (c1)"
echo "wall $(cat "$dir/keyed") s; ratio of the walls, escamap / this: $(printf "%.2f" "$(echo "scale=3; $(cat "$dir/ours") / $(cat "$dir/keyed")" | bc)")"
psql "$url" -qc "DROP TABLE keyed"

echo "== index load at start (three runs)"
for _ in 1 2 3; do
    ESCAMAP_LOG_LEVEL=info "$bin" --db "$url" serve --port 5098 --no-sample 2>"$dir/serve.log" &
    pid=$!
    for _ in $(seq 1 300); do curl -fs http://127.0.0.1:5098/readyz >/dev/null 2>&1 && break; sleep 0.05; done
    grep -o 'index loaded.*' "$dir/serve.log" | sed 's/\x1b\[[0-9;]*m//g'
    kill $pid; wait $pid 2>/dev/null || true
done

echo "== change feed: an import on A, polled on B (A on core 0, B on core 1, as if on two hosts)"
pids=""
core=0
for port in 5096 5097; do
    pin=""
    command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && pin="taskset -c $core"
    ESCAMAP_LOG_LEVEL=debug $pin "$bin" --db "$url" serve --port $port --no-sample 2>>"$dir/serve.log" &
    pids="$pids $!"
    core=$((core + 1))
done
for port in 5096 5097; do
    for _ in $(seq 1 300); do curl -fs http://127.0.0.1:$port/readyz >/dev/null 2>&1 && break; sleep 0.05; done
done
scripts/change.sh 1000 BENCH >"$dir/change.csv"
total() { curl -fs "http://127.0.0.1:$1/api/v1/stats" | sed 's/.*"total_escalations":\([0-9]*\).*/\1/'; }
for round in 1 2 3; do
    scripts/change.sh 1000 "BENCH$round" >"$dir/change.csv"
    before=$(total 5097)
    # From the request to A (so A's reading and commit are counted too) to B answering with the
    # change; and when A answered (after its commit and its own index update).
    start=$(date +%s%N)
    curl -fs -H 'content-type: text/csv' --data-binary @"$dir/change.csv" http://127.0.0.1:5096/api/v1/imports >/dev/null
    answered=$(( ($(date +%s%N) - start) / 1000000 ))
    while [ "$(total 5097)" = "$before" ]; do :; done
    echo "1,000 rows imported on A: A answered after $answered ms; visible on B $(( ($(date +%s%N) - start) / 1000000 )) ms after the request ($rows rows in the index)"
done
grep -o 'index updated.*' "$dir/serve.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -6
