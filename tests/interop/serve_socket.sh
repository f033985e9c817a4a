# jit-ca serve under socket activation: the listening Unix socket passed the
# way systemd passes jit-ca.socket (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES,
# fds from 3), here by the real systemd-socket-activate. A certificate is
# issued through it; the service neither creates nor removes the socket;
# passed descriptors that are not a listening Unix stream socket stop the
# start with a clear error, exit 3 and no socket made.
#
# As root (CI), the service runs as a system account "jit-ca-test" (created
# if absent) through setpriv, as the unit runs it as jit-ca.

. "$TESTS_DIR/lib.sh"
t_need ssh-keygen python3 /usr/bin/systemd-socket-activate

cd "$T_DIR" || t_bail "cd $T_DIR"

SVC_USER=jit-ca-test
AS_ROOT=0
[ "$(id -u)" -eq 0 ] && AS_ROOT=1
U=$(id -un)
SVC_PID=""
SOCK="$T_DIR/run/ca.sock"
SOCK2="$T_DIR/run/second.sock"
AUDIT="$T_DIR/svc/audit.jsonl"

if [ $AS_ROOT -eq 1 ]; then
	svc_account
else
	SVC=""
fi

mkdir -p svc svc/state run || t_bail "mkdir"
run "$JIT_CA" init -f svc/ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: $T_ERR"
ssh-keygen -q -N '' -t ed25519 -C user -f user || t_bail "ssh-keygen user"
chmod 0644 user.pub svc/ca.pub
if [ $AS_ROOT -eq 1 ]; then
	chown -R "$SVC_USER:" svc run || t_bail "chown"
	chmod 0700 svc/state
	chmod 0755 svc run
fi

# conf FILE LISTEN_PATH: the service's and the client's configuration.
conf() {
	cat >"$1" <<EOF
ca = {
  endpoints = [ "unix:$SOCK" ];
  timeout = "10s";
  key = "$T_DIR/svc/ca";
  listen = [ "unix:$2" ];
  state_dir = "$T_DIR/svc/state";
  audit_log = "$AUDIT";
  max_validity = "10m";
  request_timeout = "3s";
  requesters = ( { name = "bastion-1"; unix_users = [ "$U" ];
                   principals = [ "alice" ];
                   source_address = "127.0.0.1/32"; } );
};
certificates = { validity = "5m"; };
EOF
	chmod 0644 "$1"
}
conf jit.conf "$SOCK"
conf other.conf "$T_DIR/run/other.sock"
# The client side of the second passed socket.
sed "s|endpoints = \[ \"unix:$SOCK\" \];|endpoints = [ \"unix:$SOCK2\" ];|" jit.conf >second.conf
grep -q "unix:$SOCK2" second.conf || t_bail "sed second.conf"

# A file and a wrapper that passes a descriptor of a given kind as fd 3,
# with LISTEN_PID set to the service's own pid (exec keeps it).
echo "not a socket" >plain.txt
chmod 0644 plain.txt
cat >pass_fd.py <<'EOF'
import os, socket, sys
kind, argv = sys.argv[1], sys.argv[2:]
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
elif kind == "unix-dgram":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
elif kind == "unix-stream":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
elif kind == "listening":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sys.argv[2])
    s.listen(8)
    argv = sys.argv[3:]
else:
    sys.exit("unknown kind " + kind)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(argv[0], argv)
EOF

# refused NAME EXPECTED_ERROR CMD...: the start fails with exit 3 and exactly
# that fatal line, and no socket appears at SOCK.
refused() {
	_r_n=$1 _r_e=$2
	shift 2
	rm -f "$SOCK"
	run timeout -s KILL 10 "$@"
	expect "$_r_n" 3 '' "jit-ca: event=fatal what=socket_activation error=\"$_r_e\""
	cat run.err >>serve-all.log
	if [ -e "$SOCK" ]; then
		t_fail "$_r_n: no socket created" "$(ls -l "$SOCK")"
	else
		t_pass "$_r_n: no socket created"
	fi
}

# --- passed descriptors that are not what the service expects ---

