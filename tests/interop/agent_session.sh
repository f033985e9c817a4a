# jit-agent as pam_jit.so starts it: the session context on stdin, a real
# jit-ca serve, a real sshd that trusts only that CA, and a local user
# "jitalice" who logs in through the agent with plain ssh. Checks the
# socket's owner and mode, peer checks, that the user cannot read the
# agent's memory, renewal on use, refusal once the ticket is closed, and
# every way the agent stops: the watched process, SIGTERM, the access's
# end, and a CA that is down at start.
#
# Needs root (users, setpriv, a root-owned agent); as another user the
# whole script reports one skipped case.

. "$TESTS_DIR/lib.sh"
t_need ssh ssh-keygen ssh-add /usr/sbin/sshd python3 setpriv useradd

AGENT=${JIT_AGENT:-}
if [ -z "$AGENT" ] || [ ! -x "$AGENT" ]; then
	t_bail "JIT_AGENT must name the built jit-agent"
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "ok - agent session # skip needs root"
	t_summary
fi

cd "$T_DIR" || t_bail "cd $T_DIR"
# The CA account and jitalice must reach files under T_DIR.
chmod 0711 "$T_DIR"

SVC_USER=jit-ca-test
LU=jitalice
if ! id "$SVC_USER" >/dev/null 2>&1; then
	useradd --system --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin "$SVC_USER" || t_bail "useradd $SVC_USER"
fi
if ! id "$LU" >/dev/null 2>&1; then
	# "*": no password, but not a locked account for sshd.
	useradd --no-create-home --home-dir / --shell /bin/sh -p '*' "$LU" ||
		t_bail "useradd $LU"
fi
getent group jit-bg-test >/dev/null || groupadd --system jit-bg-test ||
	t_bail "groupadd jit-bg-test"
id -nG "$LU" | tr ' ' '\n' | grep -qx jit-bg-test || usermod -aG jit-bg-test "$LU" ||
	t_bail "usermod $LU"
LUID=$(id -u "$LU")
LGID=$(id -g "$LU")
AS_USER="setpriv --reuid=$LU --regid=$LU --init-groups -- env HOME=/ LC_ALL=C"
AS_NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups -- env HOME=/ LC_ALL=C"

SOCK="$T_DIR/run/ca.sock"
AUDIT="$T_DIR/svc/audit.jsonl"
RT="$T_DIR/rt"
mkdir -p svc svc/state run rt || t_bail "mkdir"
run "$JIT_CA" init -f svc/ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: $T_ERR"
chmod 0644 svc/ca.pub
chown -R "$SVC_USER:" svc run || t_bail "chown"
chmod 0700 svc/state
chmod 0755 svc run
ssh-keygen -q -N '' -t ed25519 -f hostkey || t_bail "ssh-keygen hostkey"

# The requester's cap (20 s) is below the renewal margin (30 s): every use
# of the agent renews, so renewal and refusal show at once.
cat >jit.conf <<EOF
ca = {
  endpoints = [ "unix:$SOCK" ];
  timeout = "2s";
  key = "$T_DIR/svc/ca";
  listen = [ "unix:$SOCK" ];
  state_dir = "$T_DIR/svc/state";
  audit_log = "$AUDIT";
  max_validity = "10m";
  breakglass_max_validity = "2m";
  requesters = ( { name = "bastion-1"; unix_users = [ "root" ];
                   principals = [ "$LU" ]; max_validity = "20s";
                   source_address = "127.0.0.1/32"; } );
};
tickets = { backend = "file"; file = "$T_DIR/tickets.conf"; };
certificates = { validity = "1m"; extensions = [ "permit-pty" ];
                 source_address = "127.0.0.1/32"; };
windows = { };
breakglass = { group = "jit-bg-test"; validity = "3s"; session_max = "5s";
               principals = [ "$LU" ]; };
EOF
chmod 0644 jit.conf

