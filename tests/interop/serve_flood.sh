# jit-ca serve under a flood of callers that match no requester: each gets
# its refusal as ever, but a source (a Unix caller's uid, a TLS caller's
# address) gets at most 10 individual audit records and log lines a second;
# the rest are counted into summary records ("suppressed": N), written when
# their interval ends and at the stop, so that records plus suppressed
# counts equal the refusals exactly. A requester's request sent in the
# middle of the flood is issued with its own record; lines about dropped
# connections are limited the same way; the chain verifies.
# Idle callers that match no requester, more of them than max_connections,
# over Unix (one uid) and TCP (one address), cannot keep a Unix requester or
# a TLS requester from being served, and every such connection is
# accounted for in the log (a line, or a count in a summary).
#
# Runs as root (CI): the service as the system account "jit-ca-test", the
# flooding callers as nobody and as an unnamed uid. As another user the
# script skips its cases.

. "$TESTS_DIR/lib.sh"
t_need ssh-keygen python3 openssl setpriv

cd "$T_DIR" || t_bail "cd $T_DIR"

if [ "$(id -u)" -ne 0 ]; then
	echo "ok - serve under a flood of unauthenticated callers # skip not root"
	t_summary
fi

SVC_USER=jit-ca-test
U=$(id -un)
SVC_PID=""
SOCK="$T_DIR/run/ca.sock"
AUDIT="$T_DIR/svc/audit.jsonl"
# The service's limit: records a second per source, also its bucket's size.
RATE=10
N=300
# Callers at once: a uid that matches no requester may hold 8 connections.
CONC=8
NDROP=200
NTLS=100
FLOOD_UID=$(id -u nobody)
FLOOD_GID=$(id -g nobody)
# Any uid no requester lists: it needs no account.
DROP_UID=64123

svc_account
mkdir -p svc svc/state run pki || t_bail "mkdir"
run "$JIT_CA" init -f svc/ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: $T_ERR"
ssh-keygen -q -N '' -t ed25519 -C user -f user || t_bail "ssh-keygen user"
chmod 0644 user.pub svc/ca.pub

# The service's TLS certificate; the flooding TLS callers present none.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout pki/ca.key -out pki/ca.crt -subj /CN=ca -days 2 >pki/openssl.log 2>&1 ||
	t_bail "openssl CA: $(cat pki/openssl.log)"
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n' \
	>pki/server.ext
if ! openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/server.key \
	-out pki/server.csr -subj /CN=jit-ca-server >pki/openssl.log 2>&1 ||
	! openssl x509 -req -in pki/server.csr -CA pki/ca.crt -CAkey pki/ca.key \
		-CAcreateserial -days 2 -extfile pki/server.ext -out pki/server.crt \
		>pki/openssl.log 2>&1; then
	t_bail "openssl server: $(cat pki/openssl.log)"
fi
# The TLS requester's client certificate.
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >pki/client.ext
if ! openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/client.key \
	-out pki/client.csr -subj /CN=bastion-tls >pki/openssl.log 2>&1 ||
	! openssl x509 -req -in pki/client.csr -CA pki/ca.crt -CAkey pki/ca.key \
		-CAcreateserial -days 2 -extfile pki/client.ext -out pki/client.crt \
		>pki/openssl.log 2>&1; then
	t_bail "openssl client: $(cat pki/openssl.log)"
fi
chmod 0600 pki/client.key
cp pki/server.crt pki/server.key pki/ca.crt svc/ || t_bail "cp"
chmod 0600 svc/server.key
chmod 0644 svc/server.crt svc/ca.crt pki/ca.crt
chown -R "$SVC_USER:" svc run || t_bail "chown"
chmod 0700 svc/state
chmod 0755 svc run

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

