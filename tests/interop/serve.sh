# jit-ca serve, driven by jit-ca request and a small python3 protocol client:
# caps, break-glass clamping, caller authentication (the first requester in
# the file's order that lists the caller's user or group), serials across
# kill -9, the audit chain, audit write failure and recovery, a real sshd
# login, request timeouts, connection limits and privilege separation.
#
# As root (CI), the service runs as a system account "jit-ca-test" (created
# if absent) through setpriv, as the unit runs it as jit-ca; the refused
# caller runs as nobody. As another user, the cases that need root are
# skipped with a "skip" line.

. "$TESTS_DIR/lib.sh"
t_need ssh-keygen ssh /usr/sbin/sshd python3 base64 prlimit

cd "$T_DIR" || t_bail "cd $T_DIR"

SVC_USER=jit-ca-test
AS_ROOT=0
[ "$(id -u)" -eq 0 ] && AS_ROOT=1
U=$(id -un)
SVC_PID=""
SOCK="$T_DIR/run/ca.sock"
AUDIT="$T_DIR/svc/audit.jsonl"

t_skip() {
	echo "ok - $1 # skip $2"
}

if [ $AS_ROOT -eq 1 ]; then
	svc_account
else
	SVC=""
fi

mkdir -p svc svc/state run || t_bail "mkdir"
run "$JIT_CA" init -f svc/ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: $T_ERR"
ssh-keygen -q -N '' -t ed25519 -f hostkey || t_bail "ssh-keygen hostkey"
ssh-keygen -q -N '' -t ed25519 -C user -f user || t_bail "ssh-keygen user"
chmod 0644 user.pub svc/ca.pub
if [ $AS_ROOT -eq 1 ]; then
	chown -R "$SVC_USER:" svc run || t_bail "chown"
	chmod 0700 svc/state
	chmod 0755 svc run
fi

# A requester matched by group: the service account's group (as root), for
# callers running with it as their group.
# Names must resolve when the service starts: without that account, nogroup.
GRP=$(id -gn "$SVC_USER" 2>/dev/null || echo nogroup)

# conf FILE [EXTRA CA SETTINGS]: a configuration for the service and clients.
conf() {
	cat >"$1" <<EOF
ca = {
  endpoints = [ "unix:$SOCK" ];
  timeout = "10s";
  key = "$T_DIR/svc/ca";
  listen = [ "unix:$SOCK" ];
  state_dir = "$T_DIR/svc/state";
  audit_log = "$AUDIT";
  max_validity = "10m";
  breakglass_max_validity = "2m";
  max_connections = 64;
  request_timeout = "3s";
  $2
  requesters = ( { name = "bastion-1"; unix_users = [ "$U" ];
                   principals = [ "alice", "deploy-*", "$U" ];
                   source_address = "127.0.0.1/32"; },
                 { name = "group-bastion"; unix_groups = [ "$GRP" ];
                   principals = [ "grp-?" ]; max_validity = "3m"; } );
};
certificates = { validity = "5m"; extensions = [ "permit-pty", "permit-port-forwarding" ]; };
EOF
	chmod 0644 "$1"
}
conf jit.conf ""

# svc_start [PRLIMIT ARGS...]: start the service, wait for its socket.
svc_start() {
	[ -f "$T_DIR/serve.log" ] && cat "$T_DIR/serve.log" >>"$T_DIR/serve-all.log"
	: >"$T_DIR/serve.log"
	# shellcheck disable=SC2086 # SVC is a command prefix
	prlimit "$@" -- $SVC "$JIT_CA" serve -c "$T_DIR/${SVC_CONF:-jit.conf}" \
		2>>"$T_DIR/serve.log" </dev/null &
	SVC_PID=$!
	T_PIDS="$T_PIDS $SVC_PID"
	_i=0
	while [ $_i -lt 100 ]; do
		grep -q 'event=started' "$T_DIR/serve.log" && [ -S "$SOCK" ] && return 0
		kill -0 "$SVC_PID" 2>/dev/null || break
		sleep 0.1
		_i=$((_i + 1))
	done
	t_bail "jit-ca serve did not start: $(head -c 2000 "$T_DIR/serve.log")"
}

# svc_forget: drop SVC_PID from the pids the cleanup kills.
svc_forget() {
	_rest=""
	for _p in $T_PIDS; do
		[ "$_p" = "$SVC_PID" ] || _rest="$_rest $_p"
	done
	T_PIDS=$_rest
}