NOW=$(date -u +%s)
iso() {
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}
# tickets STATE [SHORT_END]: CHG-1001 (STATE, open for an hour) and CHG-1002
# (approved, ending at SHORT_END), replaced atomically.
tickets() {
	cat >tickets.new <<EOF
tickets = (
  { id = "CHG-1001"; state = "$1"; users = [ "$LU" ]; principals = [ "$LU" ];
    not_before = "$(iso $((NOW - 600)))"; not_after = "$(iso $((NOW + 3600)))"; },
  { id = "CHG-1002"; state = "approved"; users = [ "$LU" ]; principals = [ "$LU" ];
    not_before = "$(iso $((NOW - 600)))"; not_after = "$(iso "${2:-$((NOW + 3600))}")"; }
);
EOF
	chmod 0644 tickets.new
	mv tickets.new tickets.conf
}
tickets approved

SVC_PID=""
svc_start() {
	: >>"$T_DIR/serve.log"
	setpriv --reuid="$SVC_USER" --regid="$SVC_USER" --init-groups -- \
		"$JIT_CA" serve -c "$T_DIR/jit.conf" 2>>"$T_DIR/serve.log" </dev/null &
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
svc_start
sshd_start target VERBOSE "$T_DIR/svc/ca.pub"

# context SESSION TICKET WATCH_PID: the module's stdin for jitalice.
context() {
	printf 'user=%s\nuid=%s\ngid=%s\nsession=%s\ncontext=ticket\nticket=%s\nwatch_pid=%s\n' \
		"$LU" "$LUID" "$LGID" "$1" "$2" "$3"
}

# agent_start NAME CONTEXT_FILE [FLAGS...]: the agent in the background;
# AGENT_PID, its stdout in NAME.out, stderr in NAME.log. Waits for the
# answer line (at most ca.timeout + 2 s, as the module does).
agent_start() {
	_n=$1 _c=$2
	shift 2
	"$AGENT" --config "$T_DIR/jit.conf" --runtime-dir "$RT" "$@" \
		<"$_c" >"$T_DIR/$_n.out" 2>"$T_DIR/$_n.log" &
	AGENT_PID=$!
	T_PIDS="$T_PIDS $AGENT_PID"
	_i=0
	while [ ! -s "$T_DIR/$_n.out" ] && [ $_i -lt 40 ]; do
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
		_i=$((_i + 1))
	done
}

# gone NAME PID SOCKET: the agent exits (status 0) within 3 s, removing its socket.
gone() {
	_i=0
	while kill -0 "$2" 2>/dev/null && [ $_i -lt 30 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if kill -0 "$2" 2>/dev/null; then
		t_fail "$1" "agent $2 still running"
		return
	fi
	wait "$2"
	_rc=$?
	if [ "$_rc" -eq 0 ] && [ ! -e "$3" ]; then
		t_pass "$1"
	else
		t_fail "$1" "exit $_rc, socket $(ls -l "$3" 2>&1)"
	fi
}

# issued_serials SESSION: serials the CA issued for the session, in order.
issued_serials() {
	python3 - "$AUDIT" "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r.get("event") == "issued" and r.get("session") == sys.argv[2]:
        print(r["serial"])
EOF
}

login() {
	# shellcheck disable=SC2086 # AS_USER is a command prefix
	run_ssh $AS_USER SSH_AUTH_SOCK="$1" ssh -F /dev/null -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o ConnectTimeout=10 -p "$SSHD_PORT" "$LU@127.0.0.1" id -un
}

# --- a session: start, socket, listing, login ---

sleep 300 &
WATCH=$!
T_PIDS="$T_PIDS $WATCH"
context s1 CHG-1001 "$WATCH" >ctx1
agent_start a1 ctx1 --foreground
A1=$AGENT_PID
S1="$RT/$LUID/agent.s1"
assert_eq "agent answers with its socket" "SSH_AUTH_SOCK=$S1" "$(cat a1.out)"
[ -S "$S1" ] || t_bail "no agent socket: $(cat a1.log)"
assert_eq "socket 0600 owned by the user" "600 $LU socket" "$(stat -c '%a %U %F' "$S1")"
assert_eq "socket directory 0700 owned by the user" "700 $LU directory" \
	"$(stat -c '%a %U %F' "$RT/$LUID")"
FIRST=$(issued_serials s1)
assert_eq "one certificate at start" 1 "$(printf '%s\n' "$FIRST" | grep -c .)"

# shellcheck disable=SC2086
run $AS_USER SSH_AUTH_SOCK="$S1" ssh-add -l
expect "ssh-add -l lists one certificate" 0 \
	"@has:jit CHG-1001 session=s1 (ED25519-CERT)" ''
assert_eq "only one identity" 1 "$(printf '%s\n' "$T_OUT" | grep -c .)"

mark=$(lines "$SSHD_LOG")
login "$S1"
expect "plain ssh logs in through the agent" 0 "$LU" '@any'
_i=0
while [ $_i -lt 50 ] && ! tail -n +$((mark + 1)) "$SSHD_LOG" | grep -q "Accepted publickey for $LU "; do
	sleep 0.1
	_i=$((_i + 1))
done
_acc=$(tail -n +$((mark + 1)) "$SSHD_LOG" | grep "Accepted publickey for $LU " | head -n 1)
case "$_acc" in
*"ID user=$LU ticket=CHG-1001 session=s1 requester=bastion-1 serial="*)
	t_pass "sshd saw the CA's key ID" ;;
*) t_fail "sshd saw the CA's key ID" "$(tail -n +$((mark + 1)) "$SSHD_LOG" | head -c 3000)" ;;
esac
USED=$(printf '%s\n' "$_acc" | sed -n 's/.*(serial \([0-9]*\)).*/\1/p')
ALL=$(issued_serials s1)
if [ -n "$USED" ] && [ "$USED" != "$FIRST" ] &&
	printf '%s\n' "$ALL" | grep -qx "$USED"; then
	t_pass "renewed certificate (new serial) used for the login"
