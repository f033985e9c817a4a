#!/usr/bin/env bash
# The README's first command: installs what is needed, builds jit-ca, and
# shows a short-lived certificate at work against a real sshd on loopback:
# a CA key, an engineer's key, a 5-minute certificate for one ticket, a login
# with it, and the refusal of a certificate for the wrong principal.
# Run as root on Debian 12, from any directory. Everything happens in a
# temporary directory that is removed at the end; the system's own sshd is
# never touched. Exits 0 only if the login worked and the refusal refused.
#
# Environment:
#   JIT_CA=PATH  use this jit-ca (e.g. an installed one) instead of building
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

step=0
header() {
	step=$((step + 1))
	echo
	echo "==> $step. $*"
}

# Shows a command the way a reader would type it, then runs it.
show() {
	local a out=()
	for a in "$@"; do
		[[ $a == "$jit_ca" ]] && a=jit-ca
		if [[ $a =~ [^A-Za-z0-9_./:=@%+,-] || -z $a ]]; then
			a="'${a//\'/\'\\\'\'}'"
		fi
		out+=("$a")
	done
	echo "\$ ${out[*]}"
	"$@"
}

die() {
	echo "demo: $*" >&2
	exit 1
}

if [[ -n ${JIT_CA:-} ]]; then
	jit_ca=$JIT_CA
	[[ -x $jit_ca ]] || die "JIT_CA=$jit_ca is not an executable"
else
	header "Install the build dependencies and build jit-ca"
	packaging/install-deps.sh
	if [[ -f build-demo/meson-private/coredata.dat ]]; then
		meson setup --reconfigure build-demo --buildtype=release >/dev/null
	else
		rm -rf build-demo
		meson setup build-demo --buildtype=release >/dev/null
	fi
	ninja -C build-demo ca/jit-ca >/dev/null
	jit_ca=$repo/build-demo/ca/jit-ca
	echo "built $jit_ca"
fi

user_name=$(id -un)
other_principal=deploy
[[ $user_name == deploy ]] && other_principal=operator

demo=$(mktemp -d /tmp/jit-demo.XXXXXX)
sshd_pid=
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [[ -n $sshd_pid ]]; then
		kill "$sshd_pid" 2>/dev/null || true
		wait "$sshd_pid" 2>/dev/null || true
	fi
	rm -rf "$demo"
}
trap cleanup EXIT
cd "$demo"
mkdir ca engineer refused sshd
echo "working in $demo (removed at the end)"

header "Create the CA key"
show "$jit_ca" init -f ca/ca_key
show ls -l ca
echo "(OpenSSH reads the same key:)"
show ssh-keygen -l -f ca/ca_key.pub

header "The engineer's own key (made with ssh-keygen)"
show ssh-keygen -q -t ed25519 -N '' -C alice@demo -f engineer/id_ed25519
show ssh-keygen -l -f engineer/id_ed25519.pub

header "Sign a 5-minute certificate for ticket CHG-1001, principal '$user_name'"
show "$jit_ca" sign -s ca/ca_key -I 'alice@demo ticket=CHG-1001' \
	-n "$user_name" -V +5m -z 1001 -O source-address=127.0.0.1/32 \
	engineer/id_ed25519.pub
[[ -s engineer/id_ed25519-cert.pub ]] || die "no certificate written"

header "Inspect the certificate"
show "$jit_ca" inspect engineer/id_ed25519-cert.pub

header "Verify it against the CA's public key"
show "$jit_ca" verify -c ca/ca_key.pub -n "$user_name" engineer/id_ed25519-cert.pub ||
	die "jit-ca verify refused a good certificate"

header "Start a real sshd on loopback that trusts only the CA"
ssh-keygen -q -t ed25519 -N '' -C demo-host -f sshd/host_ed25519
# With UsePAM no, sshd refuses every login to an account whose password
# field starts with "!" (locked), keys and certificates included; with PAM
# the account stage decides instead.
use_pam=no
shadow=$(getent shadow "$user_name" 2>/dev/null | cut -d: -f2 || true)
if [[ $shadow == '!'* ]]; then
	use_pam=yes
	echo "(account '$user_name' is locked for passwords: using UsePAM yes)"
fi
if ((EUID == 0)); then
	mkdir -p /run/sshd # sshd's privilege separation directory
fi