# In the sh wrappers $$ is the inner shell's pid, which exec keeps; SVC is a
# command prefix, split on purpose.
# shellcheck disable=SC2016,SC2086
refused "regular file as fd 3 refused" "fd 3 is not a socket (regular file)" \
	sh -c 'exec 3<plain.txt; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"' sh \
	$SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
# shellcheck disable=SC2086
refused "UDP socket as fd 3 refused" "fd 3 is not a Unix socket (AF_INET)" \
	env LISTEN_FDS=1 python3 pass_fd.py udp $SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
# shellcheck disable=SC2086
refused "Unix datagram socket as fd 3 refused" "fd 3 is not a stream socket (SOCK_DGRAM)" \
	env LISTEN_FDS=1 python3 pass_fd.py unix-dgram $SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
# shellcheck disable=SC2086
refused "Unix stream socket not listening refused" "fd 3 is not a listening socket" \
	env LISTEN_FDS=1 python3 pass_fd.py unix-stream $SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
# shellcheck disable=SC2016,SC2086
refused "closed fd 3 refused" "fd 3 is not open" \
	sh -c 'exec 3<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"' sh \
	$SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
# shellcheck disable=SC2016,SC2086
refused "LISTEN_FDS not a number refused" "LISTEN_FDS is not a number of sockets from 1 to 16" \
	sh -c 'LISTEN_PID=$$ LISTEN_FDS=1x exec "$@"' sh $SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
# shellcheck disable=SC2086
refused "more names than sockets refused" "LISTEN_FDNAMES names more sockets than LISTEN_FDS 1" \
	env LISTEN_FDS=1 LISTEN_FDNAMES=a:b python3 pass_fd.py listening "$T_DIR/run/l.sock" \
	$SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"

# --- the real thing ---

# activate CONF: systemd-socket-activate listening on SOCK (fd 3) and SOCK2
# (fd 4), starting the service (in its own pid) at the first connection.
activate() {
	[ -f serve.log ] && cat serve.log >>serve-all.log
	: >serve.log
	rm -f "$SOCK" "$SOCK2"
	# shellcheck disable=SC2086 # SVC is a command prefix
	/usr/bin/systemd-socket-activate -l "$SOCK" -l "$SOCK2" --fdname=jit-ca.socket:second \
		$SVC "$JIT_CA" serve -c "$T_DIR/$1" 2>>serve.log </dev/null &
	SVC_PID=$!
	T_PIDS="$T_PIDS $SVC_PID"
	_i=0
	until [ -S "$SOCK" ]; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || t_bail "systemd-socket-activate: $(cat serve.log)"
		sleep 0.1
	done
}

# wait_started: the service logged its start (after the first connection).
wait_started() {
	_i=0
	until grep -q 'event=started' serve.log; do
		_i=$((_i + 1))
		[ $_i -lt 100 ] || t_bail "jit-ca serve did not start: $(cat serve.log)"
		sleep 0.1
	done
}

# stop_svc: SIGTERM, then its exit status in STOP_RC.
stop_svc() {
	kill "$SVC_PID"
	wait "$SVC_PID"
	STOP_RC=$?
	_rest=""
	for _p in $T_PIDS; do
		[ "$_p" = "$SVC_PID" ] || _rest="$_rest $_p"
	done
	T_PIDS=$_rest
}

# json FILE FIELD: one top-level field of jit-ca inspect --json output.
json() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(v if isinstance(v, (str, int)) else json.dumps(v, sort_keys=True))' "$1" "$2"
}

activate jit.conf
# The first connection starts the service; it takes the socket and answers.
run "$JIT_CA" request -c "$T_DIR/jit.conf" -u alice -n alice -t CHG-2001 --session s1 \
	-o c1.pub user.pub
expect "certificate through the inherited socket" 0 '@any' '@any'
wait_started
run "$JIT_CA" inspect --json c1.pub
[ "$T_RC" -eq 0 ] || t_bail "jit-ca inspect: $T_ERR"
printf '%s\n' "$T_OUT" >c1.json
assert_eq "key ID" "user=alice ticket=CHG-2001 session=s1 requester=bastion-1 serial=1" \
	"$(json c1.json key_id)"