conf() {
	cat >jit.conf <<EOF
ca = {
  endpoints = [ "unix:$SOCK" ];
  timeout = "10s";
  key = "$T_DIR/svc/ca";
  listen = [ "unix:$SOCK", "tls://127.0.0.1:$PORT" ];
  tls = { cert = "$T_DIR/svc/server.crt"; key = "$T_DIR/svc/server.key";
          client_ca = "$T_DIR/svc/ca.crt"; };
  state_dir = "$T_DIR/svc/state";
  audit_log = "$AUDIT";
  max_validity = "10m";
  max_connections = 64;
  request_timeout = "5s";
  requesters = ( { name = "bastion-1"; unix_users = [ "$U" ];
                   principals = [ "alice" ]; },
                 { name = "bastion-tls"; tls_names = [ "bastion-tls" ];
                   principals = [ "alice" ]; } );
};
certificates = { validity = "5m"; };
EOF
	chmod 0644 jit.conf
}

# svc_start: the service on a free TLS port, up to 5 tries.
svc_start() {
	_try=0
	while [ $_try -lt 5 ]; do
		_try=$((_try + 1))
		PORT=$(free_port)
		conf
		: >serve.log
		# shellcheck disable=SC2086 # SVC is a command prefix
		$SVC "$JIT_CA" serve -c "$T_DIR/jit.conf" 2>>serve.log </dev/null &
		SVC_PID=$!
		T_PIDS="$T_PIDS $SVC_PID"
		_i=0
		while [ $_i -lt 100 ]; do
			grep -q 'event=started' serve.log && [ -S "$SOCK" ] && return 0
			kill -0 "$SVC_PID" 2>/dev/null || break
			sleep 0.1
			_i=$((_i + 1))
		done
		grep -q 'Address already in use' serve.log && continue
		t_bail "jit-ca serve did not start: $(head -c 2000 serve.log)"
	done
	t_bail "no free port in 5 tries"
}

# The flooding clients (docs/protocol.md frames).
cat >flood.py <<'EOF'
import base64, os, select, socket, ssl, struct, sys, time

def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b

def frame(pub, ticket):
    blob = base64.b64decode(open(pub).read().split()[1])
    p = (struct.pack(">IB", 1, 1) + s("alice") + s(blob) + s(s("alice")) +
         struct.pack(">QQB", 300, 0, 1) + s(ticket) + s("") + s("flood") + s(""))
    return struct.pack(">I", len(p)) + p

def take(p, n):
    return p[:n], p[n:]

def parse(data):
    """(status, message, cert blob or None, serial), or None."""
    if len(data) < 4 or len(data) - 4 != struct.unpack(">I", data[:4])[0]:
        return None
    p = data[4:]
    if p[:5] != struct.pack(">IB", 1, 2):
        return None
    status, p = p[5], p[6:]
    (n,), p = struct.unpack(">I", p[:4]), p[4:]
    msg, p = p[:n].decode(), p[n:]
    if status != 0:
        return status, msg, None, 0
    (n,), p = struct.unpack(">I", p[:4]), p[4:]
    cert, p = p[:n], p[n:]
    (serial,) = struct.unpack(">Q", p[:8])
    return status, msg, cert, serial

def unix_flood(path, req, n, conc, halfway):
    """n connections, conc at once, each a request and its whole answer."""
    pending, counts = {}, {}
    started = done = 0
    t0 = time.monotonic()
    while done < n:
        while started < n and len(pending) < conc:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            c.sendall(req)
            c.setblocking(False)
            pending[c] = b""
            started += 1
            if started == n // 2 and halfway:
                halfway()
        r, _, _ = select.select(list(pending), [], [], 30)
        if not r:
            break
        for c in r:
            try:
                chunk = c.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                pending[c] += chunk
                continue
            res = parse(pending.pop(c))
            c.close()
            done += 1
            key = "none" if res is None else "%d:%s" % (res[0], res[1])
            counts[key] = counts.get(key, 0) + 1
    return counts, time.monotonic() - t0

def report(counts, elapsed):
    print("elapsed=%.3f" % elapsed)
    for k, v in sorted(counts.items()):
        print("answer %d %s" % (v, k))

