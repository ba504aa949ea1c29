#!/usr/bin/env bash
# The container image, built and run as a user would, with no container registry:
#   1. a Debian bookworm minbase root file system from the archive apt already uses
#      (debootstrap), imported as debian:bookworm-slim (skipped when that image exists);
#   2. the image built from the release binary (`cargo build --release`), --pull=never;
#   3. a volume and a secret: an admin and an API token made with the image's own binary, the
#      server started with SECRET_KEY from a podman secret, timed until its HEALTHCHECK passes;
#   4. a file imported through the API and the stats read back;
#   5. SIGTERM, and a clean exit (status 0) well within the stop timeout.
# Prints the image's size and the time from start to healthy (the README's figures).
#
# Needs podman, runc and debootstrap (root, as in CI). Without podman it skips with the reason,
# unless ESCAMAP_CI=1: then it fails. `.ci/run` calls it with ESCAMAP_CI=1.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v podman >/dev/null; then
    if [ "${ESCAMAP_CI:-}" = 1 ]; then
        echo "container test: podman is missing and ESCAMAP_CI=1 requires it" >&2
        exit 1
    fi
    echo "SKIPPED container test: podman is not installed (apt-get install podman runc debootstrap)"
    exit 0
fi

work=$(mktemp -d)
name="escamap-test-$$"
vol="escamap-test-data-$$"
secret="escamap-test-key-$$"
image="localhost/escamap:test"
cleanup() {
    podman rm -f "$name" >/dev/null 2>&1 || true
    podman volume rm -f "$vol" >/dev/null 2>&1 || true
    podman secret rm "$secret" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "container test FAILED: $*" >&2
    podman logs "$name" 2>&1 | tail -20 >&2 || true
    exit 1
}

# On this kind of machine: runc, and no default ulimits (the sandbox refuses to raise them).
cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$work/containers.conf"

# The archive apt uses: the first bookworm URI in its sources, else Debian's own.
mirror() {
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '/^deb / && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

# The base: made afresh in CI; elsewhere an existing debian:bookworm-slim is used as it is.
if [ "${ESCAMAP_CI:-}" = 1 ] || ! podman image exists debian:bookworm-slim; then
    command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
    root="$work/rootfs"
    echo "building debian:bookworm-slim with debootstrap from $(mirror)"
    debootstrap --variant=minbase bookworm "$root" "$(mirror)" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
    # Trimmed as Debian's own slim image is: no package caches or lists, no manuals, documentation
    # (but the copyright files) or translations, and dpkg told to install none later.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
    find "$root/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
    cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
    tar -C "$root" -c . | podman import --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
    rm -rf "$root"
    echo "debian:bookworm-slim: $(( $(podman image inspect debian:bookworm-slim --format '{{.Size}}') / 1024 / 1024 )) MiB"
fi

cargo build --release --locked
podman build --pull=never --network host --format docker -t "$image" -f Containerfile . \
    >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; fail "podman build"; }
size=$(podman image inspect "$image" --format '{{.Size}}')
echo "image $image: $((size / 1024 / 1024)) MiB"

user=$(podman image inspect "$image" --format '{{.Config.User}}')
[ "$user" = escamap ] || fail "the image runs as '$user', not escamap"

podman volume create "$vol" >/dev/null
# One-off commands run without the healthcheck; the server keeps the image's, checked by hand
# here (no systemd to run its timer: --health-interval disable).
printf 'a long enough password\n' | podman run --rm -i --no-healthcheck --network host -v "$vol:/data" "$image" \
    user add ops --role admin >/dev/null || fail "user add"
token=$(podman run --rm --no-healthcheck --network host -v "$vol:/data" "$image" \
    user token ops --label container-test 2>/dev/null)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | podman secret create "$secret" - >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
started=$(date +%s.%N)
podman run -d --name "$name" --network host -v "$vol:/data" --health-interval disable \
    --secret "$secret,type=env,target=SECRET_KEY" \
    -e FLASK_PORT="$port" -e LOG_LEVEL=debug \
    "$image" serve --no-sample >/dev/null 2>"$work/run.log" || { cat "$work/run.log" >&2; fail "podman run"; }
healthy=""
for _ in $(seq 1 600); do
    if podman healthcheck run "$name" >/dev/null 2>&1; then
        healthy=$(date +%s.%N)
        break
    fi
    [ "$(podman inspect "$name" --format '{{.State.Running}}')" = true ] || fail "the container stopped"
    sleep 0.1
done
[ -n "$healthy" ] || fail "never healthy"
awk -v a="$started" -v b="$healthy" 'BEGIN { printf "start to healthy: %.2f s\n", b - a }'

[ "$(podman top "$name" user | tail -1 | tr -d ' ')" = escamap ] || fail "the server does not run as escamap"

base="http://127.0.0.1:$port"
podman run --rm --no-healthcheck "$image" demo-data --rows 1000 --seed 7 --out - >"$work/demo.csv"
report=$(curl -sS --fail-with-body -H "Authorization: Bearer $token" -H 'Content-Type: text/csv' \
    --data-binary "@$work/demo.csv" "$base/api/v1/imports") || fail "import: $report"
imported=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["imported"])' <<<"$report")
total=$(curl -sS --fail-with-body -H "Authorization: Bearer $token" "$base/api/v1/stats" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_escalations"])')
[ "$imported" = 1000 ] && [ "$total" = 1000 ] || fail "imported $imported, stats say $total, expected 1000"
echo "imported $imported rows through the API; the stats read $total"
# The settings came from the environment: the store in /data, no key file made there (SECRET_KEY
# was given), the original's LOG_LEVEL read (debug lines in the log).
data=$(podman exec "$name" ls /data)
grep -qx escamap.db <<<"$data" || fail "the store is not in /data: $data"
! grep -qx escamap.secret <<<"$data" || fail "a key file was made although SECRET_KEY was given"
# (The log is read whole first: `grep -q` would stop reading early, and pipefail would count that.)
podman logs "$name" >"$work/serve.log" 2>&1
grep -q "index built from the store" "$work/serve.log" || fail "LOG_LEVEL=debug was not read"

stop_started=$(date +%s.%N)
podman kill --signal TERM "$name" >/dev/null
code=$(timeout 30 podman wait "$name") || fail "still running 30 s after SIGTERM"
stopped=$(date +%s.%N)
[ "$code" = 0 ] || fail "exit status $code after SIGTERM"
podman logs "$name" >"$work/serve.log" 2>&1
grep -q "shutting down" "$work/serve.log" || fail "no orderly shutdown in the log"
awk -v a="$stop_started" -v b="$stopped" 'BEGIN { printf "SIGTERM to exit 0: %.2f s\n", b - a }'
echo "container test passed"
