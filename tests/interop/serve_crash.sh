# kill -9 of jit-ca serve under load: every certificate a client received
# has its "issued" audit record, the chain verifies once the restarted
# service has cut a torn last line, and no serial is issued twice.
#
# 8 clients request certificates one after another and write down each one
# they receive; after 2 s the service is killed with SIGKILL, its signer
# must die with it. As root (CI), the service runs as the system account
# "jit-ca-test" (created if absent).

. "$TESTS_DIR/lib.sh"
t_need ssh-keygen python3

if [ -z "${JIT_LOAD_CLIENT:-}" ] || [ ! -x "$JIT_LOAD_CLIENT" ]; then
	echo "JIT_LOAD_CLIENT must name the built interop_load_client" >&2
	exit 99
fi

cd "$T_DIR" || t_bail "cd $T_DIR"

SVC_USER=jit-ca-test
CLIENTS=8
U=$(id -un)
SVC_PID=""
SOCK="$T_DIR/run/ca.sock"
AUDIT="$T_DIR/svc/audit.jsonl"

if [ "$(id -u)" -eq 0 ]; then
	svc_account
else
	SVC=""
fi

mkdir -p svc svc/state run || t_bail "mkdir"
run "$JIT_CA" init -f svc/ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: $T_ERR"
ssh-keygen -q -N '' -t ed25519 -C user -f user || t_bail "ssh-keygen user"
chmod 0644 user.pub svc/ca.pub
if [ "$(id -u)" -eq 0 ]; then
	chown -R "$SVC_USER:" svc run || t_bail "chown"
	chmod 0700 svc/state
	chmod 0755 svc run
fi

cat >jit.conf <<EOF
ca = {
  endpoints = [ "unix:$SOCK" ];
  timeout = "2s";
  key = "$T_DIR/svc/ca";
  listen = [ "unix:$SOCK" ];
  state_dir = "$T_DIR/svc/state";
  audit_log = "$AUDIT";
  requesters = ( { name = "bastion-1"; unix_users = [ "$U" ]; principals = [ "alice" ]; } );
};
certificates = { validity = "5m"; };
EOF
chmod 0644 jit.conf

# svc_start: start the service, wait for its socket.
svc_start() {
	[ -f serve.log ] && cat serve.log >>serve-all.log
	: >serve.log
	# shellcheck disable=SC2086 # SVC is a command prefix
	$SVC "$JIT_CA" serve -c "$T_DIR/jit.conf" 2>>serve.log </dev/null &
	SVC_PID=$!
	T_PIDS="$T_PIDS $SVC_PID"
	_i=0
	until grep -q 'event=started' serve.log && [ -S "$SOCK" ]; do
		kill -0 "$SVC_PID" 2>/dev/null && [ $_i -lt 100 ] ||
			t_bail "jit-ca serve did not start: $(head -c 2000 serve.log)"
		sleep 0.1
		_i=$((_i + 1))
	done
}

# clients SECONDS PREFIX: CLIENTS loops, each recording to PREFIX.N.rec.
clients() {
	_c=1
	CL_PIDS=""
	while [ $_c -le $CLIENTS ]; do
		"$JIT_LOAD_CLIENT" loop "$SOCK" user.pub "$1" "$2.$_c.rec" >"$2.$_c.out" 2>&1 &
		CL_PIDS="$CL_PIDS $!"
		T_PIDS="$T_PIDS $!"
		_c=$((_c + 1))
	done
}

# clients_wait: CL_BAD is how many loops did not end by themselves with 0.
clients_wait() {
	CL_BAD=0
	for _p in $CL_PIDS; do
		wait "$_p" || CL_BAD=$((CL_BAD + 1))
	done
	T_PIDS=""
}

svc_start
SP=$(awk '{ print $1 }' "/proc/$SVC_PID/task/$SVC_PID/children")
[ -n "$SP" ] || t_bail "no signer process"
clients 4 before
sleep 2
kill -9 "$SVC_PID"
wait "$SVC_PID" 2>/dev/null
T_PIDS=$CL_PIDS
# The signer dies with its parent (a zombie left to init counts as dead).
_i=0
while [ $_i -lt 50 ] && [ -e "/proc/$SP" ] && ! grep -q '^State:.*Z' "/proc/$SP/status" 2>/dev/null; do
	sleep 0.1
	_i=$((_i + 1))