mode = sys.argv[1]
if mode == "unix":
    # unix SOCKET PUB N CONC UID GID CERT_OUT: the flood as UID:GID in a
    # child; halfway through, this process (a requester) sends its own.
    path, pub, n, conc, uid, gid, out = sys.argv[2:9]
    to_parent, from_child = os.pipe()
    to_child, from_parent = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setgroups([])
        os.setgid(int(gid))
        os.setuid(int(uid))
        def halfway():
            os.write(from_child, b"h")
            os.read(to_child, 1)
        counts, elapsed = unix_flood(path, frame(pub, "CHG-9001"), int(n), int(conc), halfway)
        report(counts, elapsed)
        sys.stdout.flush()
        os._exit(0)
    os.read(to_parent, 1)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    c.sendall(frame(pub, "CHG-9002"))
    os.write(from_parent, b"g")
    c.settimeout(30)
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    _, st = os.waitpid(pid, 0)
    res = parse(data)
    if res is None or res[0] != 0:
        print("requester: %r" % (res,))
    else:
        kind = res[2][4:4 + struct.unpack(">I", res[2][:4])[0]].decode()
        open(out, "w").write("%s %s\n" % (kind, base64.b64encode(res[2]).decode()))
        print("requester: issued serial %d" % res[3])
    print("child exit %d" % st)
elif mode == "drop":
    # drop SOCKET N CONC UID: connections that close before any request;
    # each waits for the service to close its end, so every one is seen.
    path, n, conc, uid = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    pending = []
    started = done = closed = 0
    t0 = time.monotonic()
    while done < n:
        while started < n and len(pending) < conc:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            c.shutdown(socket.SHUT_WR)
            pending.append(c)
            started += 1
        r, _, _ = select.select(pending, [], [], 30)
        if not r:
            break
        for c in r:
            try:
                chunk = c.recv(1)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                continue
            pending.remove(c)
            c.close()
            done += 1
            closed += 1
    report({"closed": closed}, time.monotonic() - t0)
elif mode == "tls":
    # tls PORT CA N: TLS 1.3 callers without a client certificate, one after
    # another; each reads until the service closes.
    port, cafile, n = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cafile)
    counts = {}
    t0 = time.monotonic()
    for i in range(n):
        s0 = socket.create_connection(("127.0.0.1", port), timeout=30)
        fd = os.dup(s0.fileno())
        try:
            t = ctx.wrap_socket(s0, server_hostname="127.0.0.1")
            t.sendall(b"\0\0\0\4xxxx")
            key = "answer" if t.recv(100) else "closed"
        except (ssl.SSLError, OSError) as e:
            key = "refused"
        # The service closes once the refusal is decided and counted.
        while True:
            try:
                if not os.read(fd, 4096):
                    break
            except OSError:
                break
        os.close(fd)
        counts[key] = counts.get(key, 0) + 1
    report(counts, time.monotonic() - t0)
elif mode == "hold":
    # hold unix SOCKET N UID:GID, or hold tcp HOST:PORT N SOURCE_ADDRESS
    # [once]: N idle connections (no request, no handshake). One the service
    # closes without an answer (a timeout, evicted) is replaced every 0.2 s
    # (not with "once"); one it answers is not. After the first second (0.3 s
    # with "once") prints "held H answered A closed C"; at SIGTERM closes the
    # rest and prints "opened O answered A closed C held H", then "answer N
    # STATUS:MESSAGE" lines.
    import signal
    kind, target, want, who = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    once = sys.argv[6:] == ["once"]
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    if kind == "unix":
        uid, gid = who.split(":")
        os.setgroups([])
        os.setgid(int(gid))
        os.setuid(int(uid))
    conns, answers = {}, {}
    opened = answered = closed = 0

    def open_one():
        if kind == "unix":
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(target)
        else:
            host, port = target.rsplit(":", 1)
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.bind((who, 0))
            c.connect((host, int(port)))
        c.setblocking(False)
        return c

    def watch(seconds):
        global want, answered, closed
        end = time.monotonic() + seconds
        while not stop and time.monotonic() < end:
            r, _, _ = select.select(list(conns), [], [], max(0, end - time.monotonic()))
            for c in r:
                try:
                    d = c.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                if d:
                    conns[c] += d
                    continue
                data = conns.pop(c)
                c.close()
                if not data:
                    closed += 1
                    continue
                answered += 1
                want -= 1
                res = parse(data)
                key = "none" if res is None else "%d:%s" % (res[0], res[1])
                answers[key] = answers.get(key, 0) + 1

    def top_up():
        global opened
        while len(conns) < want:
            conns[open_one()] = b""
            opened += 1

    top_up()
    watch(0.3 if once else 1.0)
    print("held %d answered %d closed %d" % (len(conns), answered, closed), flush=True)
    while not stop:
        if not once:
            top_up()
        watch(0.2)
    held = len(conns)
    for c in conns:
        c.close()
    print("opened %d answered %d closed %d held %d" % (opened, answered, closed, held))
    for k, v in sorted(answers.items()):
        print("answer %d %s" % (v, k))