else
	t_fail "renewed certificate (new serial) used for the login" \
		"first [$FIRST] used [$USED] issued [$ALL]"
fi
grep -q 'event=renewal session=s1 decision=allow rule=approved' a1.log &&
	t_pass "renewal decided again" || t_fail "renewal decided again" "$(cat a1.log)"

mark=$(lines "$SSHD_LOG")
login "$S1"
expect "second login" 0 "$LU" '@any'
N2=$(issued_serials s1 | grep -c .)
[ "$N2" -gt "$(printf '%s\n' "$ALL" | grep -c .)" ] &&
	t_pass "second login renews again" || t_fail "second login renews again" "$N2"

# shellcheck disable=SC2086
run $AS_USER SSH_AUTH_SOCK="$S1" ssh-add -D
expect "ssh-add -D is refused" 1 '' 'Failed to remove all identities.'

# --- who may use it ---

# shellcheck disable=SC2086
run $AS_NOBODY SSH_AUTH_SOCK="$S1" ssh-add -l
expect "another user cannot open the socket" 2 '' \
	'Error connecting to agent: Permission denied'
# With the modes out of the way, the agent's own peer check refuses.
chmod 0711 "$RT/$LUID"
chmod 0666 "$S1"
# A request-identities; the agent must hang up without an answer.
# shellcheck disable=SC2086
run $AS_NOBODY python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(sys.argv[1])
try:
    c.sendall(b"\x00\x00\x00\x01\x0b")
    print("answer" if c.recv(1024) else "closed")
except (BrokenPipeError, ConnectionResetError):
    print("closed")
' "$S1"
chmod 0600 "$S1"
chmod 0700 "$RT/$LUID"
expect "peer check refuses another uid" 0 closed ''
grep -q "event=peer-refused session=s1 peer_uid=$(id -u nobody)" a1.log &&
	t_pass "peer refusal logged" || t_fail "peer refusal logged" "$(tail -n 5 a1.log)"

