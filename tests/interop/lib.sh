# Shared helpers for the interop tests. POSIX sh; sourced by each script.
#
# Each script gets its own temporary directory ($T_DIR), removed on exit
# together with any sshd it started. Cases print "ok - NAME" or
# "not ok - NAME" (with "#" detail lines); t_summary prints the totals and
# exits 1 if any case failed. 77 (skip) is reserved for a missing binary.

set -u

T_PASS=0
T_FAIL=0
T_PIDS=""
T_RC=0
T_OUT=""
T_ERR=""

if [ -z "${JIT_CA:-}" ] || [ ! -x "$JIT_CA" ]; then
	echo "JIT_CA must name the built jit-ca" >&2
	exit 99
fi
export TZ=UTC
# Messages and dates must not depend on the caller's locale.
export LC_ALL=C

T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jit-interop.XXXXXXXX") || {
	echo "mktemp failed" >&2
	exit 99
}

t_cleanup() {
	for _p in $T_PIDS; do
		kill "$_p" 2>/dev/null
	done
	for _p in $T_PIDS; do
		wait "$_p" 2>/dev/null
	done
	rm -rf "$T_DIR"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM HUP
# A reader that went away (SIGPIPE) must still end the services: exit, so
# that the EXIT trap runs, instead of dying at the signal.
trap 'exit 141' PIPE

# t_need BINARY...: skip the whole script when a binary is absent.
t_need() {
	for _b in "$@"; do
		case "$_b" in
		/*) [ -x "$_b" ] && continue ;;
		*) command -v "$_b" >/dev/null 2>&1 && continue ;;
		esac
		echo "skip: $_b not found"
		exit 77
	done
}

# t_bail MESSAGE: the harness itself broke (not a test verdict).
t_bail() {
	echo "Bail out! $*"
	exit 99
}

t_pass() {
	T_PASS=$((T_PASS + 1))
	echo "ok - $1"
}

# t_fail NAME [DETAIL...]: each detail is printed on its own "#" line.
t_fail() {
	T_FAIL=$((T_FAIL + 1))
	echo "not ok - $1"
	shift
	for _d in "$@"; do
		printf '%s\n' "$_d" | sed 's/^/#   /'
	done
}

t_summary() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ] || exit 1
	exit 0
}

# run CMD...: run with stdin from /dev/null; exit status in T_RC, stdout in
# T_OUT and $T_DIR/run.out, stderr in T_ERR and $T_DIR/run.err.
run() {
	"$@" >"$T_DIR/run.out" 2>"$T_DIR/run.err" </dev/null
	T_RC=$?
	T_OUT=$(cat "$T_DIR/run.out")
	T_ERR=$(cat "$T_DIR/run.err")
}

# run_ssh CMD...: run for OpenSSH tools, whose fatal() ends lines with
# CR LF: the CRs are dropped from T_ERR.
run_ssh() {
	run "$@"
	T_ERR=$(tr -d '\r' <"$T_DIR/run.err")
}

# t_match VALUE SPEC: SPEC is exact text, "@any", "@has:TEXT" (substring),
# or "@line1:TEXT" (the first line is exactly TEXT).
t_match() {
	case "$2" in
	@any) return 0 ;;
	@line1:*)
		[ "$(printf '%s\n' "$1" | head -n 1)" = "${2#@line1:}" ]
		return
		;;
	@has:*)
		case "$1" in
		*"${2#@has:}"*) return 0 ;;
		esac
		return 1
		;;
	esac
	[ "$1" = "$2" ]
}

# expect NAME RC STDOUT STDERR: judge the last run.
expect() {
	_e_n=$1 _e_rc=$2 _e_o=$3 _e_e=$4
	_e_why=""
	[ "$T_RC" = "$_e_rc" ] || _e_why="exit $T_RC, expected $_e_rc"
	if ! t_match "$T_OUT" "$_e_o"; then
		_e_why="${_e_why:+$_e_why
}stdout: [$T_OUT]
expected: [$_e_o]"
	fi
	if ! t_match "$T_ERR" "$_e_e"; then
		_e_why="${_e_why:+$_e_why
}stderr: [$T_ERR]
expected: [$_e_e]"
	fi
	if [ -z "$_e_why" ]; then
		t_pass "$_e_n"
	else
		t_fail "$_e_n" "$_e_why"
	fi
}

# check NAME CMD...: pass when CMD exits 0.
check() {
	_k_n=$1
	shift
	if "$@" >"$T_DIR/check.out" 2>&1; then
		t_pass "$_k_n"
	else
		t_fail "$_k_n" "command failed: $*" "$(head -c 2000 "$T_DIR/check.out")"
	fi
}

# assert_eq NAME EXPECTED ACTUAL
assert_eq() {
	if [ "$2" = "$3" ]; then
		t_pass "$1"
	else
		t_fail "$1" "got:      [$3]" "expected: [$2]"
	fi
}

# assert_files NAME EXPECTED_FILE ACTUAL_FILE: byte-identical, else a diff.
assert_files() {
	if cmp -s "$2" "$3"; then
		t_pass "$1"
	else
		t_fail "$1" "$(diff -u "$2" "$3" | head -n 40)"
	fi
}

# fp PUBFILE: the SHA256 fingerprint, as "SHA256:...".
fp() {
	ssh-keygen -l -E sha256 -f "$1" | awk '{ print $2 }'
}

# epoch YYYY-MM-DDTHH:MM:SS (UTC)
epoch() {
	date -u -d "$1" +%s
}

# keygen_L CERT OUT: ssh-keygen -L output into OUT; returns its status.
keygen_L() {
	ssh-keygen -L -f "$1" >"$2" 2>&1
}

# u32be N: N as four big-endian bytes.
u32be() {
	# shellcheck disable=SC2059 # the format is the octal escapes
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' \
		$(($1 >> 24 & 255)) $(($1 >> 16 & 255)) \
		$(($1 >> 8 & 255)) $(($1 & 255)))"
}

# sshstr TEXT / sshstr_file FILE: an SSH wire-format string.
sshstr() {
	u32be ${#1}
	printf '%s' "$1"
}
sshstr_file() {
	u32be "$(wc -c <"$1")"
	cat "$1"
}

# pub_blob PUBFILE OUT: the decoded key (or certificate) blob.
pub_blob() {
	awk '{ print $2; exit }' "$1" | base64 -d >"$2"
}

# bytes FILE OFFSET COUNT: COUNT bytes of FILE from OFFSET (0-based).
bytes() {
	tail -c +$(($2 + 1)) "$1" | head -c "$3"
}

# make_sk_ed25519 ED25519_PUB OUT: a sk-ssh-ed25519@openssh.com public key
# around the Ed25519 point of ED25519_PUB (application "ssh:").
make_sk_ed25519() {
	pub_blob "$1" "$T_DIR/sk.in"
	# string "ssh-ed25519" (4 + 11), then string pk (4 + 32)
	bytes "$T_DIR/sk.in" 19 32 >"$T_DIR/sk.pk"
	{
		sshstr sk-ssh-ed25519@openssh.com
		sshstr_file "$T_DIR/sk.pk"
		sshstr ssh:
	} >"$T_DIR/sk.blob"
	printf 'sk-ssh-ed25519@openssh.com %s sk-ed25519\n' \
		"$(base64 -w0 "$T_DIR/sk.blob")" >"$2"
}

# make_sk_ecdsa P256_PUB OUT: a sk-ecdsa-sha2-nistp256@openssh.com public key
# around the P-256 point of P256_PUB.
make_sk_ecdsa() {
	pub_blob "$1" "$T_DIR/sk.in"
	# string "ecdsa-sha2-nistp256" (4 + 19), string "nistp256" (4 + 8),
	# then string Q (4 + 65)
	bytes "$T_DIR/sk.in" 39 65 >"$T_DIR/sk.q"
	{
		sshstr sk-ecdsa-sha2-nistp256@openssh.com
		sshstr nistp256
		sshstr_file "$T_DIR/sk.q"
		sshstr ssh:
	} >"$T_DIR/sk.blob"
	printf 'sk-ecdsa-sha2-nistp256@openssh.com %s sk-ecdsa\n' \
		"$(base64 -w0 "$T_DIR/sk.blob")" >"$2"
}

# tamper_cert CERT TEXT OUT: OUT is CERT with the first byte of the first
# occurrence of TEXT (the key ID) changed; the structure stays valid, so only
# the signature no longer matches.
tamper_cert() {
	pub_blob "$1" "$T_DIR/tamper.blob"
	_t_off=$(grep -obUaF -m1 "$2" "$T_DIR/tamper.blob" | head -n1 | cut -d: -f1)
	[ -n "$_t_off" ] || t_bail "tamper_cert: '$2' not in $1"
	_t_c=$(bytes "$T_DIR/tamper.blob" "$_t_off" 1)
	if [ "$_t_c" = X ]; then _t_c=Y; else _t_c=X; fi
	printf '%s' "$_t_c" |
		dd of="$T_DIR/tamper.blob" bs=1 seek="$_t_off" conv=notrunc 2>/dev/null
	printf '%s %s\n' "$(awk '{ print $1; exit }' "$1")" \
		"$(base64 -w0 "$T_DIR/tamper.blob")" >"$3"
}

# log_has FILE FROM LINE: FILE has, after its first FROM lines, a line equal
# to LINE, where "@N@" in LINE stands for one decimal number (a port). A CR
# before the newline is ignored (sshd -e ends lines with CR LF).
log_has() {
	L=$3 awk -v from="$2" '
		BEGIN {
			pat = ENVIRON["L"]
			i = index(pat, "@N@")
			pre = i ? substr(pat, 1, i - 1) : pat
			post = i ? substr(pat, i + 3) : ""
		}
		NR <= from { next }
		{ sub(/\r$/, "") }
		!i { if ($0 == pat) { found = 1; exit } next }
		substr($0, 1, length(pre)) == pre {
			rest = substr($0, length(pre) + 1)
			if (match(rest, /^[0-9]+/) && substr(rest, RLENGTH + 1) == post) {
				found = 1
				exit
			}
		}
		END { exit !found }
	' "$1"
}

# wait_log FILE FROM LINE: log_has, polled for up to 5 s (sshd writes its
# log after the client may already have exited).
wait_log() {
	_w_i=0
	while [ $_w_i -lt 50 ]; do
		log_has "$1" "$2" "$3" && return 0
		sleep 0.1
		_w_i=$((_w_i + 1))
	done
	return 1
}

# lines FILE: its current number of lines.
lines() {
	wc -l <"$1" | tr -d ' '
}

# svc_account (as root): makes sure the account $SVC_USER exists, lets it
# reach files under T_DIR, and sets SVC to run a command as it.
svc_account() {
	t_need setpriv
	if ! id "$SVC_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$SVC_USER" ||
			t_bail "useradd $SVC_USER"
	fi
	chmod 0711 "$T_DIR"
	SVC="setpriv --reuid=$SVC_USER --regid=$SVC_USER --init-groups --"
}

# bastion_env: checks PAM_JIT and JIT_AGENT (the built module and agent)
# and sets PAM_WRAPPER_LIB; exits 77 (skip) without pam_wrapper.
bastion_env() {
	PAM_JIT=${PAM_JIT:-}
	AGENT=${JIT_AGENT:-}
	[ -n "$PAM_JIT" ] && [ -f "$PAM_JIT" ] || t_bail "PAM_JIT must name the built pam_jit.so"
	[ -n "$AGENT" ] && [ -x "$AGENT" ] || t_bail "JIT_AGENT must name the built jit-agent"
	PAM_WRAPPER_LIB=""
	for _d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib \
		/usr/lib/aarch64-linux-gnu; do
		if [ -e "$_d/libpam_wrapper.so" ]; then
			PAM_WRAPPER_LIB="$_d/libpam_wrapper.so"
			break
		fi
	done
	if [ -z "$PAM_WRAPPER_LIB" ]; then
		echo "skip: libpam_wrapper.so not found"
		exit 77
	fi
}

# sshd_start NAME LOGLEVEL TRUSTED_CA_FILE: start sshd on a free loopback
# port. Sets SSHD_PID, SSHD_PORT, SSHD_LOG. Bails out if it does not come up.
# Needs $T_DIR/hostkey.
sshd_start() {
	mkdir -p /run/sshd || t_bail "cannot create /run/sshd"
	_s_try=0
	while [ $_s_try -lt 5 ]; do
		_s_try=$((_s_try + 1))
		SSHD_PORT=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		SSHD_LOG="$T_DIR/$1.log"
		cat >"$T_DIR/$1.conf" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $T_DIR/hostkey
PidFile $T_DIR/$1.pid
TrustedUserCAKeys $3
AuthorizedKeysFile none
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
LogLevel $2
EOF
		/usr/sbin/sshd -D -e -f "$T_DIR/$1.conf" 2>"$SSHD_LOG" </dev/null &
		SSHD_PID=$!
		T_PIDS="$T_PIDS $SSHD_PID"
		_s_i=0
		while [ $_s_i -lt 100 ]; do
			if log_has "$SSHD_LOG" 0 \
				"Server listening on 127.0.0.1 port $SSHD_PORT."; then
				return 0
			fi
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.1
			_s_i=$((_s_i + 1))
		done
		sshd_stop
		if grep -q 'Address already in use' "$SSHD_LOG"; then
			continue
		fi
		t_bail "sshd did not start: $(head -c 2000 "$SSHD_LOG")"
	done
	t_bail "sshd found no free port in 5 tries"
}

# sshd_alive: bail out, with its log, if the sshd started last has died.
sshd_alive() {
	kill -0 "$SSHD_PID" 2>/dev/null ||
		t_bail "sshd (pid $SSHD_PID) died: $(tail -n 20 "$SSHD_LOG")"
}

# sshd_stop: stop the sshd started last, by its pid.
sshd_stop() {
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	_ss_rest=""
	for _ss_p in $T_PIDS; do
		[ "$_ss_p" = "$SSHD_PID" ] || _ss_rest="$_ss_rest $_ss_p"
	done
	T_PIDS=$_ss_rest
}
