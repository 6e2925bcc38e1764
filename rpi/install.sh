#!/usr/bin/env bash
# Install (or upgrade) moalab-server on a Raspberry Pi as a systemd service.
#
# Made for Raspberry Pi OS bookworm, 64-bit (Python 3.11). Run it as root:
#
#   sudo rpi/install.sh                    # moalab from this checkout
#   sudo rpi/install.sh --version 0.2.0    # moalab 0.2.0 from PyPI
#
# It creates a Python virtual environment (/opt/moalab), installs moalab with its
# Pi extra into it, writes /etc/moalab/server.toml if there is none yet, creates
# the system user "moalab" (in the gpio group), installs and starts the
# moalab-server service, and prints how to connect from the lab PC. Running it
# again upgrades moalab in place and keeps the config file.
#
# Options:
#   --source PATH     install moalab from this folder, wheel or sdist
#                     (default: the checkout this script is in)
#   --version VER     install moalab VER from PyPI instead
#   --venv DIR        the virtual environment (default /opt/moalab)
#   --python PY       the Python that creates the environment (default python3)
#   --no-venv         install into PY's own environment instead of a venv
#   --system-site-packages
#                     let the venv see Python packages installed with apt
#                     (e.g. python3-lgpio, for Pythons lgpio has no wheel for)
#   --offline         pip install without the network: no index, no dependencies
#                     (they must be installed already; a folder --source needs
#                     setuptools>=68 in the environment to build)
#   --no-pip          do not run pip (moalab is installed already)
#   --user NAME       the system user the service runs as (default moalab)
#   --root DIR        install into DIR as if it were /: no user is created, no
#                     owner changed, systemctl is not run (for tests and images)
# Settings written to a new config file only (an existing one is kept):
#   --host ADDR       address to listen on (default 0.0.0.0: every interface)
#   --port N          port to listen on (default 5000)
#   --allow MODULE    a module whose device classes clients may create (repeatable)
#   --data-dir DIR    the server's data folder (default /var/lib/moalab)
#   --token SECRET    a secret clients must present (default: none)
#   -h, --help        show this help
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

source_path=""
version=""
venv="/opt/moalab"
python="python3"
use_venv=1
site_packages=0
offline=0
run_pip=1
user="moalab"
root=""
host="0.0.0.0"
port="5000"
allow=()
data_dir="/var/lib/moalab"
token=""
config="/etc/moalab/server.toml"
unit_name="moalab-server.service"
doc_dir="/usr/local/share/doc/moalab"

say() { printf '%s\n' "$*"; }
step() { printf '\n==> %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

need_value() {
    [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
}

while (($#)); do
    case "$1" in
        --source) need_value "$@"; source_path="$2"; shift 2 ;;
        --version) need_value "$@"; version="$2"; shift 2 ;;
        --venv) need_value "$@"; venv="$2"; shift 2 ;;
        --python) need_value "$@"; python="$2"; shift 2 ;;
        --no-venv) use_venv=0; shift ;;
        --system-site-packages) site_packages=1; shift ;;
        --offline) offline=1; shift ;;
        --no-pip) run_pip=0; shift ;;
        --user) need_value "$@"; user="$2"; shift 2 ;;
        --root) need_value "$@"; root="$2"; shift 2 ;;
        --host) need_value "$@"; host="$2"; shift 2 ;;
        --port) need_value "$@"; port="$2"; shift 2 ;;
        --allow) need_value "$@"; allow+=("$2"); shift 2 ;;
        --data-dir) need_value "$@"; data_dir="$2"; shift 2 ;;
        --token) need_value "$@"; token="$2"; shift 2 ;;
        -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

# ------------------------------------------------------------------ checks

if [[ -n "$root" ]]; then
    mkdir -p "$root"
    root="$(cd "$root" && pwd)"
elif ((EUID != 0)); then
    die "run me as root: sudo $0 $*"