assert_eq "serial" 1 "$(json c1.json serial)"
assert_eq "principals" '["alice"]' "$(json c1.json principals)"
assert_eq "critical options" '{"source-address": "127.0.0.1/32"}' \
	"$(json c1.json critical_options)"
assert_eq "extensions" \
	'{"permit-pty": "", "session@pam-jit": "s1", "ticket@pam-jit": "CHG-2001"}' \
	"$(json c1.json extensions)"
assert_eq "validity 5m plus 60 s backdate" 360 \
	$(($(json c1.json valid_before) - $(json c1.json valid_after)))
assert_eq "subject and CA keys" "$(fp user.pub) $(fp svc/ca.pub)" \
	"$(python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
print(c["public_key"]["fingerprint"], c["signing_ca"]["fingerprint"])' c1.json)"
run "$JIT_CA" verify -c svc/ca.pub -n alice c1.pub
expect "certificate verifies against the CA" 0 '@any' ''
assert_eq "issued audit record" "issued 1" "$(python3 -c 'import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print(r["event"], r["serial"])' "$AUDIT")"

if log_has serve.log 0 "jit-ca: event=listen socket=inherited fd=3 name=\"jit-ca.socket\" path=\"$SOCK\"" &&
	log_has serve.log 0 "jit-ca: event=listen socket=inherited fd=4 name=\"second\" path=\"$SOCK2\""; then
	t_pass "log names the inherited sockets"
else
	t_fail "log names the inherited sockets" "$(cat serve.log)"
fi
if grep -q 'event=listen socket=created' serve.log; then
	t_fail "no socket created by the service" "$(cat serve.log)"
else
	t_pass "no socket created by the service"
fi
# The passed sockets are the service's alone: no signer holds one.
LSOCKS="$(readlink "/proc/$SVC_PID/fd/3") $(readlink "/proc/$SVC_PID/fd/4")"
SIGNERS=$(cat "/proc/$SVC_PID/task/$SVC_PID/children" 2>/dev/null)
case "$LSOCKS" in
socket:*" "socket:*) ;;
*) t_bail "fds 3 and 4 of the service: $LSOCKS" ;;
esac
[ -n "$SIGNERS" ] || t_bail "no signer process"
# A signer is not dumpable: only root reads its descriptors.
if ls "/proc/${SIGNERS%% *}/fd" >/dev/null 2>&1; then
	_found=""
	for _s in $SIGNERS; do
		for _f in "/proc/$_s/fd/"*; do
			for _l in $LSOCKS; do
				[ "$(readlink "$_f")" = "$_l" ] && _found="$_found $_s:${_f##*/}"
			done
		done
	done
	assert_eq "signers hold no passed socket" "" "$_found"
else
	echo "ok - signers hold no passed socket # skip not root"
fi
run "$JIT_CA" request -c "$T_DIR/second.conf" -u alice -n alice -t CHG-2007 -o c7.pub user.pub
expect "certificate through the second passed socket" 0 '@any' '@any'


run "$JIT_CA" request -c "$T_DIR/jit.conf" -u alice -n alice -t CHG-2002 -o c2.pub user.pub
expect "another request through the first" 0 '@any' '@any'
assert_eq "serials 2 and 3 for the next two" "2 3" \
	"$(ssh-keygen -L -f c7.pub | awk '$1 == "Serial:" { print $2 }') $(ssh-keygen -L -f c2.pub | awk '$1 == "Serial:" { print $2 }')"

stop_svc
assert_eq "SIGTERM: exit 0" 0 "$STOP_RC"
# systemd's socket: the service closes its copy, never removes the file.
if [ -S "$SOCK" ]; then
	t_pass "inherited socket file left in place"
else
	t_fail "inherited socket file left in place"
fi

# A configured path that the passed sockets do not cover is not created:
# the service says so and serves on what systemd passed.
activate other.conf
run "$JIT_CA" request -c "$T_DIR/jit.conf" -u alice -n alice -t CHG-2003 -o c3.pub user.pub
expect "certificate with another configured path" 0 '@any' '@any'
wait_started
if log_has serve.log 0 "jit-ca: event=listen socket=not_created path=\"$T_DIR/run/other.sock\" warning=\"not served: systemd passed the Unix sockets and none is bound to this path\""; then
	t_pass "log names the configured path not served"