# --- what the agent answers on the wire ---

# shellcheck disable=SC2086
run $AS_USER SSH_AUTH_SOCK="$S1" ssh-add -L
printf '%s\n' "$T_OUT" >id.pub
ssh-keygen -L -f id.pub >id.txt 2>&1
if grep -q '^                jitalice$' id.txt &&
	grep -q 'Key ID: "user=jitalice ticket=CHG-1001 session=s1 requester=bastion-1 serial=' id.txt &&
	grep -q 'source-address 127.0.0.1/32' id.txt && grep -q 'permit-pty' id.txt &&
	[ "$(sed -n '/Principals:/,/Critical Options:/p' id.txt | grep -c '^                [^ ]')" -eq 1 ]; then
	t_pass "certificate: principal, key ID, source-address, extensions"
else
	t_fail "certificate: principal, key ID, source-address, extensions" "$(cat id.txt)"
fi
echo "signed text" >msg.txt
chmod 0644 id.pub msg.txt
# ssh-keygen -Y sign asks with the plain key blob, not the certificate.
# shellcheck disable=SC2086
run $AS_USER SSH_AUTH_SOCK="$S1" sh -c "ssh-keygen -Y sign -f '$T_DIR/id.pub' -n file <'$T_DIR/msg.txt'"
expect "ssh-keygen -Y sign through the agent" 0 '@line1:-----BEGIN SSH SIGNATURE-----' '@any'
printf '%s\n' "$T_OUT" >msg.sig
run sh -c "ssh-keygen -Y check-novalidate -n file -s '$T_DIR/msg.sig' <'$T_DIR/msg.txt'"
expect "its signature verifies" 0 '@has:Good "file" signature with ED25519' '@any'

cat >wire.py <<'EOF'
import socket, struct, sys, time

def s(b):
    return struct.pack(">I", len(b)) + b

def ask(path, payload, raw=None):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    c.settimeout(5)
    try:
        c.sendall(raw if raw is not None else struct.pack(">I", len(payload)) + payload)
        got = c.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        got = b""
    return got.hex() if got else "closed"

path = sys.argv[1]
if len(sys.argv) > 2 and sys.argv[2] == "limit":
    # 16 idle connections fill the agent; the 17th is closed unanswered.
    idle = []
    for i in range(16):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        idle.append(c)
    r = ask(path, b"\x0b")
    print("17th", r if r == "closed" else "type " + r[8:10])
    for c in idle:
        c.close()
    time.sleep(0.3)
    r = ask(path, b"\x0b")
    print("after", r if r == "closed" else "type " + r[8:10])
    sys.exit(0)
if len(sys.argv) > 2 and sys.argv[2] == "partial":
    # Half a header, then nothing: dropped after the frame timeout (10 s).
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    c.settimeout(20)
    t0 = time.monotonic()
    c.sendall(b"\x00\x00")
    got = c.recv(16)
    print("closed" if got == b"" else "answer", round(time.monotonic() - t0))
    sys.exit(0)
foreign = s(b"ssh-ed25519") + s(b"\x01" * 32)
print("remove-all", ask(path, b"\x13"))
print("unknown", ask(path, b"\xc8abc"))
print("sign-foreign", ask(path, b"\x0d" + s(foreign) + s(b"data") + struct.pack(">I", 0)))
print("malformed", ask(path, b"\x0b\x00"))
print("oversized", ask(path, None, struct.pack(">I", 256 * 1024 + 1) + b"\x0b"))
print("empty", ask(path, None, struct.pack(">I", 0)))
EOF
# shellcheck disable=SC2086
run $AS_USER python3 "$T_DIR/wire.py" "$S1"
expect "refusals on the wire" 0 "remove-all 0000000105
unknown 0000000105
sign-foreign 0000000105
malformed 0000000105
oversized closed
empty closed" ''
# shellcheck disable=SC2086
run $AS_USER python3 "$T_DIR/wire.py" "$S1" limit
expect "at most 16 connections" 0 "17th closed
after type 0c" ''
grep -q 'event=busy session=s1 connections=16' a1.log && t_pass "busy logged" ||
	t_fail "busy logged" "$(tail -n 3 a1.log)"