start_sshd() {
	local port=$1
	cat >sshd/sshd_config <<-EOF
		Port $port
		ListenAddress 127.0.0.1
		HostKey $demo/sshd/host_ed25519
		PidFile $demo/sshd/sshd.pid
		TrustedUserCAKeys $demo/ca/ca_key.pub
		AuthorizedKeysFile none
		AuthenticationMethods publickey
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM $use_pam
		PermitRootLogin prohibit-password
		LogLevel VERBOSE
	EOF
	/usr/sbin/sshd -t -f "$demo/sshd/sshd_config"
	/usr/sbin/sshd -D -e -f "$demo/sshd/sshd_config" 2>sshd/sshd.log &
	sshd_pid=$!
	local i
	for ((i = 0; i < 100; i++)); do
		if grep -q "Server listening on 127.0.0.1 port $port" sshd/sshd.log; then
			return 0
		fi
		kill -0 "$sshd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$sshd_pid" 2>/dev/null || true
	wait "$sshd_pid" 2>/dev/null || true
	sshd_pid=
	cat sshd/sshd.log >&2
	return 1
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# A port found free can be taken before sshd binds it: try a few.
port=
for attempt in 1 2 3; do
	candidate=$(free_port)
	if start_sshd "$candidate"; then
		port=$candidate
		break
	fi
	echo "sshd did not start on port $candidate (attempt $attempt)" >&2
done
[[ -n $port ]] || die "could not start sshd"
sed -e "s|$demo/||" sshd/sshd_config
echo "\$ /usr/sbin/sshd -D -e -f sshd/sshd_config 2>sshd/sshd.log &"
echo "sshd (pid $sshd_pid) listening on 127.0.0.1:$port"

ssh_opts=(-F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=10 -p "$port")

header "Log in as '$user_name' with the certificate"
# shellcheck disable=SC2016 # $(id -un) runs on the server
login_out=$(show ssh "${ssh_opts[@]}" -i engineer/id_ed25519 \
	-o CertificateFile=engineer/id_ed25519-cert.pub "$user_name@127.0.0.1" \
	'echo "logged in as $(id -un) with a certificate"' 2>&1) || true
echo "$login_out"
login_ok=no
if [[ $login_out == *"logged in as $user_name with a certificate" ]]; then
	login_ok=yes
fi
sleep 0.2 # let sshd write its log line
echo "sshd's log:"
if grep 'Accepted publickey' sshd/sshd.log | grep -F 'ID alice@demo ticket=CHG-1001'; then
	:
else
	login_ok=no
	echo "(no 'Accepted publickey ... ID alice@demo ticket=CHG-1001' line)"
fi

header "A certificate for principal '$other_principal' is refused as '$user_name'"
cp engineer/id_ed25519 engineer/id_ed25519.pub refused/
show "$jit_ca" sign -s ca/ca_key -I 'alice@demo ticket=CHG-1001' \
	-n "$other_principal" -V +5m -z 1002 -O source-address=127.0.0.1/32 \
	refused/id_ed25519.pub
lines_before=$(wc -l <sshd/sshd.log)
refused_ok=no
# shellcheck disable=SC2016 # $(id -un) runs on the server
if refused_out=$(show ssh "${ssh_opts[@]}" -i refused/id_ed25519 \
	-o CertificateFile=refused/id_ed25519-cert.pub "$user_name@127.0.0.1" \
	'echo "logged in as $(id -un) with a certificate"' 2>&1); then
	echo "$refused_out"
	echo "(the login was NOT refused)"
else
	echo "$refused_out"
	refused_ok=yes
fi
sleep 0.2
echo "sshd's log:"
new_log=$(tail -n +"$((lines_before + 1))" sshd/sshd.log)
grep -E 'principal|publickey .*-CERT' <<<"$new_log" || true
if ! grep -q 'Certificate invalid: name is not a listed principal' <<<"$new_log" ||
	grep -q 'Accepted publickey' <<<"$new_log"; then
	refused_ok=no
fi

header "jit-ca verify agrees: wrong principal"
verify_ok=no
if show "$jit_ca" verify -c ca/ca_key.pub -n "$user_name" refused/id_ed25519-cert.pub; then
	echo "(jit-ca verify accepted it)"
else
	rc=$?
	# 1 is "does not verify"; anything else is an error, not a refusal.
	if ((rc == 1)); then
		verify_ok=yes
	else
		echo "(jit-ca verify failed with exit $rc, not 1)"
	fi
fi

echo
echo "==> Result"
echo "login with the certificate:         $login_ok"
echo "wrong principal refused by sshd:    $refused_ok"
echo "wrong principal refused by jit-ca:  $verify_ok"
if [[ $login_ok == yes && $refused_ok == yes && $verify_ok == yes ]]; then
	echo "demo: OK"
	exit 0
fi
echo "demo: FAILED"
exit 1
