#!/bin/sh
# Runs ninefold's benchmark suite and prints a markdown table (see BENCHMARKS.md).
#
#   bench/run.sh [ninefold-bench options]     e.g. --runs 3 --stat-ops 5000
#   bench/run.sh fs [--quick] [--runs N] [--only b4,b5,b7]
#                                             the file-system rows B4, B5, B7 (see bench/fs.sh;
#                                             needs root; installs bwrap, sshd, sshfs if missing)
#   bench/run.sh net [options]                the network rows B1, B2, B3, B8 alone, e.g.
#                                             --only b3 --runs 3 (see bench/src/net.rs)
#
# Builds in release mode (respecting CARGO_TARGET_DIR), makes a 1 GiB file of random bytes
# in a temporary directory (BENCH_SIZE overrides, as head -c understands it), warms the page
# cache, and runs ninefold-bench, which starts `ninefold exportfs`, the raw-socket baselines
# and every client itself and kills them when done. Needs only the Rust toolchain and
# coreutils.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ninefold-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

echo "building…" >&2
# The JSON messages name the executables, wherever the target directory is.
cargo build --release -p ninefold -p ninefold-bench \
    --message-format=json-render-diagnostics >"$tmp/build.json"
bins=$(grep -o '"executable":"[^"]*"' "$tmp/build.json" | sed 's/^"executable":"//; s/"$//')
bench=$(printf '%s\n' "$bins" | grep '/ninefold-bench$' | tail -n 1 || true)
ninefold=$(printf '%s\n' "$bins" | grep '/ninefold$' | tail -n 1 || true)
if [ -z "$bench" ] || [ -z "$ninefold" ]; then
    echo "bench/run.sh: cargo did not report the built binaries" >&2
    exit 1
fi

if [ "${1:-}" = fs ]; then
    shift
    echo "machine: $(nproc) cores, Linux $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" >&2
    sh "$root/bench/fs.sh" --bench "$bench" --ninefold "$ninefold" "$@"
    exit
fi

if [ "${1:-}" = net ]; then
    shift
    echo "machine: $(nproc) cores, Linux $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" >&2
    "$bench" net --ninefold "$ninefold" "$@"
    exit
fi

size=${BENCH_SIZE:-1G}
echo "creating a $size test file in $tmp…" >&2
mkdir "$tmp/export"
head -c "$size" /dev/urandom >"$tmp/export/data"
# Warm the page cache: every variant then reads the file from memory.
cat "$tmp/export/data" >/dev/null

echo "machine: $(nproc) cores, Linux $(uname -r); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" >&2
"$bench" --ninefold "$ninefold" "$@" "$tmp/export/data"
