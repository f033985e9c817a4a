# jit-ca revoke, krl and audit verify against the real ssh-keygen -Q and
# sshd's RevokedKeys: revoked certificates are refused, others still work;
# the audit log written here by the documented format (docs/audit-format.md)
# verifies, and a tampered one is refused at the right record. revoke -t
# blocks the ticket before it reads the log, and while the service runs
# reads the log again once what the service decided before has committed.
#
# As root, also: root and the state directory's owner (a service account,
# "jit-ca-test", created if absent) both run revoke and krl on one state, in
# either order; and jit-ca serve, run as that account, refuses ticket
# requests while the store exists but cannot be read, and sees a store
# changed in place with its size and modification time kept.

. "$TESTS_DIR/lib.sh"
t_need /usr/sbin/sshd ssh ssh-keygen python3 od cmp

cd "$T_DIR" || t_bail "cd $T_DIR"

U=$(id -un)
CFG=$T_DIR/jit.conf
STATE=$T_DIR/state
AUDIT=$T_DIR/audit.jsonl
KRL=$T_DIR/krl/revoked.krl
STORE=$STATE/revoked
REMIND='run "jit-ca krl -c CONFIG -o FILE" to update the KRL that sshd reads'

umask 022
mkdir -p "$STATE" "$T_DIR/krl" || t_bail "mkdir"
# The lock jit-ca serve holds while it runs: a service ran here and is
# stopped, so revoke -t has nothing to wait for.
: >"$STATE/lock" || t_bail "lock file"
ssh-keygen -q -N '' -t ed25519 -f hostkey || t_bail "ssh-keygen hostkey"
ssh-keygen -q -N '' -t ed25519 -C user -f user || t_bail "ssh-keygen user"
run "$JIT_CA" init -f ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: exit $T_RC: $T_ERR"

cat >"$CFG" <<EOF
ca = {
  key = "$T_DIR/ca";
  listen = [ "unix:$T_DIR/ca.sock" ];
  state_dir = "$STATE";
  audit_log = "$AUDIT";
  requesters = ( { name = "bastion"; unix_users = [ "root" ];
                   principals = [ "*" ]; } );
};
EOF

# cert SERIAL KEY_ID: cert-SERIAL.pub for user.pub, principal $U.
cert() {
	run "$JIT_CA" sign -s ca -I "$2" -z "$1" -n "$U" -V -5m:+1h \
		-o "cert-$1.pub" user.pub
	[ "$T_RC" -eq 0 ] || t_bail "jit-ca sign $1: exit $T_RC: $T_ERR"
}
cert 5 alice
cert 6 bob
cert 7 evil
cert 11 "carol CHG-1"
cert 12 "carol CHG-1 renewed"
cert 13 "dave CHG-2"