# shellcheck disable=SC2086
run $AS_USER python3 "$T_DIR/wire.py" "$S1" partial
case "$T_OUT" in
"closed 10" | "closed 11") t_pass "incomplete request dropped after 10 s" ;;
*) t_fail "incomplete request dropped after 10 s" "$T_OUT" ;;
esac

# --- the user cannot read the agent's memory ---

assert_eq "agent runs as root" "0 0" \
	"$(awk '$1 == "Uid:" { print $2, $3 }' "/proc/$A1/status")"
# shellcheck disable=SC2086
run $AS_USER python3 -c '
import ctypes, os, sys
pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH = 16
r = libc.ptrace(PTRACE_ATTACH, pid, None, None)
print("attach", r, os.strerror(ctypes.get_errno()))
try:
    with open("/proc/%d/mem" % pid, "rb") as f:
        f.read(1)
    print("mem readable")
except OSError as e:
    print("mem", os.strerror(e.errno))
' "$A1"
expect "ptrace and /proc/PID/mem refused to the user" 0 \
	"attach -1 Operation not permitted
mem Permission denied" ''

# --- the ticket closes: the next use is refused ---

tickets closed
login "$S1"
expect "login refused once the ticket is closed" 255 '' \
	"@has:Permission denied (publickey,"
grep -q 'event=renewal session=s1 decision=deny rule=ticket-not-approved' a1.log &&
	grep -q 'event=refused session=s1 request=identities rule=ticket-not-approved' a1.log &&
	t_pass "refusal logged with its rule" ||
	t_fail "refusal logged with its rule" "$(tail -n 5 a1.log)"
# shellcheck disable=SC2086
run $AS_USER SSH_AUTH_SOCK="$S1" ssh-add -l
expect "no identity listed once refused" 1 'The agent has no identities.' ''
tickets approved

# --- stop: the watched process exits ---

kill "$WATCH"
wait "$WATCH" 2>/dev/null
gone "agent exits with the watched process" "$A1" "$S1"
grep -q 'event=exit session=s1 reason=watch_pid' a1.log &&
	t_pass "exit reason watch_pid logged" || t_fail "exit reason watch_pid logged" "$(tail -n 3 a1.log)"

# --- stop: SIGTERM, detached as the module runs it ---

sleep 300 &
WATCH=$!
T_PIDS="$T_PIDS $WATCH"
context s2 CHG-1001 "$WATCH" >ctx2
agent_start a2 ctx2
A2=$AGENT_PID
S2="$RT/$LUID/agent.s2"
assert_eq "detached agent answers" "SSH_AUTH_SOCK=$S2" "$(cat a2.out)"
sleep 0.3
assert_eq "detached: own session, stdio on /dev/null" "$A2 /dev/null /dev/null" \
	"$(ps -o sid= -p "$A2" | tr -d ' ') $(readlink "/proc/$A2/fd/1") $(readlink "/proc/$A2/fd/2")"
# shellcheck disable=SC2086
run $AS_USER SSH_AUTH_SOCK="$S2" ssh-add -l
expect "detached agent serves" 0 "@has:(ED25519-CERT)" ''
kill -TERM "$A2"
gone "agent exits on SIGTERM" "$A2" "$S2"
kill "$WATCH"
wait "$WATCH" 2>/dev/null

# --- stop: the access ends (CHG-1002 ends in 4 s) ---