# signer_pid: the service's child process.
signer_pid() {
	awk '{ print $1 }' "/proc/$SVC_PID/task/$SVC_PID/children" 2>/dev/null
}

# fd_count: the service's open file descriptors.
fd_count() {
	set -- "/proc/$SVC_PID/fd/"*
	echo $#
}

# request NAME... : jit-ca request as this user, output certificate in OUT.
request() {
	run "$JIT_CA" request -c "$T_DIR/jit.conf" "$@"
}

# audit_last FIELD: that field of the last audit record.
audit_last() {
	python3 - "$AUDIT" "$1" <<'EOF'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
v = json.loads(lines[-1]).get(sys.argv[2], "<absent>")
print(str(v).lower() if isinstance(v, bool) else v)
EOF
}

# serial_of CERT: its serial as ssh-keygen -L shows it.
serial_of() {
	ssh-keygen -L -f "$1" | awk '$1 == "Serial:" { print $2 }'
}

# span_of CERT: valid_before - valid_after in seconds.
span_of() {
	_v=$(ssh-keygen -L -f "$1" | awk '$1 == "Valid:" { print $3, $5 }')
	echo $(($(date -u -d "${_v#* }" +%s) - $(date -u -d "${_v% *}" +%s)))
}

# The python3 protocol client (docs/protocol.md): raw frames for the cases
# jit-ca request cannot make.
cat >proto.py <<'EOF'
import base64, os, select, socket, struct, sys, time

def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b

def request(pub, user="alice", principals=("alice",), validity=300, not_after=0):
    blob = base64.b64decode(open(pub).read().split()[1])
    plist = b"".join(s(p) for p in principals)
    return (struct.pack(">IB", 1, 1) + s(user) + s(blob) + s(plist) +
            struct.pack(">QQB", validity, not_after, 1) + s("CHG-1001") + s("") +
            s("sess-py") + s(""))

def frame(payload):
    return struct.pack(">I", len(payload)) + payload

def read_response(sock, deadline):
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return None
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    if len(data) < 4:
        return None
    (n,) = struct.unpack(">I", data[:4])
    p = data[4:4 + n]
    if len(p) != n or p[4] != 2:
        return None
    status = p[5]
    (mlen,) = struct.unpack(">I", p[6:10])
    return status, p[10:10 + mlen].decode()

def connect(path):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    return c

mode, path = sys.argv[1], sys.argv[2]
if mode == "slow":
    # One byte a second of a valid request, until the service hangs up.
    c = connect(path)
    t0 = time.monotonic()
    for b in frame(request(sys.argv[3])):
        try:
            c.send(bytes([b]))
        except OSError:
            break
        r, _, _ = select.select([c], [], [], 1.0)
        if r and c.recv(1) == b"":
            break
    print(round(time.monotonic() - t0))
elif mode == "raw":
    # A frame of the given length header and filler, then the answer.
    c = connect(path)
    n = int(sys.argv[3])
    c.sendall(struct.pack(">I", n) + (b"x" * min(n, 16)))
    res = read_response(c, time.monotonic() + 10)
    print("none" if res is None else "%d %s" % res)
elif mode == "notafter":
    # A request whose hard end is OFFSET seconds from now.
    c = connect(path)
    c.sendall(frame(request(sys.argv[3], not_after=int(time.time()) + int(sys.argv[4]))))
    res = read_response(c, time.monotonic() + 10)
    print("none" if res is None else "%d %s" % res)
elif mode == "burst":
    n, pub = int(sys.argv[3]), sys.argv[4]
    req = frame(request(pub))
    socks = []
    for i in range(n):
        c = connect(path)
        try:
            c.sendall(req)
        except OSError:
            pass
        socks.append(c)
    deadline = time.monotonic() + 30
    counts = {}
    for c in socks:
        res = read_response(c, deadline)
        if res is None:
            key = "none"
        elif res[0] == 0:
            key = "ok"
        elif res == (4, "too many connections"):
            key = "busy"
        else:
            key = "other(%d:%s)" % (res[0], res[1].replace(" ", "_"))
        counts[key] = counts.get(key, 0) + 1
        c.close()
    print(" ".join("%s=%d" % (k, v) for k, v in sorted(counts.items())))
EOF

# --- startup refusals ---