# The audit log as the service writes it: canonical JSON, hash chain.
# Record 2 refuses CHG-1; records 1 and 4 issue serials 11 and 12 for it.
python3 - "$AUDIT" <<'EOF' || t_bail "python3 audit log"
import hashlib, json, sys
recs = [
    [("event", "issued"), ("ticket", "CHG-1"), ("user", "carol"), ("serial", 11),
     ("key_id", "carol CHG-1"), ("breakglass", False)],
    [("event", "refused"), ("ticket", "CHG-1"), ("user", "mallory"),
     ("reason", "user not on ticket")],
    [("event", "issued"), ("ticket", "CHG-2"), ("user", "dave"), ("serial", 13),
     ("key_id", "dave CHG-2"), ("breakglass", False)],
    [("event", "issued"), ("ticket", "CHG-1"), ("user", "carol"), ("serial", 12),
     ("key_id", "carol CHG-1 renewed"), ("breakglass", False)],
    [("event", "refused"), ("ticket", "CHG-3"), ("user", "erin"),
     ("reason", "ticket not approved")],
]
def val(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(v, ensure_ascii=False)
prev = "0" * 64
out = b""
for i, fields in enumerate(recs, 1):
    t = "2030-03-17T17:46:%02dZ" % (40 + i)
    parts = ['"seq":%d' % i, '"time":"%s"' % t, '"prev":"%s"' % prev]
    parts += ['"%s":%s' % (k, val(v)) for k, v in fields]
    line = ("{" + ",".join(parts) + "}").encode()
    prev = hashlib.sha256(line).hexdigest()
    out += line + b"\n"
open(sys.argv[1], "wb").write(out)

EOF
HEAD=$(tail -n 1 "$AUDIT" | tr -d '\n' | sha256sum | cut -d' ' -f1)

# query NAME CERT VERDICT: ssh-keygen -Q says CERT is REVOKED or ok.
query() {
	run ssh-keygen -Q -f "$KRL" "$2"
	if [ "$3" = REVOKED ]; then
		expect "$1" 1 "$2 (user): REVOKED" ''
	else
		expect "$1" 0 "$2 (user): ok" ''
	fi
}

# --- audit verify ---
run "$JIT_CA" audit verify -c "$CFG"
expect "audit verify: intact log" 0 "$AUDIT: 5 records, chain intact, head $HEAD" ''

# --- revoke by serial, krl, ssh-keygen -Q ---
run "$JIT_CA" revoke -c "$CFG" -z 5
expect "revoke -z 5" 0 "revoked serial 5
$REMIND" ''
assert_eq "store after -z 5" "serial 5" "$(cat "$STORE")"
run "$JIT_CA" krl -c "$CFG" -o "$KRL"
expect "krl after -z 5" 0 "wrote $KRL: 1 serial range, 0 key IDs" ''
query "ssh-keygen -Q: serial 5 revoked" cert-5.pub REVOKED
query "ssh-keygen -Q: serial 6 ok" cert-6.pub ok
run ssh-keygen -Q -l -f "$KRL"
expect "ssh-keygen reads the KRL's version and comment" 0 \
	"@has:# KRL version 1" @any
if t_match "$T_OUT" "@has:# Comment: jit-ca"; then
	t_pass "KRL comment is jit-ca"
else
	t_fail "KRL comment is jit-ca" "$T_OUT"
fi

run "$JIT_CA" revoke -c "$CFG" -z 5
expect "revoke -z 5 again: nothing new" 0 "serial 5 was already revoked" ''
assert_eq "store unchanged by a duplicate" "serial 5" "$(cat "$STORE")"
run "$JIT_CA" revoke -c "$CFG" -z 4-6
expect "revoke -z 4-6 merges" 0 "revoked serials 4-6
$REMIND" ''
assert_eq "store after 4-6" "serial 4-6" "$(cat "$STORE")"

# --- revoke by key ID ---
run "$JIT_CA" revoke -c "$CFG" -I evil
expect "revoke -I evil" 0 "revoked key ID \"evil\"
$REMIND" ''
run "$JIT_CA" krl -c "$CFG" -o "$KRL"
expect "krl after -I evil" 0 "wrote $KRL: 1 serial range, 1 key ID" ''
query "ssh-keygen -Q: key ID evil revoked" cert-7.pub REVOKED
query "ssh-keygen -Q: serial 13 ok" cert-13.pub ok
run ssh-keygen -Q -l -f "$KRL"
expect "KRL version counts up" 0 "@has:# KRL version 2" @any

# --- revoke by ticket, from the audit log ---
run "$JIT_CA" revoke -c "$CFG" -t CHG-1
expect "revoke -t CHG-1" 0 "revoked serial 11
revoked serial 12
ticket CHG-1: 2 certificates issued, 2 newly revoked
ticket CHG-1 is blocked for future certificates
$REMIND" ''
assert_eq "store after -t CHG-1" "serial 4-6
serial 11-12
id evil
ticket CHG-1" "$(cat "$STORE")"
run "$JIT_CA" krl -c "$CFG" -o "$KRL"
expect "krl after -t CHG-1" 0 "wrote $KRL: 2 serial ranges, 1 key ID" ''
query "ssh-keygen -Q: CHG-1 serial 11 revoked" cert-11.pub REVOKED
query "ssh-keygen -Q: CHG-1 serial 12 revoked" cert-12.pub REVOKED
query "ssh-keygen -Q: CHG-2 serial 13 ok" cert-13.pub ok

run "$JIT_CA" revoke -c "$CFG" -t CHG-1
expect "revoke -t CHG-1 again: nothing new" 0 "serial 11 was already revoked
serial 12 was already revoked
ticket CHG-1: 2 certificates issued, 0 newly revoked
ticket CHG-1 was already blocked for future certificates" ''
# No certificate yet is no reason to refuse: the ticket is blocked for the service.
cp "$STORE" store.before
run "$JIT_CA" revoke -c "$CFG" -t CHG-3
expect "revoke -t with only refusals: blocked" 0 "ticket CHG-3: no certificates issued
ticket CHG-3 is blocked for future certificates" ''
run "$JIT_CA" revoke -c "$CFG" -t CHG-404
expect "revoke -t unknown ticket: blocked" 0 "ticket CHG-404: no certificates issued
ticket CHG-404 is blocked for future certificates" ''
assert_eq "store after blocking CHG-3 and CHG-404" "$(cat store.before)
ticket CHG-3
ticket CHG-404" "$(cat "$STORE")"
run "$JIT_CA" krl -c "$CFG" -o "$KRL"
expect "tickets are not KRL entries" 0 "wrote $KRL: 2 serial ranges, 1 key ID" ''
# A bad ticket line names its line.
cp "$STORE" store.before
printf 'ticket CHG 1\n' >"$STORE"
run "$JIT_CA" revoke -c "$CFG" -z 9
expect "bad ticket line: revoke names file:line" 3 '' "jit-ca: $STORE:1: bad ticket ID"
cp store.before "$STORE"

# --- the CA public key from the private key when ca.key.pub is absent ---
cp ca ca2 || t_bail "cp ca"
chmod 600 ca2 || t_bail "chmod ca2"
sed "s|key = \"$T_DIR/ca\";|key = \"$T_DIR/ca2\";|" "$CFG" >jit2.conf
grep -q "ca2" jit2.conf || t_bail "jit2.conf"
run "$JIT_CA" krl -c jit2.conf -o krl2
expect "krl without ca.key.pub" 0 "wrote krl2: 2 serial ranges, 1 key ID" ''
run ssh-keygen -Q -f krl2 cert-11.pub
expect "krl without ca.key.pub: the same CA" 1 "cert-11.pub (user): REVOKED" ''
run "$JIT_CA" revoke -c "$CFG" -I "$(printf 'bad\tid')"
expect "revoke -I with a control character" 3 '' \
	"jit-ca: key ID \"bad\\x09id\": control character or invalid byte in text"

# --- sshd with RevokedKeys ---
# sshd_start finds a free port and writes the config but knows no
# RevokedKeys: start it once for that, then again with the line added.
cat ca.pub >trusted.pub
sshd_start main VERBOSE "$T_DIR/trusted.pub"
sshd_stop
echo "RevokedKeys $KRL" >>"$T_DIR/main.conf"
# A new log: the first one already says "Server listening" on this port.
SSHD_LOG=$T_DIR/main-krl.log
: >"$SSHD_LOG"
/usr/sbin/sshd -D -e -f "$T_DIR/main.conf" 2>"$SSHD_LOG" </dev/null &
SSHD_PID=$!
T_PIDS="$T_PIDS $SSHD_PID"
wait_log "$SSHD_LOG" 0 "Server listening on 127.0.0.1 port $SSHD_PORT." ||
	t_bail "sshd with RevokedKeys did not start: $(head -c 2000 "$SSHD_LOG")"

login() {
	sshd_alive
	run ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o KexAlgorithms=curve25519-sha256 -o ConnectTimeout=10 \
		-i "$T_DIR/user" -o CertificateFile="$1" -p "$SSHD_PORT" \
		"$U@127.0.0.1" echo jit-ok
}

mark=$(lines "$SSHD_LOG")
login cert-5.pub
expect "sshd refuses revoked serial 5" 255 '' \
	"@has:$U@127.0.0.1: Permission denied (publickey"
if wait_log "$SSHD_LOG" "$mark" \
	"Authentication key ED25519-CERT $(fp cert-5.pub) revoked by file $KRL"; then
	t_pass "sshd logs \"revoked by file\""
else
	t_fail "sshd logs \"revoked by file\"" "$(tail -n +$((mark + 1)) "$SSHD_LOG")"
fi
login cert-7.pub
expect "sshd refuses revoked key ID evil" 255 '' \
	"@has:$U@127.0.0.1: Permission denied (publickey"
login cert-13.pub
expect "sshd accepts serial 13" 0 jit-ok @any
sshd_stop

# --- audit verify on a tampered log ---
cp "$AUDIT" audit.good
sed -i '3s/"user":"dave"/"user":"eave"/' "$AUDIT"
cmp -s "$AUDIT" audit.good && t_bail "sed did not change record 3"
run "$JIT_CA" audit verify -c "$CFG"
expect "audit verify: one byte of record 3 changed" 1 '' \
	"jit-ca: $AUDIT: line 4: prev is not the hash of record 3 (3 good records before it)"
cp audit.good "$AUDIT"
sed -i '3s/"seq":3/"seq":9/' "$AUDIT"
run "$JIT_CA" audit verify -c "$CFG"
expect "audit verify: seq of record 3 changed" 1 '' \
	"jit-ca: $AUDIT: line 3: seq 9, expected 3 (2 good records before it)"
printf '{"seq":6' >>audit.good
cp audit.good "$AUDIT"
run "$JIT_CA" audit verify -c "$CFG"
expect "audit verify: unfinished last line" 1 '' \
	"jit-ca: $AUDIT: line 6: no newline at the end (an unfinished write) (5 good records before it)"
run "$JIT_CA" revoke -c "$CFG" -t CHG-2
expect "revoke -t ignores an unfinished last line" 0 "revoked serial 13
ticket CHG-2: 1 certificate issued, 1 newly revoked
ticket CHG-2 is blocked for future certificates
$REMIND" ''
rm -f "$AUDIT"
run "$JIT_CA" audit verify -c "$CFG"
expect "audit verify: missing log is exit 3" 3 '' \
	"jit-ca: $AUDIT: No such file or directory"
# The ticket is blocked before the log is read: a log that cannot be read
# fails the command, not the block.
run "$JIT_CA" revoke -c "$CFG" -t CHG-9
expect "revoke -t with the log missing: blocked all the same, exit 3" 3 \
	"ticket CHG-9 is blocked for future certificates" \
	"jit-ca: $AUDIT: No such file or directory
jit-ca: ticket CHG-9 is blocked, but not every certificate issued for it is revoked"
assert_eq "store after -t CHG-9 with the log missing" "ticket CHG-9" \
	"$(grep -x 'ticket CHG-9' "$STORE")"
printf 'not a record\n' >"$AUDIT"
run "$JIT_CA" revoke -c "$CFG" -t CHG-9
expect "revoke -t with a bad log line: exit 3, still blocked" 3 \
	"ticket CHG-9 was already blocked for future certificates" \
	"jit-ca: $AUDIT:1: no seq
jit-ca: ticket CHG-9 is blocked, but not every certificate issued for it is revoked"
rm -f "$AUDIT"

# --- a bad store line ---
cp "$STORE" store.before
cp "$KRL" krl.before
printf 'serial 5\nserial 7-3\n' >"$STORE"
run "$JIT_CA" revoke -c "$CFG" -z 9
expect "bad store line: revoke names file:line" 3 '' \
	"jit-ca: $STORE:2: serial range N-M with N > M"
printf 'serial 5\n\nid x\n' >"$STORE"
run "$JIT_CA" krl -c "$CFG" -o "$KRL"
expect "bad store line: krl names file:line" 3 '' \
	"jit-ca: $STORE:2: not \"serial N\", \"serial N-M\", \"id KEYID\", \"ticket ID\" or a comment"
assert_files "bad store line: KRL untouched" krl.before "$KRL"
cp store.before "$STORE"

# --- usage and input errors ---
run "$JIT_CA" revoke -c "$CFG"
expect "revoke without a selector: usage" 2 '' \
	"@line1:jit-ca revoke: one of -z SERIAL, -I KEY_ID or -t TICKET is required"
run "$JIT_CA" revoke -c "$CFG" -z 1 -I x
expect "revoke with two selectors: usage" 2 '' \
	"@line1:jit-ca revoke: only one of -z, -I and -t at a time"
run "$JIT_CA" revoke -z 1
expect "revoke without -c: usage" 2 '' "@line1:jit-ca revoke: -c CONFIG is required"
run "$JIT_CA" krl -c "$CFG"
expect "krl without -o: usage" 2 '' "@line1:jit-ca krl: -o FILE is required"
run "$JIT_CA" audit -c "$CFG"
expect "audit without verify: usage" 2 '' \
	"@line1:jit-ca audit: a subcommand is required: verify"
run "$JIT_CA" revoke -c "$CFG" -z 0
expect "revoke -z 0 refused" 3 '' \
	"jit-ca: serial \"0\": serial 0 cannot be revoked; revoke by key ID (-I) instead"
run "$JIT_CA" revoke -c "$CFG" -t 'CHG 1'
expect "revoke -t with a bad ticket ID" 3 '' \
	"jit-ca: ticket \"CHG 1\": control character or invalid byte in text"
assert_files "usage errors write nothing" store.before "$STORE"

# --- krl that cannot be written leaves the old KRL ---
run "$JIT_CA" krl -c "$CFG" -o "$T_DIR/missing/krl"
expect "krl into a missing directory" 3 '' \
	"jit-ca: $T_DIR/missing/krl: No such file or directory"
# A long key ID makes the KRL larger than one 512-byte block, so a file
# size limit of one block fails the KRL's write (root ignores modes).
LONG=$(printf 'k%.0s' $(seq 1 700))
run "$JIT_CA" revoke -c "$CFG" -I "$LONG"
[ "$T_RC" -eq 0 ] || t_bail "revoke long key ID: $T_ERR"
run "$JIT_CA" krl -c "$CFG" -o "$KRL"
expect "krl with a long key ID" 0 "wrote $KRL: 2 serial ranges, 2 key IDs" ''
cp "$KRL" krl.before
run sh -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' sh "$JIT_CA" krl -c "$CFG" -o "$KRL"
expect "krl hitting a write error fails" 4 '' "jit-ca: $KRL: File too large"
assert_files "failed krl leaves the old KRL intact" krl.before "$KRL"
assert_eq "failed krl leaves no temporary file" "revoked.krl" "$(ls -A "$T_DIR/krl")"

# --- revoke -t while the service runs ---
# issued.py LOG TICKET:SERIAL...: appends an "issued" record to LOG for each,
# chained onto its last record (a new log when LOG is empty or absent).
cat >issued.py <<'EOF'
import hashlib, os, sys
path = sys.argv[1]
lines = open(path, "rb").read().split(b"\n")[:-1] if os.path.exists(path) else []
prev = hashlib.sha256(lines[-1]).hexdigest() if lines else "0" * 64
out = b""
for n, arg in enumerate(sys.argv[2:], len(lines) + 1):
    ticket, serial = arg.split(":")
    line = ('{"seq":%d,"time":"2030-03-18T09:00:%02dZ","prev":"%s","event":"issued",'
            '"ticket":"%s","user":"carol","serial":%s,"breakglass":false}'
            % (n, n % 60, prev, ticket, serial)).encode()
    prev = hashlib.sha256(line).hexdigest()
    out += line + b"\n"
open(path, "ab").write(out)
EOF
python3 issued.py "$AUDIT" CHG-5:101 || t_bail "issued.py"
run "$JIT_CA" audit verify -c "$CFG"
expect "issued.py writes a log that verifies" 0 "@has:$AUDIT: 1 record, chain intact" ''
# The service holds its lock (here a stand-in does).
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(120)' "$STATE/lock" "$T_DIR/held" &
HOLDER=$!
T_PIDS="$T_PIDS $HOLDER"
_i=0
while [ ! -e "$T_DIR/held" ] && [ $_i -lt 100 ]; do
	sleep 0.1
	_i=$((_i + 1))
done
[ -e "$T_DIR/held" ] || t_bail "lock holder did not start"
# While revoke waits, the service commits a certificate it decided before
# the block: the store already holds the block and serial 101 then.
: >"$T_DIR/run.out"
(
	_i=0
	while [ $_i -lt 200 ]; do
		if grep -q '^waiting' "$T_DIR/run.out"; then
			cp "$STORE" "$T_DIR/store.waiting"
			python3 "$T_DIR/issued.py" "$AUDIT" CHG-5:103
			exit 0
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
) &
LATE=$!
run "$JIT_CA" revoke -c "$CFG" -t CHG-5
wait "$LATE"
expect "revoke -t while the service runs: waits, then reads the log again" 0 \
	"revoked serial 101
waiting for certificates the service decided before the block (until 12 seconds after it)
revoked serial 103
ticket CHG-5: 2 certificates issued, 2 newly revoked
ticket CHG-5 is blocked for future certificates
$REMIND" ''
assert_eq "during the wait the store holds the block and the first serials" \
	"serial 101|ticket CHG-5|" \
	"$(grep -x -e 'serial 101' -e 'serial 103' -e 'ticket CHG-5' "$T_DIR/store.waiting" |
		tr '\n' '|')"