EOF

# The audit log, as figures for one source: "records R summaries S
# suppressed K" (R individual refusals, S summary records and the sum K of
# their counts), and "bad: ..." for any record of it not as documented.
cat >figures.py <<'EOF'
import datetime, json, sys

path, key, value, start, end = sys.argv[1:6]
start, end = int(start), int(end)
records = summaries = suppressed = 0
bad = []
summary_keys = ["seq", "time", "prev", "event", "requester", key, "status", "message",
                "suppressed", "first", "last"]
for line in open(path, encoding="utf-8"):
    r = json.loads(line)
    v = r.get(key)
    if v is None:
        continue
    if key == "peer_address" and "suppressed" not in r:
        v = v.rsplit(":", 1)[0]
    if str(v) != value:
        continue
    if "suppressed" not in r:
        records += 1
        if r["event"] != "refused" or r["status"] != "unauthenticated":
            bad.append("record %d: %s %s" % (r["seq"], r["event"], r["status"]))
        continue
    summaries += 1
    suppressed += r["suppressed"]
    t = int(datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=datetime.timezone.utc).timestamp())
    want = "%d refusals over the rate limit, not recorded one by one" % r["suppressed"]
    if (list(r) != summary_keys or r["event"] != "refused" or r["requester"] != "" or
            r["status"] != "unauthenticated" or r["message"] != want or
            r["suppressed"] < 1 or not start <= r["first"] <= r["last"] <= t <= end):
        bad.append("summary %d: %s" % (r["seq"], line.strip()))
print("records %d summaries %d suppressed %d" % (records, summaries, suppressed))
for b in bad:
    print("bad: " + b)
EOF

# limit ELAPSED: the most individual records one source may get in ELAPSED
# seconds: a full bucket, and RATE more a second.
limit() {
	python3 -c "import sys; print(int($RATE + $RATE * float(sys.argv[1])))" "$1"
}

# nth N TEXT: the Nth word of TEXT's first line.
nth() {
	printf '%s\n' "$2" | awk -v n="$1" 'NR == 1 { print $n }'
}

# field NAME FILE: NAME=VALUE from the flood client's output.
field() {
	sed -n "s/^$1=//p" "$2"
}

svc_start
T_START=$(date +%s)

# --- 300 refusals from one uid, a requester's request halfway ---

N0=$(lines "$AUDIT")
python3 flood.py unix "$SOCK" user.pub $N $CONC "$FLOOD_UID" "$FLOOD_GID" mid-cert.pub \
	>flood.out 2>&1
assert_eq "every flooding caller gets the refusal" \
	"answer $N 3:caller uid $FLOOD_UID is not an allowed requester" \
	"$(grep '^answer' flood.out)"
E1=$(field elapsed flood.out)
echo "# $N refusals in $E1 s"
assert_eq "no summary before its interval ends" 0 "$(grep -c '"suppressed"' "$AUDIT")"
if grep -q '^requester: issued serial ' flood.out && [ -s mid-cert.pub ] &&
	ssh-keygen -L -f mid-cert.pub | grep -q 'Key ID: "user=alice ticket=CHG-9002 session=flood requester=bastion-1 serial='; then
	t_pass "the requester's request amid the flood is issued"
