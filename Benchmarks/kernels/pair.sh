#!/usr/bin/env bash
# Builds two versions of the projection kernel into one projection_pair binary (see
# projection_pair.c): A's entry points renamed b4b_* -> va_*, B's -> vb_*.
#   bash Benchmarks/kernels/pair.sh A.c B.c OUT [extra compiler flags]
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: pair.sh A.c B.c OUT [compiler flags]" >&2; exit 2; }
a="$1" b="$2" out="$3"
shift 3
here="$(cd "$(dirname "$0")" && pwd)"
include="$here/../../Sources/CProjectionKernels/include"
cc_bin=$(command -v clang || command -v cc)
rename() {
    for f in projection_packed_count projection_pack projection_pack_half projection_available \
             projection_level project_rows_f32 project_rows_f32_at project_rows_f32_wide projection_pack_shifted \
             screen_row_f16 screen_row_f16_at dot_f32 \
             project_row_f32_descending lone_row_turn threshold_bits threshold_bits_at threshold_bits_f64 \
             threshold_bits_f64_at threshold_bits_rows threshold_bits_rows_at; do
        printf -- '-Db4b_%s=%s_%s ' "$f" "$1" "$f"
    done
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2046
"$cc_bin" -O2 "$@" $(rename va) -I "$include" -c "$a" -o "$work/a.o"
# shellcheck disable=SC2046
"$cc_bin" -O2 "$@" $(rename vb) -I "$include" -c "$b" -o "$work/b.o"
"$cc_bin" -O2 "$@" -pthread "$here/projection_pair.c" "$work/a.o" "$work/b.o" -lm -o "$out"
