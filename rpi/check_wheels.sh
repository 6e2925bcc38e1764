#!/usr/bin/env bash
# Check that every moalab dependency installs from a wheel on a 64-bit Raspberry Pi.
#
# Reads the dependencies (and the "pi" extra, if pyproject.toml defines one) from
# pyproject.toml, evaluates their markers for linux/aarch64, and asks pip to
# download a binary wheel of each for every Python version given, for the glibc
# of Raspberry Pi OS bookworm (2.36, so manylinux_2_28 and older tags fit); then
# resolves the whole dependency tree the same way.
# Needs the network (PyPI); not part of the test suite.
#
# Usage: rpi/check_wheels.sh [--python-versions "3.11 3.12 3.13"] [--keep DIR] [EXTRA_REQ ...]
#   EXTRA_REQ   more requirements to check as well, e.g. "gpiozero>=2" "lgpio"
# Exit status: 0 when every requirement has a wheel for every version, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pyproject="$here/../pyproject.toml"
versions="3.11 3.12 3.13"
keep=""
python="${PYTHON:-python3}"
extra=()

while (($#)); do
    case "$1" in
        --python-versions) versions="$2"; shift 2 ;;
        --keep) keep="$2"; shift 2 ;;
        -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        -*) echo "check_wheels.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) extra+=("$1"); shift ;;
    esac
done

# every pip tag a bookworm aarch64 system accepts, newest first (pip matches exact tags)
platforms=()
for glibc in 36 35 34 33 32 31 30 29 28 27 26 17; do
    platforms+=(--platform "manylinux_2_${glibc}_aarch64")
done
platforms+=(--platform manylinux2014_aarch64 --platform linux_aarch64)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dest="${keep:-$tmp/wheels}"
mkdir -p "$dest"

failed=0
for version in $versions; do
    # requirements for this Python version on a Pi, markers evaluated, extras dropped
    mapfile -t reqs < <("$python" - "$pyproject" "$version" "${extra[@]}" <<'EOF'
import sys, tomllib
from packaging.requirements import Requirement

path, version, *extra = sys.argv[1:]
with open(path, "rb") as f:
    project = tomllib.load(f)["project"]
specs = list(project.get("dependencies", []))
specs += project.get("optional-dependencies", {}).get("pi", [])
specs += extra
env = {
    "python_version": version, "python_full_version": version + ".0",
    "platform_machine": "aarch64", "sys_platform": "linux", "os_name": "posix",
    "platform_system": "Linux", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "extra": "",
}
for spec in specs:
    req = Requirement(spec)
    if req.marker is None or req.marker.evaluate(env):
        print(f"{req.name}{req.specifier}")
EOF
    )
    for req in "${reqs[@]}"; do
        log="$tmp/pip.log"
        one="$tmp/one" && rm -rf "$one"
        if "$python" -m pip download --quiet --only-binary=:all: --no-deps "${platforms[@]}" \
            --python-version "$version" --implementation cp -d "$one" "$req" >"$log" 2>&1; then
            printf 'ok    py%-5s %-22s %s\n' "$version" "$req" "$(ls "$one")"
            cp "$one"/*.whl "$dest"/
        else
            printf 'FAIL  py%-5s %-22s %s\n' "$version" "$req" \
                "$(grep -m1 -i error "$log" || tail -n1 "$log")"
            failed=1
        fi
    done
    # then the whole tree, so dependencies of dependencies are checked too
    vdest="$tmp/tree-$version"
    if "$python" -m pip download --quiet --only-binary=:all: "${platforms[@]}" --python-version "$version" \
        --implementation cp -d "$vdest" "${reqs[@]}" >"$log" 2>&1; then
        printf 'ok    py%-5s the whole tree: %s wheels, %s of them binary\n' "$version" \
            "$(find "$vdest" -name '*.whl' | wc -l)" \
            "$(find "$vdest" -name '*.whl' ! -name '*-none-any.whl' | wc -l)"
    else
        printf 'FAIL  py%-5s dependency tree: %s\n' "$version" "$(grep -m1 -i error "$log" || tail -n1 "$log")"
        failed=1
    fi
done

echo
if ((failed)); then
    echo "Some requirements have no aarch64 wheel (see FAIL lines): pip would build them from source on the Pi."
else
    echo "Every requirement installs from a wheel on a 64-bit Raspberry Pi for Python $versions."
fi
[[ -n "$keep" ]] && echo "Wheels kept in $keep:" && ls "$keep"
exit "$failed"