assert_eq "after it, the serial committed meanwhile too" "serial 101|serial 103|ticket CHG-5|" \
	"$(grep -x -e 'serial 101' -e 'serial 103' -e 'ticket CHG-5' "$STORE" | tr '\n' '|')"
# A block older than the wait has nothing left to wait for.
touch -d '-1 minute' "$STORE" || t_bail "touch"
run "$JIT_CA" revoke -c "$CFG" -t CHG-5
expect "revoke -t again, blocked over 12 s ago: no wait" 0 "serial 101 was already revoked
serial 103 was already revoked
ticket CHG-5: 2 certificates issued, 0 newly revoked
ticket CHG-5 was already blocked for future certificates" ''
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
T_PIDS=$(echo "$T_PIDS" | sed "s/ $HOLDER\$//")

if [ "$(id -u)" -ne 0 ]; then
	echo "ok - root and the service account, jit-ca serve # skip not root"
	t_summary
fi

# --- root and the state directory's owner share the state ---
SVC_USER=jit-ca-test
svc_account
SVC_GROUP=$(id -gn "$SVC_USER")
chmod 0755 "$T_DIR/krl" || t_bail "chmod krl"
# state_conf FILE STATE_DIR: the configuration with another state directory.
state_conf() {
	sed "s|state_dir = \"$STATE\";|state_dir = \"$2\";|" "$CFG" >"$1"
	grep -q "state_dir = \"$2\";" "$1" || t_bail "state_conf $1"
	mkdir "$2" || t_bail "mkdir $2"
	chown "$SVC_USER:" "$2" || t_bail "chown $2"
	chmod 0700 "$2" || t_bail "chmod $2"
}
# owners DIR: owner, group and mode of the store, the counter and the lock.
owners() {
	stat -c '%n %U:%G %a' "$1/revoked" "$1/krl_version" "$1/revoked.lock" | sed "s|^$1/||"
}
OWN="revoked $SVC_USER:$SVC_GROUP 640
krl_version $SVC_USER:$SVC_GROUP 640
revoked.lock $SVC_USER:$SVC_GROUP 640"
mkdir "$T_DIR/krlsvc" || t_bail "mkdir krlsvc"
chown "$SVC_USER:" "$T_DIR/krlsvc" || t_bail "chown krlsvc"

