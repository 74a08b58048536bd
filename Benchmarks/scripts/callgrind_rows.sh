#!/bin/bash
# Instructions per operation of the Deferreds and reactor benchmark rows, by callgrind: what the
# safety budget (issue 16) and the guard rails of performance work quote. Instruction counts hold on
# a loaded machine, where wall times do not.
#
#   Benchmarks/scripts/callgrind_rows.sh [BINDIR]      (default: a release build in .build-release)
#
# Each row runs twice under `valgrind --tool=callgrind`, at --scale 0.15 and 0.05 with one
# repetition; the difference of the two totals divided by the difference of the operations is the
# cost of one operation, without start-up. Rows: DEFERRED_ROWS and REACTOR_ROWS (space-separated;
# set one to " " to skip that binary). call_from_thread uses two threads and varies by about 10 %
# from run to run (how the calls batch); tcp_rtt_* are timed, so their operation counts differ.
# valgrind 3.19 cannot read the DWARF 5 debug information Swift 6 emits: the binaries are measured
# from copies without it (symbols stay, for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/../.."
BINDIR=${1:-}
if [ -z "$BINDIR" ]; then
    ${SWIFT:-swift} build -c release --scratch-path .build-release --product deferred-bench >&2
    ${SWIFT:-swift} build -c release --scratch-path .build-release --product reactor-bench >&2
    BINDIR=.build-release/release
fi
command -v valgrind >/dev/null || { echo "callgrind_rows: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for binary in deferred-bench reactor-bench; do
    strip --strip-debug -o "$WORK/$binary" "$BINDIR/$binary"
done
DEFERRED_ROWS=${DEFERRED_ROWS:-"create_fire many_callbacks deep_chain semaphore_run deferred_list"}
REACTOR_ROWS=${REACTOR_ROWS:-"call_later_bulk call_later_chain call_from_thread clock_random_100k tcp_rtt_1"}

# Prints "instructions operations" for one run of a row.
measure() {
    local binary=$1 row=$2 scale=$3 out="$WORK/$2-$3"
    valgrind --tool=callgrind --callgrind-out-file="$out.cg" "$WORK/$binary" --scale "$scale" --repeat 1 \
        --only "$row" >"$out.json" 2>"$out.err"
    local instructions operations
    instructions=$(grep -h '^summary:\|^totals:' "$out.cg" | head -1 | awk '{print $2}')
    operations=$(sed -n "s/.*\"workload\":\"$row\",\"ops\":\([0-9]*\).*/\1/p" "$out.json")
    echo "$instructions $operations"
}

row() {
    local binary=$1 name=$2 large small
    read -r -a large <<<"$(measure "$binary" "$name" 0.15)"
    read -r -a small <<<"$(measure "$binary" "$name" 0.05)"
    if [ "${large[1]}" -le "${small[1]}" ]; then
        echo "$name: no more operations at the larger scale (${large[1]} vs ${small[1]}): run it again" >&2
        return
    fi
    printf '%-20s %8d instructions/op  (ops %d and %d)\n' "$name" \
        $(((large[0] - small[0]) / (large[1] - small[1]))) "${large[1]}" "${small[1]}"
}

for name in $DEFERRED_ROWS; do row deferred-bench "$name"; done
for name in $REACTOR_ROWS; do row reactor-bench "$name"; done
