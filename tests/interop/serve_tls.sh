# jit-ca serve over TLS 1.3 with client certificates, driven by jit-ca
# request, python3's ssl module and openssl s_client: a certificate for the
# bastion's client certificate; no certificate, one from another CA, an
# unknown name and TLS 1.2 refused (and the refusals audited); failover
# past a dead and a stuck endpoint within the timeout; the resolver rule
# (an address or a name in /etc/hosts).
#
# The X.509 CA and certificates are made at test time with openssl. As
# root, the service runs as the system account "jit-ca-test", as serve.sh
# runs it.

. "$TESTS_DIR/lib.sh"
t_need openssl ssh-keygen python3

cd "$T_DIR" || t_bail "cd $T_DIR"

SVC_USER=jit-ca-test
U=$(id -un)
SVC_PID=""
AUDIT="$T_DIR/svc/audit.jsonl"

if [ "$(id -u)" -eq 0 ]; then
	svc_account
else
	SVC_USER=$U
	SVC=""
fi

mkdir -p svc svc/state pki cli || t_bail "mkdir"
run "$JIT_CA" init -f svc/ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: $T_ERR"
ssh-keygen -q -N '' -t ed25519 -C user -f user || t_bail "ssh-keygen user"

# --- the X.509 PKI ---

# x509_ca NAME: a self-signed P-256 CA in pki/NAME.crt, pki/NAME.key.
x509_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "pki/$1.key" -out "pki/$1.crt" -subj "/CN=$1" -days 2 \
		>pki/openssl.log 2>&1 || t_bail "openssl CA $1: $(cat pki/openssl.log)"
}

# x509_leaf NAME CA SUBJECT EXTENSIONS: pki/NAME.crt signed by CA.
x509_leaf() {
	printf '%s\n' "$4" >"pki/$1.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "pki/$1.key" -out "pki/$1.csr" -subj "$3" \
		>pki/openssl.log 2>&1 || t_bail "openssl req $1: $(cat pki/openssl.log)"
	openssl x509 -req -in "pki/$1.csr" -CA "pki/$2.crt" -CAkey "pki/$2.key" \
		-CAcreateserial -days 2 -extfile "pki/$1.ext" -out "pki/$1.crt" \
		>pki/openssl.log 2>&1 || t_bail "openssl x509 $1: $(cat pki/openssl.log)"
}

CLIENT_EXT='basicConstraints=CA:FALSE
extendedKeyUsage=clientAuth'
x509_ca ca
x509_ca other-ca
x509_leaf server ca /CN=jit-ca-server 'basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost'
x509_leaf bastion ca /CN=bastion-1 "$CLIENT_EXT"
x509_leaf bastion-san ca /CN=ignored "$CLIENT_EXT
subjectAltName=DNS:bastion-1"
x509_leaf forged other-ca /CN=bastion-1 "$CLIENT_EXT"
x509_leaf stranger ca /CN=stranger "$CLIENT_EXT"

# The service's files belong to its account; the clients' to this user.
cp pki/server.crt pki/server.key pki/ca.crt svc/ || t_bail "cp"
for n in bastion bastion-san forged stranger; do
	cp "pki/$n.crt" "pki/$n.key" cli/ || t_bail "cp $n"