else
	t_fail "the requester's request amid the flood is issued" "$(cat flood.out)"
fi
assert_eq "the flood's client exits 0" "child exit 0" "$(grep '^child exit' flood.out)"
MID_SERIAL=$(sed -n 's/^requester: issued serial //p' flood.out)
assert_eq "the requester's certificate has its own record" "1 issued bastion-1 $(id -u)" \
	"$(python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l).get("serial") == int(sys.argv[2])]
print(len(r), *(r[0][k] for k in ("event", "requester", "peer_uid")) if r else "")' \
		"$AUDIT" "$MID_SERIAL")"

# --- connections closed before a request, from another uid: no records ---

N1=$(lines "$AUDIT")
python3 flood.py drop "$SOCK" $NDROP $CONC $DROP_UID >drop.out 2>&1
assert_eq "every dropping caller is closed by the service" "answer $NDROP closed" \
	"$(grep '^answer' drop.out)"
E2=$(field elapsed drop.out)
echo "# $NDROP dropped connections in $E2 s"
assert_eq "dropped connections write no audit record" "$N1" "$(lines "$AUDIT")"

# --- TLS callers without a certificate, from one address ---

python3 flood.py tls "$PORT" pki/ca.crt $NTLS >tls.out 2>&1
assert_eq "every TLS caller without a certificate is refused" "answer $NTLS refused" \
	"$(grep '^answer' tls.out)"
E3=$(field elapsed tls.out)
echo "# $NTLS TLS refusals in $E3 s"

# --- a summary when its interval ends, while the service runs ---

# Due 10 s after the first refusal it counts.
_i=0
while [ $_i -lt 200 ] && ! grep -q "\"peer_uid\":$FLOOD_UID,.*\"suppressed\"" "$AUDIT"; do
	sleep 0.1
	_i=$((_i + 1))
done
SUM1=$(grep "\"peer_uid\":$FLOOD_UID,.*\"suppressed\"" "$AUDIT" | head -n 1)
if [ -n "$SUM1" ]; then
	t_pass "a summary is written when its interval ends"
else
	t_fail "a summary is written when its interval ends" "$(tail -n 3 "$AUDIT")"
fi
_span=$(printf '%s\n' "$SUM1" | python3 -c '
import datetime, json, sys
r = json.loads(sys.stdin.read())
t = datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%SZ")
print(int(t.replace(tzinfo=datetime.timezone.utc).timestamp()) - r["first"])' 2>&1)
if [ "$_span" -ge 9 ] 2>/dev/null && [ "$_span" -le 20 ]; then
	t_pass "the summary comes 10 s after its first refusal"
else
	t_fail "the summary comes 10 s after its first refusal" "after [$_span] s"
fi

# --- the stop writes what is still counted ---

kill "$SVC_PID"
wait "$SVC_PID"
assert_eq "SIGTERM stops with 0" 0 "$?"
T_END=$(date +%s)

# figures WHO FIELD VALUE ELAPSED REFUSALS: one source's records in the log
# (individual, summaries, suppressed in R, S, K), checked against the rate.
figures() {
	run python3 figures.py "$AUDIT" "$2" "$3" "$T_START" "$T_END"
	echo "# $3: $T_OUT"
	R=$(nth 2 "$T_OUT") S=$(nth 4 "$T_OUT") K=$(nth 6 "$T_OUT")
	assert_eq "$1 records as documented" "" "$(printf '%s\n' "$T_OUT" | grep '^bad')"
	if [ "$R" -ge $RATE ] && [ "$R" -le "$(limit "$4")" ]; then
		t_pass "$1: $RATE to $RATE + $RATE a second individual records"
	else
		t_fail "$1: $RATE to $RATE + $RATE a second individual records" \
			"$R in $4 s, at most $(limit "$4")"
	fi
	if [ "$S" -ge 1 ]; then
		t_pass "$1: summary records"
	else
		t_fail "$1: summary records" "$S"
	fi
	assert_eq "$1: records plus suppressed are the refusals" "$5" $((R + K))
}

figures uid peer_uid "$FLOOD_UID" "$E1" $N
R1=$R S1=$S K1=$K
figures address peer_address 127.0.0.1 "$E3" $NTLS
R3=$R S3=$S K3=$K

assert_eq "the log holds nothing else" "$((N0 + 1 + R1 + S1 + R3 + S3))" "$(lines "$AUDIT")"

# The log lines say the same: one per record, the summaries' counts.
assert_eq "uid: a log line per individual record" "$R1" \
	"$(grep -c " event=\"refused\" requester=\"\" peer_uid=$FLOOD_UID peer_pid=" serve.log)"