# Root first, then the account.
S2=$T_DIR/state2
state_conf st2.conf "$S2"
run "$JIT_CA" revoke -c st2.conf -z 21
expect "root first: revoke" 0 "revoked serial 21
$REMIND" ''
run "$JIT_CA" krl -c st2.conf -o "$T_DIR/krlsvc/a.krl"
expect "root first: krl" 0 "wrote $T_DIR/krlsvc/a.krl: 1 serial range, 0 key IDs" ''
assert_eq "root gives what it writes to the state directory's owner" "$OWN" "$(owners "$S2")"
# shellcheck disable=SC2086 # SVC is a command prefix
run $SVC "$JIT_CA" revoke -c st2.conf -z 22
expect "root first: then the account's revoke" 0 "revoked serial 22
$REMIND" ''
# shellcheck disable=SC2086
run $SVC "$JIT_CA" krl -c st2.conf -o "$T_DIR/krlsvc/b.krl"
expect "root first: then the account's krl" 0 \
	"wrote $T_DIR/krlsvc/b.krl: 1 serial range, 0 key IDs" ''
run ssh-keygen -Q -l -f "$T_DIR/krlsvc/b.krl"
expect "root first: the account's KRL is version 2" 0 "@has:# KRL version 2" @any
assert_eq "root first: store" "serial 21-22" "$(cat "$S2/revoked")"