if [ $AS_ROOT -eq 1 ]; then
	run "$JIT_CA" serve -c "$T_DIR/jit.conf"
	expect "serve refuses root" 3 '' \
		'jit-ca serve: refusing to run as root: run as the CA account (or pass --allow-root)'
else
	t_skip "serve refuses root" "not root"
fi

conf tls.conf 'tls = { cert = "/nonexistent/c.pem"; key = "/nonexistent/k.pem"; client_ca = "/nonexistent/ca.pem"; };'
sed 's|listen = \[ "unix:[^"]*" \];|listen = [ "tls://127.0.0.1:7443" ];|' tls.conf >tls2.conf
chmod 0644 tls2.conf
# shellcheck disable=SC2086
run $SVC "$JIT_CA" serve -c "$T_DIR/tls2.conf"
expect "tls listener without its certificate refused" 3 '' \
	'jit-ca: event=fatal what=tls error="cert /nonexistent/c.pem: No such file or directory"'
cat run.err >>serve-all.log

# Requesters' user and group names are resolved once, at start: one that
# does not resolve stops the start, named (never a requester silently lost).
sed "s|unix_groups = \[ \"$GRP\" \]|unix_groups = [ \"jit-no-such-group\" ]|" jit.conf >badgrp.conf
sed "s|unix_users = \[ \"$U\" \]|unix_users = [ \"jit-no-such-user\" ]|" jit.conf >badusr.conf
chmod 0644 badgrp.conf badusr.conf
grep -q jit-no-such-group badgrp.conf && grep -q jit-no-such-user badusr.conf ||
	t_bail "sed badgrp.conf badusr.conf"
# shellcheck disable=SC2086
run timeout 10 $SVC "$JIT_CA" serve -c "$T_DIR/badgrp.conf"
expect "unknown unix_groups name refused at start" 3 '' \
	'jit-ca: event=fatal what=requester requester=group-bastion unix_group="jit-no-such-group" error="no such group"'
# shellcheck disable=SC2086
run timeout 10 $SVC "$JIT_CA" serve -c "$T_DIR/badusr.conf"
expect "unknown unix_users name refused at start" 3 '' \
	'jit-ca: event=fatal what=requester requester=bastion-1 unix_user="jit-no-such-user" error="no such user"'
[ -S "$SOCK" ] && t_fail "no socket left by a refused start" "$SOCK exists" ||
	t_pass "no socket left by a refused start"

# --- a certificate within the caps ---

svc_start
# A measurement build (-Dsign_self_check=false) says so at every start; a shipped one never.
MB_WARN='jit-ca: event=warning what="measurement build: signatures are not verified before they leave the signer (-Dsign_self_check=false)"'
if [ "${JIT_SIGN_SELF_CHECK:-1}" = 1 ]; then
	if grep -q 'measurement build' "$T_DIR/serve.log"; then
		t_fail "no measurement-build warning" "$(grep 'measurement build' "$T_DIR/serve.log")"
	else
		t_pass "no measurement-build warning"
	fi
elif grep -qxF "$MB_WARN" "$T_DIR/serve.log"; then
	t_pass "measurement-build warning at start"
else
	t_fail "measurement-build warning at start" "$(head -n 5 "$T_DIR/serve.log")"
fi
# shellcheck disable=SC2086
run $SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
expect "second service on the same log refused" 4 '' \
	"@has:event=fatal what=audit_log path=\"$AUDIT\" error=\"Resource temporarily unavailable\""
cat run.err >>serve-all.log
[ -S "$SOCK" ] && t_pass "first service keeps its socket" || t_fail "first service keeps its socket"

request -u alice -n alice,deploy-1 -t CHG-1001 -V 5m --session s1 -o c1.pub user.pub
expect "request within caps" 0 '@any' '@any'
S1=$(serial_of c1.pub)
ssh-keygen -L -f c1.pub >c1.txt 2>&1
if grep -q '^                alice$' c1.txt && grep -q '^                deploy-1$' c1.txt &&
	grep -q "Key ID: \"user=alice ticket=CHG-1001 session=s1 requester=bastion-1 serial=$S1\"" c1.txt &&
	grep -q 'source-address 127.0.0.1/32' c1.txt &&
	grep -q 'permit-pty' c1.txt && ! grep -q 'permit-port-forwarding' c1.txt &&
	grep -q 'ticket@pam-jit' c1.txt && grep -q 'session@pam-jit' c1.txt; then
	t_pass "certificate fields"
