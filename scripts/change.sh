#!/usr/bin/env bash
# Writes a CSV of N new escalations with tickets PREFIX-1..N (the change the visibility benchmarks
# import into a big store), opened over the two years before 2026-11-24.
#   scripts/change.sh N PREFIX > file.csv
set -euo pipefail
n=${1:-1000}
prefix=${2:-CHG}
echo "id,client,product,region,severity,opened"
awk -v n="$n" -v p="$prefix" 'BEGIN {
    split("low medium high critical", sev, " ");
    end = mktime("2026 11 24 12 00 00");
    for (i = 1; i <= n; i++) {
        day = strftime("%Y-%m-%d", end - ((i * 7) % 700) * 86400);
        printf "%s-%d,Change Client %d,Billing,Europe,%s,%s\n", p, i, i % 50, sev[i % 4 + 1], day;
    }
}'