# The account first, then root.
S3=$T_DIR/state3
state_conf st3.conf "$S3"
# shellcheck disable=SC2086
run $SVC "$JIT_CA" revoke -c st3.conf -z 31
expect "account first: revoke" 0 "revoked serial 31
$REMIND" ''
# shellcheck disable=SC2086
run $SVC "$JIT_CA" krl -c st3.conf -o "$T_DIR/krlsvc/c.krl"
expect "account first: krl" 0 "wrote $T_DIR/krlsvc/c.krl: 1 serial range, 0 key IDs" ''
run "$JIT_CA" revoke -c st3.conf -z 32
expect "account first: then root's revoke" 0 "revoked serial 32
$REMIND" ''
run "$JIT_CA" krl -c st3.conf -o "$T_DIR/krlsvc/d.krl"
expect "account first: then root's krl" 0 "wrote $T_DIR/krlsvc/d.krl: 1 serial range, 0 key IDs" ''
run ssh-keygen -Q -l -f "$T_DIR/krlsvc/d.krl"
expect "account first: root's KRL is version 2" 0 "@has:# KRL version 2" @any
assert_eq "account first: the files stay the account's" "$OWN" "$(owners "$S3")"
assert_eq "account first: store" "serial 31-32" "$(cat "$S3/revoked")"