else
	t_fail "certificate fields" "$(cat c1.txt)"
fi
assert_eq "validity 5m plus 60 s backdate" 360 "$(span_of c1.pub)"
assert_eq "issued audit record" "issued ok $S1 false SHA256" \
	"$(audit_last event) $(audit_last status) $(audit_last serial) $(audit_last clamped) $(audit_last fingerprint | cut -c1-6)"

request -u alice -n alice -t CHG-1001 -V 1h -o c2.pub user.pub
expect "request above max_validity" 0 '@any' '@any'
assert_eq "clamped to max_validity" "660 true validity clamped to 10m (max_validity)" \
	"$(span_of c2.pub) $(audit_last clamped) $(audit_last message)"

request -u alice -n alice -t CHG-1001 --source-address 10.0.0.0/8 -o c3.pub user.pub
expect "other source-address denied" 1 '' \
	'@has:denied: source-address "10.0.0.0/8" not allowed: requester bastion-1 is bound to "127.0.0.1/32"'

# --- refusals ---

request -u alice -n alice,mallory -t CHG-1001 -o c4.pub user.pub
expect "principal outside caps denied" 1 '' \
	'@has:denied: principal "mallory" not allowed for requester bastion-1'
[ ! -e c4.pub ] && t_pass "no certificate when denied" || t_fail "no certificate when denied"
assert_eq "denial audited" "refused denied alice,mallory bastion-1" \
	"$(audit_last event) $(audit_last status) $(audit_last principals) $(audit_last requester)"
# 64 principals of 250 bytes pass the protocol and the caps, but neither an
# audit record nor a certificate holds them: the caller's error (status 2,
# no failover), recorded with the list cut.
BIG=$(i=0; while [ $i -lt 64 ]; do printf 'deploy-%03d-%0239d\n' "$i" 0; i=$((i + 1)); done | paste -sd, -)
request -u alice -n "$BIG" -t CHG-1001 -o c4.pub user.pub
expect "principals too long refused as a bad request" 1 '' \
	'jit-ca: request: bad request: principals: 16063 bytes in all, at most 2048'
assert_eq "principals too long: audited as a bad request" "refused bad request" \
	"$(audit_last event) $(audit_last status)"
assert_eq "principals too long: the record keeps their start, cut" \
	"$(printf '%s' "$BIG" | cut -c1-256)..." "$(audit_last principals)"

request -u alice -n alice --breakglass "disk full on db-1" -V 10m -o bg.pub user.pub
expect "break-glass issued" 0 '@any' '@any'
assert_eq "break-glass clamped to 2m" "180 true breakglass disk full on db-1" \
	"$(span_of bg.pub) $(audit_last clamped) $(audit_last context) $(audit_last reason)"
if ssh-keygen -L -f bg.pub | grep -q 'breakglass@pam-jit' &&
	ssh-keygen -L -f bg.pub | grep -q 'Key ID: "user=alice breakglass=1 session='; then
	t_pass "break-glass marked in key ID and extension"
else
	t_fail "break-glass marked in key ID and extension" "$(ssh-keygen -L -f bg.pub)"
fi

run python3 proto.py notafter "$SOCK" user.pub -10
assert_eq "hard end in the past denied" "1 not_after is in the past" "$T_OUT"
run python3 proto.py notafter "$SOCK" user.pub 90
case "$T_OUT" in
"0 validity clamped to 1m29s (not_after)" | "0 validity clamped to 1m30s (not_after)")
	t_pass "validity cut at the hard end" ;;
*) t_fail "validity cut at the hard end" "$T_OUT" ;;
esac
_span=$(($(audit_last valid_before) - $(audit_last valid_after)))
[ "$_span" -le 150 ] && [ "$_span" -ge 149 ] && t_pass "hard end in the record" ||
	t_fail "hard end in the record" "span $_span"

run python3 proto.py raw "$SOCK" 70000
assert_eq "oversized frame refused" "2 request frame of 70000 bytes refused (1..65536 allowed)" "$T_OUT"
run python3 proto.py raw "$SOCK" 16
assert_eq "unknown protocol version refused" \
	"2 unsupported protocol version (this service speaks version 1)" "$T_OUT"
assert_eq "malformed request audited" "refused bad request" \
	"$(audit_last event) $(audit_last status)"