sleep 300 &
WATCH=$!
T_PIDS="$T_PIDS $WATCH"
NOW=$(date -u +%s)
tickets approved $((NOW + 4))
context s3 CHG-1002 "$WATCH" >ctx3
agent_start a3 ctx3 --foreground
A3=$AGENT_PID
assert_eq "short ticket: agent starts" "SSH_AUTH_SOCK=$RT/$LUID/agent.s3" "$(cat a3.out)"
sleep 4
gone "agent exits at the ticket's end" "$A3" "$RT/$LUID/agent.s3"
grep -q 'event=exit session=s3 reason=end' a3.log &&
	t_pass "exit reason end logged" || t_fail "exit reason end logged" "$(tail -n 3 a3.log)"
tickets approved

# --- break-glass: its own key ID, ends at session_max (5 s) ---

sleep 300 &
WATCH=$!
T_PIDS="$T_PIDS $WATCH"
printf 'user=%s\nuid=%s\ngid=%s\nsession=s5\ncontext=breakglass\nreason=%s\nwatch_pid=%s\n' \
	"$LU" "$LUID" "$LGID" "database down, paging did not help" "$WATCH" >ctx5
agent_start a5 ctx5 --foreground
A5=$AGENT_PID
S5="$RT/$LUID/agent.s5"
assert_eq "break-glass: agent starts" "SSH_AUTH_SOCK=$S5" "$(cat a5.out)"
mark=$(lines "$SSHD_LOG")
login "$S5"
expect "break-glass: login through the agent" 0 "$LU" '@any'
_i=0
while [ $_i -lt 50 ] && ! tail -n +$((mark + 1)) "$SSHD_LOG" | grep -q "Accepted publickey for $LU "; do
	sleep 0.1
	_i=$((_i + 1))
done
tail -n +$((mark + 1)) "$SSHD_LOG" | grep "Accepted publickey for $LU " |
	grep -q "ID user=$LU breakglass=1 session=s5 requester=bastion-1 serial=" &&
	t_pass "break-glass: key ID" ||
	t_fail "break-glass: key ID" "$(tail -n +$((mark + 1)) "$SSHD_LOG" | head -c 2000)"
# Taken out of the break-glass group: the next renewal reads the groups again.
gpasswd -d "$LU" jit-bg-test >/dev/null || t_bail "gpasswd -d $LU jit-bg-test"
login "$S5"
expect "break-glass: refused once out of the group" 255 '' \
	"@has:Permission denied (publickey,"
gpasswd -a "$LU" jit-bg-test >/dev/null || t_bail "gpasswd -a $LU jit-bg-test"
grep -q 'event=renewal session=s5 decision=deny rule=breakglass-not-in-group' a5.log &&
	t_pass "break-glass: group removal logged with its rule" ||
	t_fail "break-glass: group removal logged with its rule" "$(tail -n 5 a5.log)"
sleep 3
gone "break-glass: agent exits at session_max" "$A5" "$S5"
grep -q 'event=exit session=s5 reason=end' a5.log &&
	t_pass "break-glass: exit reason end" || t_fail "break-glass: exit reason end" "$(tail -n 3 a5.log)"

# --- refusals at start ---

run "$JIT_AGENT" --help
expect "--help: usage on stdout, exit 0" 0 "@has:usage: jit-agent [--config PATH] [--foreground] [--runtime-dir DIR]" ''
run "$JIT_AGENT" --bogus
expect "unknown option: usage on stderr, exit 2" 2 '' \
	"usage: jit-agent [--config PATH] [--foreground] [--runtime-dir DIR]"

# start_fails NAME CONTEXT_FILE EXPECTED_LINE [FLAGS...]
start_fails() {
	_sf_n=$1 _sf_c=$2 _sf_e=$3
	shift 3
	agent_start x "$_sf_c" --foreground "$@"
	set -- "$_sf_n" "$_sf_c" "$_sf_e"
	_i=0
	while kill -0 "$AGENT_PID" 2>/dev/null && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	wait "$AGENT_PID"
	_rc=$?
	if [ "$_rc" -eq 1 ] && t_match "$(cat x.out)" "$3"; then
		t_pass "$1"
	else
		t_fail "$1" "exit $_rc, stdout [$(cat x.out)], expected [$3]" "$(cat x.log)"
	fi
	cat x.log >>refusals.log
}

