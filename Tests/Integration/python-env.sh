# Sourced by dev.sh and Tests/Integration/run.sh (bash): installing what the project's Python
# parts need (the NumPy counterpart of the benchmark, the integration tests) when it is missing.
#
#   b4b_apt_install PACKAGE...   Debian packages, through sudo when not root (only when sudo
#                                needs no password: never a prompt); quiet; fails when apt-get
#                                does or cannot run.
#   b4b_python MODULE=PACKAGE... prints the Python interpreter to use, after installing with pip
#                                the PACKAGEs whose MODULEs it cannot import; fails only when
#                                there is no python3 at all. The caller checks the imports again:
#                                a package that could not be installed (no network) stays missing.
#
# The interpreter is python3 when it imports every MODULE, or when pip can install into it.
# Debian's own python3 refuses pip installs outside a virtual environment (PEP 668, "externally
# managed"): the packages then go into a virtual environment, by default .build/python under the
# repository (B4B_PYTHON_ENV overrides the directory), created with access to the system's
# packages (Debian's python3-numpy, say) and with Debian's python3-venv installed first when
# python3 cannot create one.

b4b_apt_install() {
    local sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo -n true >/dev/null 2>&1 || return 1
        sudo_cmd="sudo -n"
    fi
    $sudo_cmd apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null 2>&1
}

b4b_python() {
    command -v python3 >/dev/null 2>&1 || return 1
    local here env spec modules=() packages=()
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    env="${B4B_PYTHON_ENV:-$here/.build/python}"
    for spec in "$@"; do
        modules+=("${spec%%=*}")
        packages+=("${spec#*=}")
    done
    local check
    check="import $(IFS=,; echo "${modules[*]}")"
    if python3 -c "$check" >/dev/null 2>&1; then
        echo python3
        return 0
    fi
    if [ -x "$env/bin/python3" ] && "$env/bin/python3" -c "$check" >/dev/null 2>&1; then
        echo "$env/bin/python3"
        return 0
    fi
    if python3 -m pip install -q "${packages[@]}" >/dev/null 2>&1 && python3 -c "$check" >/dev/null 2>&1; then
        echo python3
        return 0
    fi
    if [ ! -x "$env/bin/python3" ]; then
        # Without Debian's python3-venv, venv fails (no ensurepip) and leaves a partial directory.
        if ! python3 -m venv --system-site-packages "$env" >/dev/null 2>&1; then
            rm -rf "$env"
            b4b_apt_install python3-venv || true
            python3 -m venv --system-site-packages "$env" >/dev/null 2>&1 || rm -rf "$env"
        fi
    fi
    if [ -x "$env/bin/python3" ]; then
        "$env/bin/python3" -m pip install -q "${packages[@]}" >/dev/null 2>&1 || true
        echo "$env/bin/python3"
    else
        echo python3
    fi
}