assert_eq "uid: the summary lines' counts" "$S1 $K1" "$(grep " event=\"refused\" requester=\"\" peer_uid=$FLOOD_UID status=\"unauthenticated\" " serve.log |
	sed -n 's/.* suppressed=\([0-9]*\) first=[0-9]* last=[0-9]*$/\1/p' |
	awk '{ n++; s += $1 } END { print n + 0, s + 0 }')"
assert_eq "address: the summary lines' counts" "$S3 $K3" "$(grep " event=\"refused\" requester=\"\" peer_address=\"127.0.0.1\" status=\"unauthenticated\" " serve.log |
	sed -n 's/.* suppressed=\([0-9]*\) first=[0-9]* last=[0-9]*$/\1/p' |
	awk '{ n++; s += $1 } END { print n + 0, s + 0 }')"

D=$(grep -c "^jit-ca: event=dropped reason=\"closed before a whole request\" peer_uid=$DROP_UID peer_pid=[0-9]*$" serve.log)
DK=$(sed -n "s/^jit-ca: event=dropped reason=\"over the rate limit\" peer_uid=$DROP_UID suppressed=\([0-9]*\) first=[0-9]* last=[0-9]*$/\1/p" serve.log |
	awk '{ s += $1 } END { print s + 0 }')
echo "# uid $DROP_UID: $D dropped lines, $DK counted"
if [ "$D" -le "$(limit "$E2")" ] && [ "$DK" -ge 1 ]; then
	t_pass "dropped connections: $RATE + $RATE a second log lines, the rest counted"
else
	t_fail "dropped connections: $RATE + $RATE a second log lines, the rest counted" \
		"$D lines in $E2 s (at most $(limit "$E2")), $DK counted"
fi
assert_eq "dropped: lines plus counted are the connections" $NDROP $((D + DK))

run "$JIT_CA" audit verify -c "$T_DIR/jit.conf"
expect "audit verify" 0 "@has:$AUDIT: $(lines "$AUDIT") records, chain intact, head " ''

# --- idle callers cannot take the requesters' connections ---

# nobody (matching no requester) holds 70 idle Unix connections, more than
# max_connections (64): it keeps 8, the rest are answered at once. Then
# 127.0.0.2 holds 60 idle TCP connections: they take what is left of the
# 48 not kept for Unix requesters (40), and each one beyond evicts the
# oldest of its own source. Root (bastion-1) over Unix and bastion-tls
# over TLS from 127.0.0.1 are served all the same.
cat serve.log >serve-1.log
svc_start
T_START2=$(date +%s)
sed "s|endpoints = \[ \"unix:$SOCK\" \];|endpoints = [ \"tls://127.0.0.1:$PORT\" ]; client_tls = { cert = \"$T_DIR/pki/client.crt\"; key = \"$T_DIR/pki/client.key\"; ca = \"$T_DIR/pki/ca.crt\"; };|" \
	jit.conf >tls-client.conf