else
	t_fail "log names the configured path not served" "$(cat serve.log)"
fi
if [ -e "$T_DIR/run/other.sock" ]; then
	t_fail "configured path not created"
else
	t_pass "configured path not created"
fi
stop_svc

# --- the signers, seen under socket activation ---
# One signer process per CPU (at most 4), as the start line says; a signer
# that stops answering fails the service closed after 10 seconds, and the
# caller waiting on it gets no certificate.
activate jit.conf
run "$JIT_CA" request -c "$T_DIR/jit.conf" -u alice -n alice -t CHG-2005 -o c5.pub user.pub
expect "certificate before the signers stop" 0 '@any' '@any'
wait_started
NCPU=$(nproc)
[ "$NCPU" -gt 4 ] && NCPU=4
SIGNERS=$(cat "/proc/$SVC_PID/task/$SVC_PID/children")
assert_eq "one signer per CPU" "$NCPU $NCPU" \
	"$(echo "$SIGNERS" | wc -w) $(sed -n 's/.*event=started .* signers=\([0-9]*\) .*/\1/p' serve.log)"
# shellcheck disable=SC2086 # one pid per word
kill -STOP $SIGNERS
run "$JIT_CA" request -c "$T_DIR/jit.conf" -u alice -n alice -t CHG-2006 -o c6.pub user.pub
wait "$SVC_PID"
STOP_RC=$?
_rest=""
for _p in $T_PIDS; do
	[ "$_p" = "$SVC_PID" ] || _rest="$_rest $_p"
done
T_PIDS=$_rest
assert_eq "stalled signer: service exits 4" 4 "$STOP_RC"
if grep -Eq '^jit-ca: event=fatal what=signer pid=[0-9]+ error="no answer in 10 seconds"$' serve.log; then
	t_pass "stalled signer logged"
else
	t_fail "stalled signer logged" "$(tail -n 5 serve.log)"
fi
if [ "$T_RC" -ne 0 ] && [ ! -e c6.pub ]; then
	t_pass "no certificate while the signer is stalled"
else
	t_fail "no certificate while the signer is stalled" "exit $T_RC: $T_ERR"
fi
# They die with the service (a zombie left to init counts as dead).
_left=""
for _p in $SIGNERS; do
	_i=0
	while [ $_i -lt 50 ] && [ -e "/proc/$_p" ] &&
		! grep -q '^State:.*Z' "/proc/$_p/status" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if [ -e "/proc/$_p" ] && ! grep -q '^State:.*Z' "/proc/$_p/status" 2>/dev/null; then
		_left="$_left $_p"
		kill -9 "$_p"
	fi
done
assert_eq "stalled signers die with the service" "" "$_left"

# Variables meant for another process are left alone: the service makes
# its own socket, as without systemd.
[ -f serve.log ] && cat serve.log >>serve-all.log
: >serve.log
rm -f "$SOCK"
# shellcheck disable=SC2086
LISTEN_PID=1 LISTEN_FDS=1 $SVC "$JIT_CA" serve -c "$T_DIR/jit.conf" 2>>serve.log </dev/null &
SVC_PID=$!
T_PIDS="$T_PIDS $SVC_PID"
_i=0
until grep -q 'event=started' serve.log && [ -S "$SOCK" ]; do
	_i=$((_i + 1))
	[ $_i -lt 100 ] || t_bail "jit-ca serve did not start: $(cat serve.log)"
	sleep 0.1
done
if log_has serve.log 0 'jit-ca: event=socket_activation ignored="LISTEN_PID 1 is not this process"' &&
	log_has serve.log 0 "jit-ca: event=listen socket=created path=\"$SOCK\""; then
	t_pass "another process's LISTEN_PID ignored"
else
	t_fail "another process's LISTEN_PID ignored" "$(cat serve.log)"
fi
run "$JIT_CA" request -c "$T_DIR/jit.conf" -u alice -n alice -t CHG-2004 -o c4.pub user.pub
expect "certificate through its own socket" 0 '@any' '@any'
stop_svc
if [ -e "$SOCK" ]; then
	t_fail "own socket removed at stop"
else
	t_pass "own socket removed at stop"
fi

t_summary