if [ $AS_ROOT -eq 1 ]; then
	run setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		"$JIT_CA" request -c "$T_DIR/jit.conf" -u alice -n alice -t CHG-1001 -o - user.pub
	expect "caller not on the allow-list" 1 '' \
		"@has:unauthenticated: caller uid $(id -u nobody) is not an allowed requester"
	assert_eq "unauthenticated caller audited" "refused unauthenticated $(id -u nobody) " \
		"$(audit_last event) $(audit_last status) $(audit_last peer_uid) $(audit_last requester)"
	run setpriv --reuid=nobody --regid="$GRP" --clear-groups -- \
		"$JIT_CA" request -c "$T_DIR/jit.conf" -u bob -n grp-1 -t CHG-2002 -V 10m \
		--source-address 10.0.0.0/8 -o - user.pub
	expect "caller matched by group" 0 '@any' '@any'
	printf '%s\n' "$T_OUT" | grep 'cert' >grp-cert.pub
	ssh-keygen -L -f grp-cert.pub >grp.txt 2>&1
	if grep -q 'requester=group-bastion' grp.txt && grep -q 'source-address 10.0.0.0/8' grp.txt &&
		grep -q '^                grp-1$' grp.txt; then
		t_pass "group requester's certificate"
	else
		t_fail "group requester's certificate" "$(cat grp.txt)"
	fi
	assert_eq "group requester's own cap (3m)" 240 "$(span_of grp-cert.pub)"
	# A supplementary group counts too (SO_PEERGROUPS, no name lookup).
	run setpriv --reuid=nobody --regid=nogroup --groups="$(getent group "$GRP" | cut -d: -f3)" -- \
		"$JIT_CA" request -c "$T_DIR/jit.conf" -u bob -n grp-2 -t CHG-2003 -o - user.pub
	expect "caller matched by a supplementary group" 0 '@any' '@any'
	assert_eq "supplementary group audited" "issued group-bastion $(id -u nobody)" \
		"$(audit_last event) $(audit_last requester) $(audit_last peer_uid)"
	run setpriv --reuid=nobody --regid="$GRP" --clear-groups -- \
		"$JIT_CA" request -c "$T_DIR/jit.conf" -u bob -n alice -t CHG-2002 -o - user.pub
	expect "group requester's principal caps" 1 '' \
		'@has:denied: principal "alice" not allowed for requester group-bastion'
else
	t_skip "caller not on the allow-list" "not root"
fi

# --- a real sshd accepts the service's certificate ---

request -u "$U" -n "$U" -t CHG-1001 -o login-cert.pub user.pub
expect "request for login" 0 '@any' '@any'
sshd_start sshd VERBOSE "$T_DIR/svc/ca.pub"
run_ssh ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes \
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o ConnectTimeout=10 -i "$T_DIR/user" -o CertificateFile="$T_DIR/login-cert.pub" \
	-p "$SSHD_PORT" "$U@127.0.0.1" echo jit-ok
expect "sshd login with the service's certificate" 0 jit-ok '@any'
sshd_stop

# --- request timeout: a slow caller is dropped, others are served ---

python3 proto.py slow "$SOCK" user.pub >slow.out 2>&1 &
SLOW=$!
sleep 1
request -u alice -n alice -t CHG-1001 -o c5.pub user.pub
expect "request beside a slow caller" 0 '@any' '@any'
wait $SLOW
SLOWT=$(cat slow.out)
if [ "$SLOWT" -ge 2 ] 2>/dev/null && [ "$SLOWT" -le 5 ]; then
	t_pass "slow caller dropped at request_timeout"
else
	t_fail "slow caller dropped at request_timeout" "after [$SLOWT] s, expected 3"
fi
grep -q 'event=dropped reason=timeout' serve.log && t_pass "timeout logged" ||
	t_fail "timeout logged" "$(tail -n 5 serve.log)"

# --- 200 concurrent connections, max_connections 64 ---

sleep 0.5
FD0=$(fd_count)
run python3 proto.py burst "$SOCK" 200 user.pub
# Every connection gets a certificate or "too many connections".
_burst=$(echo "$T_OUT" | tr ' ' '\n' |
	awk -F= '$1 == "ok" || $1 == "busy" { s += $2 } END { print s + 0 }')
assert_eq "200 concurrent connections all answered" 200 "$_burst"
echo "# burst: $T_OUT"
sleep 0.5
assert_eq "file descriptors back to baseline" "$FD0" "$(fd_count)"