# Nobody else's files, nothing group or world writable.
cp -p "$S3/revoked" store3.saved
chown nobody "$S3/revoked"
run "$JIT_CA" revoke -c st3.conf -z 33
expect "a store owned by another account is refused" 3 '' \
	"jit-ca: $S3/revoked: bad file ownership or permissions"
cp -p store3.saved "$S3/revoked"
chmod 0660 "$S3/revoked"
# shellcheck disable=SC2086
run $SVC "$JIT_CA" krl -c st3.conf -o "$T_DIR/krlsvc/e.krl"
expect "a group-writable store is refused" 3 '' \
	"jit-ca: $S3/revoked: bad file ownership or permissions"
cp -p store3.saved "$S3/revoked"
chown nobody "$S3/krl_version"
run "$JIT_CA" krl -c st3.conf -o "$T_DIR/krlsvc/e.krl"
expect "a counter owned by another account is refused" 3 '' \
	"jit-ca: $S3/krl_version: bad file ownership or permissions"
chown "$SVC_USER:" "$S3/krl_version"

# Owner, group and mode are set before the rename, never after it: a
# service re-reading the store in between would find it unreadable.
if command -v strace >/dev/null 2>&1; then
	# LeakSanitizer cannot work under ptrace (sanitizer builds).
	run env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -y -o "$T_DIR/trace" \
		-e trace=chown,fchown,lchown,fchownat,rename,renameat,renameat2 \
		"$JIT_CA" revoke -c st3.conf -z 34
	expect "revoke under strace" 0 "revoked serial 34