done
if [ ! -e "/proc/$SP" ] || grep -q '^State:.*Z' "/proc/$SP/status" 2>/dev/null; then
	t_pass "signer dies with the service"
else
	t_fail "signer dies with the service" "signer pid $SP still there"
	kill -9 "$SP"
fi
clients_wait
assert_eq "clients ran to their end" 0 "$CL_BAD"
cat before.*.rec >received.txt 2>/dev/null
echo "# received before the kill: $(wc -l <received.txt) ($(cat before.*.out | tr '\n' ' '))"
[ "$(wc -l <received.txt)" -ge $CLIENTS ] && t_pass "certificates received under load" ||
	t_fail "certificates received under load" "$(cat before.*.out)"

# check.py AUDIT RECEIVED: every received (serial, key id) is an "issued"
# record; no serial issued twice. A last line cut by the kill is skipped.
cat >check.py <<'EOF'
import json, sys
issued = {}
dup = 0
lines = open(sys.argv[1], "rb").read().split(b"\n")
torn = lines[-1] != b""
for line in lines[:-1]:
    rec = json.loads(line)
    if rec.get("event") == "issued":
        if rec["serial"] in issued:
            dup += 1
        issued[rec["serial"]] = rec["key_id"]
missing = 0
got = 0
for line in open(sys.argv[2], encoding="utf-8"):
    serial, key_id = line.rstrip("\n").split("\t")
    got += 1
    if issued.get(int(serial)) != key_id:
        missing += 1
        print("# not in the audit log: %s %s" % (serial, key_id), file=sys.stderr)
print("missing=%d duplicate=%d" % (missing, dup))
print("max=%d" % max(issued) if issued else "max=0", file=sys.stderr)
EOF
run python3 check.py "$AUDIT" received.txt
assert_eq "every received certificate has its issued record" "missing=0 duplicate=0" "$T_OUT"
printf '%s\n' "$T_ERR" | grep '^# ' | head -n 10
MAX=$(printf '%s\n' "$T_ERR" | sed -n 's/^max=//p')
RMAX=$(cut -f1 received.txt | sort -n | tail -n 1)
[ "$RMAX" -le "$MAX" ] 2>/dev/null || t_fail "highest received serial recorded" "$RMAX > $MAX"

# Before the restart the last line may be torn; nothing else may be wrong.
run "$JIT_CA" audit verify -c "$T_DIR/jit.conf"
case "$T_RC:$T_OUT$T_ERR" in
0:*" records, chain intact, head "*) t_pass "audit chain after the kill" ;;
1:*"no newline at the end (an unfinished write)"*)
	t_pass "audit chain after the kill (torn last line)" ;;
*) t_fail "audit chain after the kill" "exit $T_RC" "$T_OUT" "$T_ERR" ;;
esac
echo "# before restart: $T_OUT$T_ERR"

svc_start
clients 1 after
clients_wait
T_PIDS=$SVC_PID
assert_eq "clients after the restart ran to their end" 0 "$CL_BAD"
cat after.*.rec >after.txt 2>/dev/null
[ -s after.txt ] && t_pass "certificates after the restart" ||
	t_fail "certificates after the restart" "$(cat after.*.out)"
AMIN=$(cut -f1 after.txt | sort -n | head -n 1)
[ "$AMIN" -gt "$MAX" ] 2>/dev/null && t_pass "serials after the restart beyond all earlier" ||
	t_fail "serials after the restart beyond all earlier" "lowest new $AMIN, highest earlier $MAX"
cat received.txt after.txt >all.txt
run python3 check.py "$AUDIT" all.txt
assert_eq "every certificate of both runs has its issued record" "missing=0 duplicate=0" "$T_OUT"

run "$JIT_CA" audit verify -c "$T_DIR/jit.conf"
expect "audit chain verifies after the restart" 0 "@has: records, chain intact, head " ''

kill "$SVC_PID"
wait "$SVC_PID"
SVC_RC=$?
T_PIDS=""
assert_eq "service stops with 0" 0 "$SVC_RC"
cat serve.log >>serve-all.log
if grep -E -q 'Sanitizer|runtime error' serve-all.log; then
	t_fail "no sanitizer reports from the service" \
		"$(grep -E -A 20 'Sanitizer|runtime error' serve-all.log | head -n 40)"
else
	t_pass "no sanitizer reports from the service"
fi

t_summary