fi
[[ -n "$source_path" && -n "$version" ]] && die "give --source or --version, not both"
for path in "$venv" "$data_dir"; do
    [[ "$path" == /* && "$path" != *[[:space:]\|\"\\]* ]] ||
        die "$path is not accepted: give an absolute path without spaces, quotes or '|'"
done
[[ "$user" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--user $user is not accepted: give a lower-case user name"
if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || ((10#$port > 65535)); then
    die "--port $port is not accepted: give a whole number from 0 to 65535"
fi
port=$((10#$port))
command -v "$python" >/dev/null || die "$python not found: install Python 3.11 or newer (sudo apt install python3-venv)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$python is $("$python" -V 2>&1): moalab needs Python 3.11 or newer"

if [[ -z "$root" ]]; then
    machine="$(uname -m)"
    [[ "$machine" == aarch64 ]] ||
        say "note: this is a $machine system; install.sh is made for 64-bit Raspberry Pi OS (aarch64)"
fi

if ((run_pip)) && [[ -z "$version" && -z "$source_path" ]]; then
    [[ -f "$here/../pyproject.toml" ]] ||
        die "no moalab checkout around $here: give --source PATH or --version VER"
    source_path="$here/.."
fi
if [[ -n "$source_path" ]]; then
    [[ -e "$source_path" ]] || die "--source $source_path does not exist"
    source_path="$(cd "$(dirname "$source_path")" && pwd)/$(basename "$source_path")"
fi

# ------------------------------------------------------ Python environment

if ((use_venv)); then
    env_python="$root$venv/bin/python"
    if [[ -x "$env_python" ]]; then
        step "Using the existing virtual environment $venv"
    else
        step "Creating the virtual environment $venv"
        venv_args=()
        ((site_packages)) && venv_args+=(--system-site-packages)
        mkdir -p "$(dirname "$root$venv")"
        "$python" -m venv "${venv_args[@]}" "$root$venv" ||
            die "could not create a venv: sudo apt install python3-venv, then run me again"
    fi
    scripts_dir="$venv/bin"
else
    env_python="$(command -v "$python")"
    scripts_dir="$("$env_python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
fi

if ((run_pip)); then
    if [[ -n "$version" ]]; then
        spec="moalab[pi]==$version"
    else
        spec="${source_path}[pi]"
    fi
    pip_args=(install --upgrade --disable-pip-version-check)
    ((offline)) && pip_args+=(--no-index --no-deps)
    step "Installing $spec"
    if [[ -d "$source_path" ]]; then
        # offline, the build backend must already be in the environment
        ((offline)) && pip_args+=(--no-build-isolation)
        # build from a copy: pip builds a folder in place and would leave files in it
        build_dir="$(mktemp -d)"
        trap 'rm -rf "$build_dir"' EXIT
        tar -C "$source_path" --exclude=.git --exclude='*.egg-info' --exclude=build \
            --exclude=.venv --exclude=__pycache__ -cf - . | tar -C "$build_dir" -xf -
        spec="${build_dir}[pi]"
    fi
    "$env_python" -m pip "${pip_args[@]}" "$spec"
fi

server_bin="$scripts_dir/moalab-server"
if [[ ! -x "$root$server_bin" ]]; then
    say "warning: $server_bin is missing: this moalab has no moalab-server yet, so the service will not start"
fi
# -P: the folder install.sh is run from (maybe a moalab checkout) is not imported from
installed="$("$env_python" -P -c 'import importlib.metadata as m; print(m.version("moalab"))' \
    2>/dev/null || echo "?")"

# ----------------------------------------------------------- user, folders

groups=()
if [[ -z "$root" ]]; then
    step "Creating the system user $user"
    if getent passwd "$user" >/dev/null; then
        say "$user exists"
    else
        useradd --system --user-group --home-dir "$data_dir" --no-create-home \
            --shell /usr/sbin/nologin --comment "moalab-server" "$user"
    fi
    for group in gpio i2c spi; do
        if getent group "$group" >/dev/null; then
            usermod -aG "$group" "$user"
            groups+=("$group")
        fi
    done
    [[ " ${groups[*]} " == *" gpio "* ]] ||
        say "warning: there is no gpio group: is this Raspberry Pi OS? GPIO devices may not be usable"
else
    groups=(gpio)
fi

install -d -m 0750 "$root$data_dir"
[[ -z "$root" ]] && chown "$user:$user" "$data_dir"

# ------------------------------------------------------------------ config

toml_string() {
    local s="$1"
    s="${s//\\/\\\\}"
    s="${s//\"/\\\"}"
    printf '"%s"' "$s"
}

install -d -m 0755 "$root$(dirname "$config")"
if [[ -e "$root$config" ]]; then
    step "Keeping the existing config $config"
else
    step "Writing the config $config"
    allow_toml=""
    for module in "${allow[@]}"; do
        allow_toml+="${allow_toml:+, }$(toml_string "$module")"
    done
    if [[ -n "$token" ]]; then
        token_line="token = $(toml_string "$token")"
    else
        token_line='# token = "a long random secret"'
    fi
    tmp_config="$(mktemp)"
    cat >"$tmp_config" <<EOF
# moalab-server settings. After a change: sudo systemctl restart moalab-server
# install.sh wrote this file and keeps it when it upgrades moalab.

# The address to listen on: "0.0.0.0" lets the lab PC connect over the network,
# "127.0.0.1" allows only programs on this Pi.
host = $(toml_string "$host")

# The port the lab PC connects to.
port = $port

# Python modules whose device classes the lab PC may create on this Pi, besides
# moalab's own (e.g. ["myrig.devices"]). Nothing else can be run by a client.
allow = [$allow_toml]

# Where the server keeps its data.
data_dir = $(toml_string "$data_dir")

# A secret the lab PC must present to use this server; leave it commented out
# for none (then anyone on the network can drive this Pi's devices).
$token_line
EOF
    install -m 0640 "$tmp_config" "$root$config"
    rm -f "$tmp_config"
    [[ -z "$root" ]] && chgrp "$user" "$config"
fi

# the config is checked by the installed moalab, so a bad one is found now and not
# by a service that keeps restarting
if check="$("$env_python" -P - "$root$config" 2>&1 <<'EOF'
import sys
from moalab.server.config import load_config
c = load_config(sys.argv[1])
print(c.host, c.port)
EOF
)"; then
    read -r conf_host conf_port <<<"$(tail -n1 <<<"$check")"
elif [[ "$check" == *"No module named"* ]]; then
    say "note: the installed moalab cannot check the config ($(tail -n1 <<<"$check"))"
    conf_host="$host" conf_port="$port"
else
    die "the config $config is not valid: $(tail -n1 <<<"$check")"
fi

# --------------------------------------------------------------- service

step "Installing the service $unit_name"
unit_src="$here/moalab-server.service"
[[ -f "$unit_src" ]] || die "$unit_src is missing"
supplementary="SupplementaryGroups=${groups[*]}"
((${#groups[@]})) || supplementary="# no gpio, i2c or spi group on this system"
install -d -m 0755 "$root/etc/systemd/system" "$root$doc_dir"
sed -e "s|^ExecStart=.*|ExecStart=$server_bin --config $config|" \
    -e "s|^User=.*|User=$user|" \
    -e "s|^Group=.*|Group=$user|" \
    -e "s|^SupplementaryGroups=.*|$supplementary|" \
    -e "s|/var/lib/moalab|$data_dir|g" \
    -e "s|^Documentation=.*|Documentation=file://$doc_dir/README.md|" \
    "$unit_src" >"$root/etc/systemd/system/$unit_name"
chmod 0644 "$root/etc/systemd/system/$unit_name"
if [[ -f "$here/README.md" ]]; then
    install -m 0644 "$here/README.md" "$root$doc_dir/README.md"
fi

if [[ -z "$root" ]]; then
    systemctl daemon-reload
    systemctl enable "$unit_name"
    systemctl restart "$unit_name"
    sleep 3
    if systemctl is-active --quiet "$unit_name"; then
        say "moalab-server is running"
    else
        say "moalab-server did not start; its last log lines:"
        journalctl -u "$unit_name" -n 20 --no-pager || true
        exit 1
    fi
else
    say "(--root: systemctl and useradd skipped)"
fi

# ------------------------------------------------------------- next steps

name="$(hostname 2>/dev/null || echo raspberrypi)"
addresses="$(hostname -I 2>/dev/null || true)"
first_ip="${addresses%% *}"
cat <<EOF

moalab $installed is installed; moalab-server listens on $conf_host:$conf_port.

Connect from the lab PC (on the same network) with a WebSocket executor:

    from moalab import WebSocketExecutor
    executor = WebSocketExecutor(server="$name.local", port=$conf_port, token="...")
    # token: the one set in $config, else the one the server generated on its
    # first start: sudo cat <data_dir>/token on this Pi (data_dir is in $config)

If "$name.local" is not found, use this Pi's address instead: ${first_ip:-see hostname -I}
Check from the PC's browser or terminal: http://$name.local:$conf_port/health
EOF
if [[ "$conf_host" == 127.0.0.1 || "$conf_host" == localhost ]]; then
    say "Note: host is $conf_host, so only this Pi can connect: set host = \"0.0.0.0\" in $config."
fi
cat <<EOF

Settings: $config  (then: sudo systemctl restart moalab-server)
Log:      journalctl -u moalab-server -f
Status:   systemctl status moalab-server
EOF