$REMIND" @any
	assert_eq "root's revoke: fchown of the temporary file, then the rename" \
		"fchown revoked.tmp|rename|" \
		"$(sed -n 's/^[0-9]* *\([a-z0-9]*\)(\([0-9]*<[^>]*\/\(revoked\.tmp\)\.[^>]*>\)\{0,1\}.*/\1 \3/p' \
			"$T_DIR/trace" | sed 's/ $//' | tr '\n' '|')"
else
	echo "ok - root's revoke: fchown of the temporary file, then the rename # skip no strace"
fi

# --- jit-ca serve fails closed on a store it cannot read ---
SD=$T_DIR/svcd
mkdir -p "$SD/state" "$SD/run" || t_bail "mkdir svcd"
cp ca "$SD/ca" || t_bail "cp ca"
printf 'ticket CHG-S1\n' >"$SD/state/revoked"
chown -R "$SVC_USER:" "$SD" || t_bail "chown svcd"
chmod 0600 "$SD/ca"
chmod 0640 "$SD/state/revoked"
chmod 0700 "$SD/state"
cat >svc.conf <<EOF
ca = {
  endpoints = [ "unix:$SD/run/ca.sock" ];
  timeout = "10s";
  key = "$SD/ca";
  listen = [ "unix:$SD/run/ca.sock" ];
  state_dir = "$SD/state";
  audit_log = "$SD/audit.jsonl";
  requesters = ( { name = "bastion"; unix_users = [ "root" ]; principals = [ "*" ]; } );
};
EOF
SLOG=$T_DIR/serve.log
# shellcheck disable=SC2086
$SVC "$JIT_CA" serve -c "$T_DIR/svc.conf" 2>"$SLOG" </dev/null &
SVC_PID=$!
T_PIDS="$T_PIDS $SVC_PID"
_i=0
until grep -q 'event=started' "$SLOG" && [ -S "$SD/run/ca.sock" ]; do
	if ! kill -0 "$SVC_PID" 2>/dev/null || [ $_i -ge 100 ]; then
		t_bail "jit-ca serve did not start: $(head -c 2000 "$SLOG")"
	fi
	sleep 0.1
	_i=$((_i + 1))
