#!/usr/bin/env bash
# Import benchmark: `escamap import` of the demo export into a new SQLite store, against SQLite's own
# shell loading the same file into a plain table (`.import --csv`), in the same run. For each, the
# whole process's wall time, CPU (user + system) and peak RSS, the run with the median CPU of RUNS;
# then the CPU ratio.
#   scripts/import-bench.sh [rows] [runs]
# Needs sqlite3 (Debian package `sqlite3`), GNU time (`time`) and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
runs=${2:-3}
for tool in sqlite3 bc /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install sqlite3 bc time)" >&2; exit 1; }
done
cargo build --release --quiet
bin=$PWD/target/release/escamap
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" demo-data --rows "$rows" --out "$dir/demo.csv" --end 2026-11-24 >/dev/null 2>&1
echo "file: $rows rows, $(du -m "$dir/demo.csv" | cut -f1) MB, $runs runs each"
# measure LABEL COMMAND...: prints the median run; leaves its CPU seconds in $dir/cpu.
measure() {
    local label=$1; shift
    : > "$dir/runs"
    for _ in $(seq 1 "$runs"); do
        rm -f "$dir"/store.db* "$dir"/plain.db
        /usr/bin/time -f "%e %U %S %M" -o "$dir/t" "$@" >/dev/null 2>&1
        read -r wall user sys rss < "$dir/t"
        echo "$wall $(echo "$user + $sys" | bc) $((rss / 1024))" >> "$dir/runs"
    done
    sort -k2 -n "$dir/runs" | sed -n "$(( (runs + 1) / 2 ))p" > "$dir/median"
    read -r wall cpu rss < "$dir/median"
    printf '%-40s wall %6.2f s   cpu %6.2f s   peak RSS %5d MiB\n' "$label" "$wall" "$cpu" "$rss"
    echo "$cpu" > "$dir/cpu"
}
measure "escamap import (new SQLite store)" "$bin" --db "$dir/store.db" import "$dir/demo.csv"
ours=$(cat "$dir/cpu")
measure "sqlite3 .import --csv (plain table)" sqlite3 "$dir/plain.db" ".import --csv $dir/demo.csv t"
theirs=$(cat "$dir/cpu")
echo "CPU ratio, escamap / sqlite3: $(echo "scale=2; $ours / $theirs" | bc)"