done
cp pki/ca.crt cli/ || t_bail "cp ca"
chmod 0600 svc/server.key cli/*.key
chmod 0644 svc/server.crt svc/ca.crt cli/*.crt user.pub
if [ -n "$SVC" ]; then
	chown -R "$SVC_USER:" svc || t_bail "chown"
	chmod 0700 svc/state
	chmod 0755 svc
fi

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# conf FILE CLIENT_NAME ENDPOINTS: service and client settings.
conf() {
	cat >"$1" <<EOF
ca = {
  endpoints = [ $3 ];
  timeout = "3s";
  client_tls = { cert = "$T_DIR/cli/$2.crt"; key = "$T_DIR/cli/$2.key";
                 ca = "$T_DIR/cli/ca.crt"; };
  key = "$T_DIR/svc/ca";
  listen = [ "tls://127.0.0.1:$PORT" ];
  tls = { cert = "$T_DIR/svc/server.crt"; key = "$T_DIR/svc/server.key";
          client_ca = "$T_DIR/svc/ca.crt"; };
  state_dir = "$T_DIR/svc/state";
  audit_log = "$AUDIT";
  max_validity = "10m";
  breakglass_max_validity = "2m";
  max_connections = 16;
  request_timeout = "3s";
  requesters = ( { name = "bastion-1"; tls_names = [ "bastion-1" ];
                   principals = [ "alice" ]; } );
};
certificates = { validity = "5m"; };
EOF
	chmod 0644 "$1"
}

# svc_start: the service on a free port (PORT), up to 5 tries.
svc_start() {
	_try=0
	while [ $_try -lt 5 ]; do
		_try=$((_try + 1))
		PORT=$(free_port)
		conf jit.conf bastion "\"tls://127.0.0.1:$PORT\""
		: >serve.log
		# shellcheck disable=SC2086 # SVC is a command prefix
		$SVC "$JIT_CA" serve -c "$T_DIR/jit.conf" 2>>serve.log </dev/null &
		SVC_PID=$!
		T_PIDS="$T_PIDS $SVC_PID"
		_i=0
		while [ $_i -lt 100 ]; do
			grep -q 'event=started' serve.log && return 0
			kill -0 "$SVC_PID" 2>/dev/null || break
			sleep 0.1
			_i=$((_i + 1))
		done
		grep -q 'Address already in use' serve.log && continue
		t_bail "jit-ca serve did not start: $(head -c 2000 serve.log)"
	done
	t_bail "no free port in 5 tries"
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

# audit_count: records so far.
audit_count() {
	if [ -f "$AUDIT" ]; then lines "$AUDIT"; else echo 0; fi
}

# wait_audit N: until the log holds N records (the service writes after
# the client may already have given up), for up to 5 s.
wait_audit() {
	_w=0
	while [ $_w -lt 50 ]; do
		[ "$(audit_count)" -ge "$1" ] && return 0
		sleep 0.1
		_w=$((_w + 1))
	done
	return 1
}

# request CONF [ARGS...]: jit-ca request for alice, certificate in out-cert.pub.
request() {
	_c=$1
	shift
	rm -f out-cert.pub
	run "$JIT_CA" request -c "$T_DIR/$_c" -u alice -n alice -t CHG-1 -o out-cert.pub \
		"$@" user.pub
}

# ms: the monotonic-enough wall clock in milliseconds.
ms() {
	echo $(($(date +%s%N) / 1000000))
}

svc_start
EP="\"tls://127.0.0.1:$PORT\""

# --- a certificate for the bastion's client certificate ---

request jit.conf
expect "tls request issued" 0 '' "@has:Certificate serial 1 for alice valid until 20"
if keygen_L out-cert.pub keygen.out &&
	grep -q 'Key ID: "user=alice ticket=CHG-1 session=.* requester=bastion-1 serial=1"' \
		keygen.out; then
	t_pass "ssh-keygen -L reads the certificate"
else
	t_fail "ssh-keygen -L reads the certificate" "$(cat keygen.out)"
fi
assert_eq "issued audited: event" issued "$(audit_last event)"
assert_eq "issued audited: requester" bastion-1 "$(audit_last requester)"
assert_eq "issued audited: peer_name" bastion-1 "$(audit_last peer_name)"
case "$(audit_last peer_address)" in
127.0.0.1:[0-9]*) t_pass "issued audited: peer_address" ;;
*) t_fail "issued audited: peer_address" "got $(audit_last peer_address)" ;;
esac
assert_eq "issued audited: no peer_uid" "<absent>" "$(audit_last peer_uid)"

# The name may come from a DNS subjectAltName as well as from the CN.
conf san.conf bastion-san "$EP"
request san.conf
expect "name from a DNS subjectAltName" 0 '' "@has:Certificate serial 2 for alice valid until 20"
assert_eq "san audited: peer_name" bastion-1 "$(audit_last peer_name)"

# --- refusals, each audited ---

# No client certificate: python3's ssl, TLS 1.3, trusting our CA.
cat >noclient.py <<'EOF'
import socket, ssl, struct, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(sys.argv[1])
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10)
try:
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    t.sendall(struct.pack(">I", 4) + b"xxxx")
    data = t.recv(100)
    print("answer" if data else "closed")
except ssl.SSLEOFError:
    print("ssl error: EOF")
except ssl.SSLError as e:
    print("ssl error: " + str(e.reason))
EOF
n=$(audit_count)
run python3 noclient.py cli/ca.crt "$PORT"
# As below: the server's alert may reach the client before or after it
# writes; when after, the write meets the closed connection. Refused either way.
case "$T_RC:$T_OUT" in
"0:ssl error: TLSV13_ALERT_CERTIFICATE_REQUIRED" | "0:ssl error: EOF") t_pass "no client certificate refused" ;;
*) t_fail "no client certificate refused" "exit $T_RC" "$T_OUT" "$T_ERR" ;;
esac
wait_audit $((n + 1)) || t_bail "no audit record for the missing certificate"
assert_eq "no certificate audited: event" refused "$(audit_last event)"
assert_eq "no certificate audited: status" unauthenticated "$(audit_last status)"
assert_eq "no certificate audited: message" \
	"tls handshake failed: peer did not return a certificate" "$(audit_last message)"
assert_eq "no certificate audited: peer_name" "" "$(audit_last peer_name)"
case "$(audit_last peer_address)" in
127.0.0.1:[0-9]*) t_pass "no certificate audited: peer_address" ;;
*) t_fail "no certificate audited: peer_address" "got $(audit_last peer_address)" ;;
esac

# A certificate with the right name from another CA.
conf forged.conf forged "$EP"
n=$(audit_count)
request forged.conf
# In TLS 1.3 the client finishes its side of the handshake before the
# server checks its certificate, so the server's "unknown ca" alert may reach
# the client after it sent its request: it then sees the alert, or the
# connection closed under it. Either way: refused, nothing written.
_pre="jit-ca: request: no CA endpoint answered: tls://127.0.0.1:$PORT:"
case "$T_RC:$T_ERR" in
"4:$_pre response: tlsv1 alert unknown ca" | "4:$_pre request: truncated data" | \
	"4:$_pre response: truncated data")
	t_pass "client certificate from another CA refused" ;;
*) t_fail "client certificate from another CA refused" "exit $T_RC: $T_ERR" ;;
esac
if [ -f out-cert.pub ]; then
	t_fail "no certificate written for another CA" "$(cat out-cert.pub)"
else
	t_pass "no certificate written for another CA"
fi
wait_audit $((n + 1)) || t_bail "no audit record for the forged certificate"
assert_eq "other CA audited: status" unauthenticated "$(audit_last status)"
assert_eq "other CA audited: message" \
	"tls handshake failed: certificate verify failed: unable to get local issuer certificate" \
	"$(audit_last message)"

# The right CA, a name no requester has.
conf stranger.conf stranger "$EP"
n=$(audit_count)
request stranger.conf
expect "unknown certificate name unauthenticated" 1 '' \
	'jit-ca: request: unauthenticated: client certificate "stranger" is not an allowed requester'
assert_eq "unknown name audited: one record" $((n + 1)) "$(audit_count)"
assert_eq "unknown name audited: status" unauthenticated "$(audit_last status)"
assert_eq "unknown name audited: peer_name" stranger "$(audit_last peer_name)"
assert_eq "unknown name audited: requester" "" "$(audit_last requester)"

# TLS 1.2 only: no handshake.
n=$(audit_count)
run openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -CAfile cli/ca.crt \
	-cert cli/bastion.crt -key cli/bastion.key
if [ "$T_RC" -ne 0 ] && grep -q 'alert protocol version' run.err; then
	t_pass "TLS 1.2 client refused"
else
	t_fail "TLS 1.2 client refused" "exit $T_RC" "$(head -c 2000 run.err)"
fi
wait_audit $((n + 1)) || t_bail "no audit record for TLS 1.2"
assert_eq "TLS 1.2 audited: message" "tls handshake failed: unsupported protocol" \
	"$(audit_last message)"

# --- the endpoint rules ---

conf localhost.conf bastion "\"tls://localhost:$PORT\""
request localhost.conf
expect "a name from /etc/hosts" 0 '' "@has:Certificate serial 3 for alice valid until 20"

conf nodns.conf bastion "\"tls://ca.invalid:$PORT\""
request nodns.conf
expect "a name not in /etc/hosts is not looked up" 4 '' \
	"jit-ca: request: no CA endpoint answered: tls://ca.invalid:$PORT: resolve: ca.invalid is not an address or a name in /etc/hosts"

# tcp_listener hold|reset PORT: a TCP listener on 127.0.0.1 that keeps
# every connection open without a word, or resets each at once; its pid in
# LISTENER_PID, returns once it listens.
tcp_listener() {
	python3 -c 'import socket, struct, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[2])))
s.listen(8)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept()
    if sys.argv[1] == "reset":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    else:
        conns.append(c)' "$1" "$2" >"listener-$2.out" 2>&1 &
	LISTENER_PID=$!
	T_PIDS="$T_PIDS $LISTENER_PID"
	_i=0
	while [ $_i -lt 50 ] && ! grep -q ready "listener-$2.out"; do
		sleep 0.1
		_i=$((_i + 1))
	done
}

# --- failover ---

DEAD=$(free_port)
conf dead.conf bastion "\"tls://127.0.0.1:$DEAD\", $EP"
t0=$(ms)
request dead.conf
t1=$(ms)
expect "failover past a dead endpoint" 0 '' "@has:Certificate serial 4 for alice valid until 20"
if [ $((t1 - t0)) -lt 4000 ]; then
	t_pass "failover past a dead endpoint within the timeout"
else
	t_fail "failover past a dead endpoint within the timeout" "took $((t1 - t0)) ms"
fi

# A TCP listener that accepts and never answers: the handshake times out.
STUCK=$(free_port)
tcp_listener hold "$STUCK"
conf stuck.conf bastion "\"tls://127.0.0.1:$STUCK\", $EP"
t0=$(ms)
request stuck.conf
t1=$(ms)
expect "failover past a stuck endpoint" 0 '' "@has:Certificate serial 5 for alice valid until 20"
if [ $((t1 - t0)) -ge 3000 ] && [ $((t1 - t0)) -lt 7000 ]; then
	t_pass "the stuck endpoint had its timeout, then the next answered"
else
	t_fail "the stuck endpoint had its timeout, then the next answered" \
		"took $((t1 - t0)) ms"
fi
conf stuckonly.conf bastion "\"tls://127.0.0.1:$STUCK\""
request stuckonly.conf
expect "a stuck endpoint alone times out" 4 '' \
	"jit-ca: request: no CA endpoint answered: tls://127.0.0.1:$STUCK: tls: timed out"

# A TCP listener that accepts and resets at once (twice in the list): the
# client goes on to the next endpoint.
RESET=$(free_port)
tcp_listener reset "$RESET"
conf reset.conf bastion "\"tls://127.0.0.1:$RESET\", \"tls://127.0.0.1:$RESET\", $EP"
request reset.conf
expect "failover past endpoints that reset the connection" 0 '' \
	"@has:Certificate serial 6 for alice valid until 20"
kill "$LISTENER_PID"

# A caller that connects and never starts the handshake is dropped after
# the handshake's own deadline (2s, below ca.request_timeout of 3s),
# without an audit record.
n=$(audit_count)
run python3 -c 'import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.monotonic()
s.settimeout(10)
print("closed" if s.recv(1) == b"" else "data", round(time.monotonic() - t0))' "$PORT"
expect "a silent caller is dropped at the handshake deadline" 0 'closed 2' ''
if grep -q '^jit-ca: event=dropped reason=timeout peer_address=127.0.0.1:[0-9]* peer_name="" state=handshake$' serve.log; then
	t_pass "the handshake timeout is logged"
else
	t_fail "the handshake timeout is logged" "$(grep dropped serve.log)"
fi
assert_eq "a silent caller is not audited" "$n" "$(audit_count)"

# --- the service is still there and stops cleanly ---

if kill -0 "$SVC_PID" 2>/dev/null; then
	t_pass "service alive"
else
	t_fail "service alive" "$(tail -n 20 serve.log)"
fi
kill "$SVC_PID"
wait "$SVC_PID"
assert_eq "service stops cleanly" 0 "$?"
if grep -q 'event=stopped' serve.log; then
	t_pass "stop logged"
else
	t_fail "stop logged" "$(tail -n 5 serve.log)"
fi

# --- TCP callers cannot take the slots kept for Unix-socket callers ---

# max_connections 16 with a Unix listener too: TLS may hold 8 (16 - 8).
MIXSOCK=$T_DIR/svc/ca.sock
conf mix.conf bastion "\"unix:$MIXSOCK\""
sed -i -e "s|listen = \[ \"tls://127.0.0.1:$PORT\" \];|listen = [ \"tls://127.0.0.1:$PORT\", \"unix:$MIXSOCK\" ];|" \
	-e "s|tls_names = \[ \"bastion-1\" \];|tls_names = [ \"bastion-1\" ]; unix_users = [ \"$U\" ];|" mix.conf
grep -q "unix:$MIXSOCK\" \];" mix.conf && grep -q 'unix_users' mix.conf || t_bail "sed mix.conf"
: >mix.log
# shellcheck disable=SC2086 # SVC is a command prefix
$SVC "$JIT_CA" serve -c "$T_DIR/mix.conf" 2>>mix.log </dev/null &
SVC_PID=$!
T_PIDS="$T_PIDS $SVC_PID"
_i=0
until grep -q 'event=started' mix.log && [ -S "$MIXSOCK" ]; do
	kill -0 "$SVC_PID" 2>/dev/null && [ $_i -lt 100 ] ||
		t_bail "mixed service did not start: $(head -c 2000 mix.log)"
	sleep 0.1
	_i=$((_i + 1))
done
if grep -q 'max_connections=16 tls_connections=8 ' mix.log; then
	t_pass "TLS share of max_connections 16 logged as 8"
else
	t_fail "TLS share of max_connections 16 logged as 8" "$(grep started mix.log)"
fi
# 16 idle TCP connections, held for 10 s; each reports when the service closes it.
python3 -c 'import socket, sys, time, select
cs = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(16)]
print("ready", flush=True)
t0 = time.monotonic()
closed = {}
while len(closed) < len(cs) and time.monotonic() - t0 < 10:
    r, _, _ = select.select([c for c in cs if c not in closed], [], [], 0.1)
    for c in r:
        try:
            d = c.recv(1)
        except OSError:
            d = b""
        if d == b"":
            closed[c] = time.monotonic() - t0
early = sum(1 for v in closed.values() if v < 1)
late = sum(1 for v in closed.values() if 1 <= v < 4)
print("early", early, "late", late, "open", len(cs) - len(closed), flush=True)' "$PORT" >idle.out 2>&1 &
IDLE_PID=$!
T_PIDS="$T_PIDS $IDLE_PID"
_i=0
while [ $_i -lt 50 ] && ! grep -q ready idle.out; do
	sleep 0.1
	_i=$((_i + 1))
done
rm -f out-cert.pub
run "$JIT_CA" request -c "$T_DIR/mix.conf" -u alice -n alice -t CHG-7 -o out-cert.pub user.pub
expect "a Unix caller is served beside 16 idle TCP connections" 0 '' \
	"@has:for alice valid until 20"
assert_eq "the Unix caller audited" "issued bastion-1 $(id -u)" \
	"$(audit_last event) $(audit_last requester) $(audit_last peer_uid)"
wait "$IDLE_PID"
# 8 beyond the TLS share are closed at once; the 8 held end at the handshake deadline.
assert_eq "idle TCP callers: 8 refused at once, 8 dropped at the handshake deadline" \
	"early 8 late 8 open 0" "$(grep -v ready idle.out)"
if grep -q 'event=overload' mix.log; then
	t_pass "TLS share exhausted: overload logged"
else
	t_fail "TLS share exhausted: overload logged" "$(tail -n 5 mix.log)"
fi
kill "$SVC_PID"
wait "$SVC_PID"
assert_eq "mixed service stops cleanly" 0 "$?"

t_summary