done
# ask TICKET: a certificate for alice under TICKET.
ask() {
	run "$JIT_CA" request -c "$T_DIR/svc.conf" -u alice -n alice -t "$1" -o "$T_DIR/s.pub" \
		"$T_DIR/user.pub"
}
ask CHG-S2
expect "service: a ticket not revoked is issued" 0 '' '@has:Certificate serial'
ask CHG-S1
expect "service: a revoked ticket is refused" 1 '' \
	'jit-ca: request: denied: ticket CHG-S1 is revoked'
# A store the account cannot read (root's, 0640), as an older revoke left
# it for a moment before it changed its group.
printf 'ticket CHG-S1\nticket CHG-S2\n' >"$SD/state/revoked.new"
chmod 0640 "$SD/state/revoked.new"
mv "$SD/state/revoked.new" "$SD/state/revoked" || t_bail "mv store"
ask CHG-S3
expect "unreadable store: a ticket request is refused" 4 '' \
	"jit-ca: request: no CA endpoint answered: unix:$SD/run/ca.sock: unavailable: revocation store unreadable"
ask CHG-S2
expect "unreadable store: and again" 4 '' \
	"jit-ca: request: no CA endpoint answered: unix:$SD/run/ca.sock: unavailable: revocation store unreadable"
ask CHG-S1
expect "unreadable store: a ticket known revoked is still denied" 1 '' \
	'jit-ca: request: denied: ticket CHG-S1 is revoked'
run "$JIT_CA" request -c "$T_DIR/svc.conf" -u alice -n alice --breakglass "store test" \
	-o "$T_DIR/bg.pub" "$T_DIR/user.pub"
expect "unreadable store: break-glass is issued" 0 '' '@has:Certificate serial'
assert_eq "unreadable store: logged once" \
	"jit-ca: event=error what=revocation_store path=\"$SD/state/revoked\" line=0 error=\"Permission denied\" kept_tickets=1" \
	"$(grep 'revocation_store' "$SLOG")"
# Readable again by a group change alone: only its change time moves.
chgrp "$SVC_GROUP" "$SD/state/revoked" || t_bail "chgrp"
_i=0
while :; do
	ask CHG-S2
	if [ "$T_RC" -ne 4 ] || [ $_i -ge 30 ]; then
		break
	fi
	sleep 0.2
	_i=$((_i + 1))
done
expect "readable again: the ticket revoked meanwhile is refused" 1 '' \
	'jit-ca: request: denied: ticket CHG-S2 is revoked'
ask CHG-S3
expect "readable again: other tickets are issued" 0 '' '@has:Certificate serial'
assert_eq "readable again: logged once" \
	"jit-ca: event=revocation_store_recovered path=\"$SD/state/revoked\" revoked_tickets=2" \
	"$(grep 'revocation_store_recovered' "$SLOG")"
# A store rewritten in place with its size and modification time kept:
# its change time still tells.
STAT1=$(stat -c '%i %s %y' "$SD/state/revoked")
MTIME=$(stat -c '%y' "$SD/state/revoked")
printf 'ticket CHG-S1\nticket CHG-S5\n' >"$SD/state/revoked"
touch -m -d "$MTIME" "$SD/state/revoked" || t_bail "touch"
[ "$(stat -c '%i %s %y' "$SD/state/revoked")" = "$STAT1" ] || t_bail "store inode, size or mtime changed"
ask CHG-S5
expect "a store changed in place, same size and mtime: re-read" 1 '' \
	'jit-ca: request: denied: ticket CHG-S5 is revoked'
kill "$SVC_PID"
wait "$SVC_PID" 2>/dev/null

t_summary