grep -q client_tls tls-client.conf || t_bail "sed tls-client.conf"
# audit_last_of TICKET: "event requester ticket" of the last record of TICKET.
audit_last_of() {
	python3 -c '
import json, sys
out = ""
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("ticket") == sys.argv[2]:
        out = "%s %s %s" % (r["event"], r["requester"], r["ticket"])
print(out)' "$AUDIT" "$1"
}
# hold_start NAME ARGS...: a holder in the background (pid in _hp), its first line awaited.
hold_start() {
	_n=$1
	shift
	python3 flood.py hold "$@" >"hold-$_n.out" 2>&1 &
	_hp=$!
	T_PIDS="$T_PIDS $_hp"
	_i=0
	while [ $_i -lt 100 ] && ! grep -q '^held ' "hold-$_n.out"; do
		kill -0 "$_hp" 2>/dev/null || break
		sleep 0.1
		_i=$((_i + 1))
	done
	grep -q '^held ' "hold-$_n.out" || t_bail "holder $_n: $(cat "hold-$_n.out")"
}
hold_start unix unix "$SOCK" 70 "$FLOOD_UID:$FLOOD_GID"
HOLD_UNIX=$_hp
assert_eq "nobody's 70 idle connections: 8 held, 62 answered at once" \
	"held 8 answered 62 closed 0" "$(head -n 1 hold-unix.out)"
hold_start tcp tcp "127.0.0.1:$PORT" 60 127.0.0.2
HOLD_TCP=$_hp
assert_eq "127.0.0.2's 60 idle connections: 40 held, its 20 oldest evicted" \
	"held 40 answered 0 closed 20" "$(head -n 1 hold-tcp.out)"

# four_requests CONF TICKET_PREFIX OUT_PREFIX: four requests; their exit codes in _rcs.
four_requests() {
	_rcs=""
	for _k in 1 2 3 4; do
		run "$JIT_CA" request -c "$T_DIR/$1" -u alice -n alice -t "$2$_k" \
			-o "$3$_k-cert.pub" user.pub
		_rcs="$_rcs $T_RC"
		[ "$T_RC" -eq 0 ] || echo "# $1 request $_k: $T_ERR"
	done
}
four_requests jit.conf CHG-960 held-u
assert_eq "root over Unix beside the idle callers: 4 of 4 issued" " 0 0 0 0" "$_rcs"
four_requests tls-client.conf CHG-970 held-t
assert_eq "bastion-tls over TLS beside the idle callers: 4 of 4 issued" " 0 0 0 0" "$_rcs"
assert_eq "their records" "issued bastion-1 0 CHG-9601
issued bastion-1 0 CHG-9602
issued bastion-1 0 CHG-9603
issued bastion-1 0 CHG-9604
issued bastion-tls bastion-tls CHG-9701
issued bastion-tls bastion-tls CHG-9702
issued bastion-tls bastion-tls CHG-9703
issued bastion-tls bastion-tls CHG-9704" "$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r.get("ticket", "").startswith(("CHG-96", "CHG-97")):
        print(r["event"], r["requester"], r.get("peer_uid", r.get("peer_name")), r["ticket"])' "$AUDIT")"

kill "$HOLD_UNIX" "$HOLD_TCP"
wait "$HOLD_UNIX" "$HOLD_TCP"
# The service sees the holders' last connections close.
sleep 1

# 127.0.0.1, bastion-tls's own address, holds 60 idle TCP connections (not
# replaced): 48 held, its 12 oldest evicted. Its handshakes end 2 s after
# they start: bastion-tls asks at once, and is served in place of the
# oldest of them.
hold_start local tcp "127.0.0.1:$PORT" 60 127.0.0.1 once
HOLD_LOCAL=$_hp
assert_eq "127.0.0.1's 60 idle connections: 48 held, its 12 oldest evicted" \
	"held 48 answered 0 closed 12" "$(head -n 1 hold-local.out)"
run "$JIT_CA" request -c "$T_DIR/tls-client.conf" -u alice -n alice -t CHG-9801 \
	-o held-local-cert.pub user.pub
kill "$HOLD_LOCAL"
wait "$HOLD_LOCAL"
expect "bastion-tls beside idle connections from its own address: issued" 0 '' \
	"@has:Certificate serial "
assert_eq "its record" "issued bastion-tls CHG-9801" \
	"$(audit_last_of CHG-9801)"