# --- serials: increasing, and beyond all earlier ones after kill -9 ---

request -u alice -n alice -t CHG-1001 -o s1.pub user.pub
request -u alice -n alice -t CHG-1001 -o s2.pub user.pub
A=$(serial_of s1.pub)
B=$(serial_of s2.pub)
[ "$B" -gt "$A" ] 2>/dev/null && t_pass "serials increase" || t_fail "serials increase" "$A then $B"
MAX=$(python3 -c '
import json, sys
print(max([json.loads(l).get("serial", 0) for l in open(sys.argv[1])]))' "$AUDIT")
SP_OLD=$(signer_pid)
kill -9 "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
svc_forget
# The signer dies with its parent (a zombie left to init counts as dead).
_i=0
while [ $_i -lt 50 ] && [ -e "/proc/$SP_OLD" ] &&
	! grep -q '^State:.*Z' "/proc/$SP_OLD/status" 2>/dev/null; do
	sleep 0.1
	_i=$((_i + 1))
done
if [ -n "$SP_OLD" ] && { [ ! -e "/proc/$SP_OLD" ] ||
	grep -q '^State:.*Z' "/proc/$SP_OLD/status" 2>/dev/null; }; then
	t_pass "signer dies with the service"
else
	t_fail "signer dies with the service" "signer pid [$SP_OLD] still there"
fi
RESERVED=$(cat svc/state/serial)
assert_eq "serial reservation on disk" 1025 "$RESERVED"
svc_start
request -u alice -n alice -t CHG-1001 -o s3.pub user.pub
C=$(serial_of s3.pub)
[ "$C" -gt "$MAX" ] 2>/dev/null && t_pass "serial after kill -9 beyond all earlier" ||
	t_fail "serial after kill -9 beyond all earlier" "$C after $MAX"
assert_eq "restart continues at the reservation, reserves the next block" \
	"$RESERVED $((RESERVED + 1024))" "$C $(cat svc/state/serial)"

# --- a lost serial file is refused while the audit log holds records ---

kill "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
svc_forget
mv svc/state/serial svc/state/serial.saved
# shellcheck disable=SC2086 # SVC is a command prefix
if timeout 10 $SVC "$JIT_CA" serve -c "$T_DIR/${SVC_CONF:-jit.conf}" >lost.log 2>&1 </dev/null; then
	t_fail "lost serial file refused" "the service ran"
else
	if grep -q "serial file missing but the audit log holds records" lost.log; then
		t_pass "lost serial file refused"
	else
		t_fail "lost serial file refused" "$(head -c 500 lost.log)"
	fi
fi
[ -e svc/state/serial ] && t_fail "lost serial file not recreated" "svc/state/serial exists" ||
	t_pass "lost serial file not recreated"
mv svc/state/serial.saved svc/state/serial
svc_start

# --- the audit chain ---

cat >chain.py <<'EOF'
import hashlib, json, sys
prev = "0" * 64
n = 0
for n, line in enumerate(open(sys.argv[1], "rb").read().split(b"\n")[:-1], 1):
    rec = json.loads(line)
    if rec["seq"] != n or rec["prev"] != prev:
        print("line %d broken" % n)
        sys.exit(1)
    prev = hashlib.sha256(line).hexdigest()
print("chain ok")
EOF
run python3 chain.py "$AUDIT"
assert_eq "audit chain verifies" "chain ok" "$T_OUT"

# --- a revoked ticket: the service issues nothing more for it ---

# The agent renews with new serials, so revoke -t also blocks the ticket;
# the service re-reads the store when it changes.
REMIND='run "jit-ca krl -c CONFIG -o FILE" to update the KRL that sshd reads'
# While the service runs, revoke -t waits out what it may still commit.
SETTLE='waiting for certificates the service decided before the block (until 12 seconds after it)'
request -u alice -n alice -t CHG-4001 -o t1.pub user.pub
expect "issued for CHG-4001 before its revocation" 0 '@any' '@any'
run "$JIT_CA" revoke -c "$T_DIR/jit.conf" -t CHG-4001
expect "revoke -t CHG-4001" 0 "revoked serial $(serial_of t1.pub)
$SETTLE
ticket CHG-4001: 1 certificate issued, 1 newly revoked
ticket CHG-4001 is blocked for future certificates
$REMIND" ''
assert_eq "the store holds the ticket" "serial $(serial_of t1.pub)
ticket CHG-4001" "$(cat svc/state/revoked)"
request -u alice -n alice -t CHG-4001 -o t2.pub user.pub
expect "a revoked ticket is refused" 1 '' '@has:denied: ticket CHG-4001 is revoked'
assert_eq "the refusal is audited" "refused denied CHG-4001 ticket CHG-4001 is revoked" \
	"$(audit_last event) $(audit_last status) $(audit_last ticket) $(audit_last message)"
request -u alice -n alice -t CHG-4002 -o t3.pub user.pub
expect "another ticket still issued" 0 '@any' '@any'
run "$JIT_CA" revoke -c "$T_DIR/jit.conf" -t CHG-4003
expect "revoke -t before any certificate" 0 "$SETTLE
ticket CHG-4003: no certificates issued
ticket CHG-4003 is blocked for future certificates" ''
request -u alice -n alice -t CHG-4003 -o t4.pub user.pub
expect "a ticket blocked before use is refused" 1 '' '@has:denied: ticket CHG-4003 is revoked'
# A store that does not parse keeps the last good set (never fails open).
cp svc/state/revoked revoked.good
printf 'serial 1\nbogus\n' >svc/state/revoked
request -u alice -n alice -t CHG-4001 -o t5.pub user.pub
expect "a broken store keeps the revoked tickets" 1 '' '@has:denied: ticket CHG-4001 is revoked'
if grep -q "event=error what=revocation_store path=\"$T_DIR/svc/state/revoked\" line=2 error=\"not \\\\\"serial N\\\\\"" serve.log; then
	t_pass "a broken store is logged with its line"
else
	t_fail "a broken store is logged with its line" "$(grep revocation_store serve.log)"
fi
kill "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
svc_forget
# shellcheck disable=SC2086 # SVC is a command prefix
run timeout 10 $SVC "$JIT_CA" serve -c "$T_DIR/jit.conf"
expect "a broken store stops the start" 3 '' \
	"@has:jit-ca: event=error what=revocation_store path=\"$T_DIR/svc/state/revoked\" line=2 "
cp revoked.good svc/state/revoked
svc_start
request -u alice -n alice -t CHG-4003 -o t6.pub user.pub
expect "revoked tickets are read at start" 1 '' '@has:denied: ticket CHG-4003 is revoked'

# --- audit write failure: no certificate; recovery ---

kill "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
SVC_RC=$?
svc_forget
assert_eq "SIGTERM stops with 0" 0 "$SVC_RC"
[ ! -e "$SOCK" ] && t_pass "socket removed at stop" || t_fail "socket removed at stop"
LIMIT=$(($(wc -c <"$AUDIT") + 100))
svc_start --fsize="$LIMIT:unlimited"
request -u alice -n alice -t CHG-1001 -o nope.pub user.pub
expect "audit unwritable: refused" 4 '' '@has:audit log unavailable'
[ ! -e nope.pub ] && t_pass "no certificate without audit record" ||
	t_fail "no certificate without audit record"
kill -0 "$SVC_PID" 2>/dev/null && t_pass "service survives audit failure" ||
	t_fail "service survives audit failure"
# As the service's own user: raising a soft limit needs no capability.
# shellcheck disable=SC2086
$SVC prlimit --pid "$SVC_PID" --fsize=unlimited:unlimited ||
	t_fail "raise the service's file size limit"
request -u alice -n alice -t CHG-1001 -o again.pub user.pub
expect "audit writable again: issued" 0 '@any' '@any'
assert_eq "recovered record is the certificate's" "issued $(serial_of again.pub)" \
	"$(audit_last event) $(audit_last serial)"
run python3 chain.py "$AUDIT"
assert_eq "audit chain verifies after recovery" "chain ok" "$T_OUT"

# --- privilege separation ---

SP=$(signer_pid)
if [ -n "$SP" ]; then
	# /proc files of a non-dumpable process belong to root.
	assert_eq "signer is not dumpable" "0 $(id -u "${SVC_USER}" 2>/dev/null || id -u)" \
		"$(stat -c %u "/proc/$SP/environ") $(stat -c %u "/proc/$SVC_PID/environ")"
	kill -9 "$SP"
	wait "$SVC_PID" 2>/dev/null
	SVC_RC=$?
	svc_forget
	assert_eq "service exits 4 when the signer dies" 4 "$SVC_RC"
	grep -q 'event=fatal what=signer' serve.log && t_pass "signer death logged" ||
		t_fail "signer death logged" "$(tail -n 5 serve.log)"
else
	t_fail "signer process found"
fi

# --- audit_sync = "syslog-only": the log line is the record, no file ---

conf so.conf 'audit_sync = "syslog-only";'
N0=$(lines "$AUDIT")
SVC_CONF=so.conf svc_start
request -u alice -n alice -t CHG-3003 -o so-cert.pub user.pub
expect "syslog-only: issued" 0 '@any' '@any'
grep -q "event=\"issued\" requester=\"bastion-1\" .* ticket=\"CHG-3003\" .* serial=$(serial_of so-cert.pub) " serve.log &&
	t_pass "syslog-only: the log line is the record" ||
	t_fail "syslog-only: the log line is the record" "$(tail -n 3 serve.log)"
grep -q 'warning="audit records go to syslog only and are not durable"' serve.log &&
	t_pass "syslog-only: not durable, says so" || t_fail "syslog-only: not durable, says so"
assert_eq "syslog-only: audit file untouched" "$N0" "$(lines "$AUDIT")"
kill "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
svc_forget

# --- requesters in the file's order: an earlier requester's group rule wins ---

# by-group lists this user's primary group and comes first; bastion-1 lists
# the user itself: the caller is by-group, whose caps do not include alice.
GID_NAME=$(id -gn)
cat >order.conf <<EOF
ca = {
  endpoints = [ "unix:$SOCK" ];
  timeout = "10s";
  key = "$T_DIR/svc/ca";
  listen = [ "unix:$SOCK" ];
  state_dir = "$T_DIR/svc/state";
  audit_log = "$AUDIT";
  max_validity = "10m";
  requesters = ( { name = "by-group"; unix_groups = [ "$GID_NAME" ];
                   principals = [ "grp-only" ]; },
                 { name = "bastion-1"; unix_users = [ "$U" ];
                   principals = [ "alice" ]; } );
};
certificates = { validity = "5m"; };
EOF
chmod 0644 order.conf
SVC_CONF=order.conf svc_start
run "$JIT_CA" request -c "$T_DIR/order.conf" -u alice -n alice -t CHG-5001 -o - user.pub
expect "the first requester in file order decides: by-group" 1 '' \
	'jit-ca: request: denied: principal "alice" not allowed for requester by-group'
assert_eq "the refusal names requester by-group" "refused denied by-group $(id -u) alice" \
	"$(audit_last event) $(audit_last status) $(audit_last requester) $(audit_last peer_uid) $(audit_last principals)"
run "$JIT_CA" request -c "$T_DIR/order.conf" -u alice -n grp-only -t CHG-5002 -o order-cert.pub user.pub
expect "by-group's own principal issued" 0 '@any' '@any'
assert_eq "issued as by-group" "issued by-group grp-only" \
	"$(audit_last event) $(audit_last requester) $(audit_last principals)"
if [ $AS_ROOT -eq 1 ]; then
	# The group only as a supplementary group: by-group still comes first.
	run setpriv --regid=nogroup --groups="$(id -g)" -- \
		"$JIT_CA" request -c "$T_DIR/order.conf" -u alice -n alice -t CHG-5003 -o - user.pub
	expect "a supplementary group of an earlier requester decides" 1 '' \
		'jit-ca: request: denied: principal "alice" not allowed for requester by-group'
	# Without the group, the user rule of the later requester matches.
	run setpriv --regid=nogroup --clear-groups -- \
		"$JIT_CA" request -c "$T_DIR/order.conf" -u alice -n alice -t CHG-5004 -o order2-cert.pub user.pub
	expect "without the group: bastion-1 by its user" 0 '@any' '@any'
	assert_eq "issued as bastion-1" "issued bastion-1 $(id -u) alice" \
		"$(audit_last event) $(audit_last requester) $(audit_last peer_uid) $(audit_last principals)"
else
	t_skip "a supplementary group of an earlier requester decides" "not root"
fi
kill "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
svc_forget

# Under -Db_sanitize, the service's own reports end up in its log.
cat serve.log >>serve-all.log
if grep -E -q 'Sanitizer|runtime error' serve-all.log; then
	t_fail "no sanitizer reports from the service" \
		"$(grep -E -A 20 'Sanitizer|runtime error' serve-all.log | head -n 40)"
else
	t_pass "no sanitizer reports from the service"
fi

t_summary