context s4 CHG-1001 "$WATCH" | sed "s/^uid=.*/uid=$(id -u nobody)/" >ctx4
start_fails "uid not the user's" ctx4 'error=uid or gid does not match the user'
{
	context s4 CHG-1001 "$WATCH"
	echo "shell=/bin/sh"
} >ctx9
start_fails "unknown context key" ctx9 'error=unknown context key'
context 's4;x' CHG-1001 "$WATCH" >ctx6
start_fails "bad session id" ctx6 'error=context session: invalid format'
context s4 CHG-9999 "$WATCH" >ctx7
start_fails "unknown ticket" ctx7 'error=ticket-unknown: ticket CHG-9999 is not known'
context s4 CHG-1001 "$WATCH" >ctx8
start_fails "missing configuration" ctx8 \
	"error=configuration error" --config "$T_DIR/nonexistent.conf"
grep -q "error=config msg=\"$T_DIR/nonexistent.conf: " x.log &&
	t_pass "missing configuration: the details in the log" ||
	t_fail "missing configuration: the details in the log" "$(cat x.log)"
# A lookup that fails with a secret on stderr: the log has it, the engineer does not.
printf '#!/bin/sh\necho "curl: (22) 401 https://svc:hunter2@jira.invalid/" >&2\nexit 2\n' >lookup-fails
chmod 0755 lookup-fails
sed "s|^tickets = .*|tickets = { backend = \"command\"; command = [ \"$T_DIR/lookup-fails\" ]; };|" \
	jit.conf >jit-cmd.conf
chmod 0644 jit-cmd.conf
start_fails "ticket backend failing: no details to the engineer" ctx8 \
	"error=ticket system unavailable" --config "$T_DIR/jit-cmd.conf"
grep -q 'error=tickets ticket=CHG-1001 msg=.*hunter2' x.log &&
	t_pass "ticket backend failing: the details in the log" ||
	t_fail "ticket backend failing: the details in the log" "$(cat x.log)"
chmod 0755 "$RT/$LUID"
start_fails "user directory with another mode refused" ctx8 \
	"error=$RT/$LUID: bad owner or mode"
chmod 0700 "$RT/$LUID"
mv "$RT/$LUID" "$RT/moved"
ln -s "$RT/moved" "$RT/$LUID"
start_fails "user directory as a symbolic link refused" ctx8 \
	"@has:error=cannot open $RT/$LUID: "
rm "$RT/$LUID"
mv "$RT/moved" "$RT/$LUID"

# --- the CA is down at start ---

kill "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
T0=$(date +%s%N)
start_fails "CA down: error line, exit 1" ctx8 "@has:error=CA unavailable: unix:$SOCK: "
T1=$(date +%s%N)
MS=$(((T1 - T0) / 1000000))
[ "$MS" -le 3000 ] && t_pass "CA down: answered within ca.timeout + 1 s" ||
	t_fail "CA down: answered within ca.timeout + 1 s" "$MS ms"
[ ! -e "$RT/$LUID/agent.s4" ] && t_pass "no socket after a failed start" ||
	t_fail "no socket after a failed start"

kill "$WATCH"
wait "$WATCH" 2>/dev/null
start_fails "watched process already gone" ctx8 "error=watch_pid $WATCH does not exist"
_left=""
for _p in $A1 $A2 $A3 $A5; do
	kill -0 "$_p" 2>/dev/null && _left="$_left $_p"
done
assert_eq "no agent process remains" "" "$_left"

if cat a1.log a2.log a3.log a5.log refusals.log 2>/dev/null | grep -E -q 'Sanitizer|runtime error'; then
	t_fail "no sanitizer reports from the agent" \
		"$(cat a1.log a3.log refusals.log | grep -E -A 20 'Sanitizer|runtime error' | head -n 40)"
else
	t_pass "no sanitizer reports from the agent"
fi

t_summary