assert_eq "one more of 127.0.0.1's idle connections evicted for it" \
	"opened 60 answered 0 closed 13 held 47" "$(sed -n 2p hold-local.out)"
sleep 1
kill "$SVC_PID"
wait "$SVC_PID"
assert_eq "SIGTERM stops with 0 after the idle callers" 0 "$?"
T_END2=$(date +%s)
echo "# nobody: $(tail -n +2 hold-unix.out | tr '\n' ' ')"
echo "# 127.0.0.2: $(tail -n +2 hold-tcp.out | tr '\n' ' ')"
assert_eq "nobody's answers" \
	"answer $(nth 4 "$(sed -n 2p hold-unix.out)") 4:too many connections from uid $FLOOD_UID" \
	"$(grep '^answer' hold-unix.out)"
assert_eq "127.0.0.2 got no answers" "" "$(grep '^answer' hold-tcp.out)"

# Every idle connection is accounted for: a line about it (turned away,
# evicted, timed out, closed), or a count in a summary line; over TLS a
# connection closed before its handshake is a refusal, recorded or counted.
OU=$(nth 2 "$(sed -n 2p hold-unix.out)")
LU=$(grep -c "^jit-ca: event=dropped reason=.* peer_uid=$FLOOD_UID peer_pid=[0-9]*" serve.log)
KU=$(sed -n "s/^jit-ca: event=dropped reason=\"over the rate limit\" peer_uid=$FLOOD_UID suppressed=\([0-9]*\) .*/\1/p" serve.log |
	awk '{ s += $1 } END { print s + 0 }')
echo "# nobody: $OU connections, $LU lines, $KU counted"
assert_eq "nobody: lines plus counted are its connections" "$OU" "$((LU + KU))"
if [ "$LU" -le "$(limit $((T_END2 - T_START2 + 1)))" ]; then
	t_pass "nobody: its lines are limited"
else
	t_fail "nobody: its lines are limited" "$LU lines in $((T_END2 - T_START2)) s"
fi
OT=$(nth 2 "$(sed -n 2p hold-tcp.out)")
LT=$(grep -c '^jit-ca: event=dropped reason=.* peer_address=127\.0\.0\.2:[0-9]* ' serve.log)
KT=$(sed -n 's/^jit-ca: event=dropped reason="over the rate limit" peer_address=127\.0\.0\.2 suppressed=\([0-9]*\) .*/\1/p' serve.log |
	awk '{ s += $1 } END { print s + 0 }')
run python3 figures.py "$AUDIT" peer_address 127.0.0.2 "$T_START2" "$T_END2"
assert_eq "127.0.0.2: refusal records as documented" "" "$(printf '%s\n' "$T_OUT" | grep '^bad')"
RT=$(nth 2 "$T_OUT") ST=$(nth 6 "$T_OUT")
echo "# 127.0.0.2: $OT connections, $LT lines, $KT counted, $RT refusals recorded, $ST counted"
assert_eq "127.0.0.2: lines, refusals and counts are its connections" "$OT" "$((LT + KT + RT + ST))"
if grep -q '^jit-ca: event=dropped reason="evicted for a new connection" peer_address=127\.0\.0\.2:[0-9]* peer_name="" state=handshake$' serve.log &&
	grep -q '^jit-ca: event=overload connections=[0-9]* max_connections=64 refused_total=[0-9]* evicted_total=[1-9][0-9]*$' serve.log; then
	t_pass "evictions logged"
else
	t_fail "evictions logged" "$(grep -E 'evicted|overload' serve.log | head -n 5)"
fi
run "$JIT_CA" audit verify -c "$T_DIR/jit.conf"
expect "audit verify after the idle callers" 0 "@has:$AUDIT: $(lines "$AUDIT") records, chain intact, head " ''

cat serve-1.log serve.log >serve-all.log
if grep -E -q 'Sanitizer|runtime error' serve-all.log; then
	t_fail "no sanitizer reports from the service" \
		"$(grep -E -A 20 'Sanitizer|runtime error' serve-all.log | head -n 40)"
else
	t_pass "no sanitizer reports from the service"
fi

t_summary
