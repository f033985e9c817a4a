#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build pam_jit and run all of its
# tests and the demo. Skips apt entirely when everything is present, so a
# rerun costs a dpkg query. Run as root (only needed when something is
# missing). Prints one summary line; apt's output goes to a log that is
# shown only on failure.
set -euo pipefail

packages=(
	build-essential meson ninja-build pkg-config
	clang libclang-rt-14-dev # libFuzzer and the sanitizer runtimes for clang
	libssh-dev libssl-dev libconfig-dev libpam0g-dev
	libcmocka-dev libpam-wrapper libpamtest0-dev
	openssh-client openssh-server
	python3 git curl jq
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ $status == ii* ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#packages[@]} packages already installed"
	exit 0
fi

if ((EUID != 0)); then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or install them yourself): apt-get install ${missing[*]}" >&2
	exit 1
fi

start=$SECONDS
log=$(mktemp /tmp/install-deps.XXXXXX.log)
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
	# Only remove the policy file this script created.
	if ((own_policy)); then rm -f "$policy"; fi
}
trap cleanup EXIT

fail() {
	echo "install-deps: $1 failed; last lines of $log:" >&2
	tail -n 30 "$log" >&2
	exit 1
}

# The tests start their own sshd on loopback ports; the openssh-server
# package's own service is not needed. Keep its postinst from starting it
# (exit 101 = "action forbidden" for invoke-rc.d and deb-systemd-invoke),
# unless the machine already has a policy of its own.
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	own_policy=1
fi

# Refresh the package lists when there are none (a fresh machine or image).
# Lists that exist may be stale: if installing from them fails, refresh once
# and retry. (Their file times come from the mirror, so age says little.)
updated=no
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	apt-get -o DPkg::Lock::Timeout=300 update >>"$log" 2>&1 || fail "apt-get update"
	updated=yes
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
	"${missing[@]}" >>"$log" 2>&1; then
	# A stale list can name versions the mirror no longer has: refresh once.
	if [[ $updated == no ]]; then
		apt-get -o DPkg::Lock::Timeout=300 update >>"$log" 2>&1 || fail "apt-get update"
		updated=yes
		apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
			"${missing[@]}" >>"$log" 2>&1 || fail "apt-get install"
	else
		fail "apt-get install"
	fi
fi

rm -f "$log"
echo "install-deps: installed ${#missing[@]} of ${#packages[@]} packages" \
	"(${missing[*]}; apt-get update: $updated) in $((SECONDS - start)) s"
