#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs everything Clove needs on a fresh Debian 12 machine (as root) and
# builds it: Debian packages, a Python virtual environment in .venv with the
# SDK and the test tools, npm packages when the tree has a package.json, then
# the meson build in build/. Safe to run again: each step is skipped when
# already done.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

apt_packages=(
	build-essential meson ninja-build pkg-config clang
	liburing-dev libjansson-dev libcmocka-dev libseccomp-dev libmsgpack-dev libsqlite3-dev
	bubblewrap
	python3 python3-venv python3-dev
	procps util-linux
)

missing=()
for p in "${apt_packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Debian's interpreter, not whatever python3 comes first on PATH: the venv
# must exist on a machine that has only what this script installed.
venv="$top/.venv"
if [ ! -x "$venv/bin/python" ]; then
	echo "setup: creating $venv"
	/usr/bin/python3 -m venv "$venv"
fi
stamp="$venv/.clove-setup"
reqs="$top/deploy/dev/requirements.txt"
if [ ! -f "$stamp" ] || [ "$reqs" -nt "$stamp" ] || [ "$top/sdk/python/pyproject.toml" -nt "$stamp" ] ||
	[ "$top/llm_worker/pyproject.toml" -nt "$stamp" ]; then
	"$venv/bin/python" -m pip install -q --upgrade pip
	"$venv/bin/python" -m pip install -q -r "$reqs"
	"$venv/bin/python" -m pip install -q -e "$top/sdk/python"
	"$venv/bin/python" -m pip install -q -e "$top/llm_worker"
	touch "$stamp"
fi

if [ -f "$top/package.json" ] && [ ! -d "$top/node_modules" ]; then
	(cd "$top" && npm ci --no-audit --no-fund)
fi

if [ ! -f build/build.ninja ]; then
	meson setup build -Ddefault_python="$venv/bin/python" >/dev/null
fi
meson compile -C build >/dev/null
echo "setup: ready (build/, .venv/)"
