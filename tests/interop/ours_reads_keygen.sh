# jit-ca reads what ssh-keygen writes: certificates signed by ssh-keygen -s
# under every CA type verify with jit-ca verify, jit-ca inspect prints what
# ssh-keygen -L prints and --json carries the exact values; each refusal
# names its rule. CA keys in ssh-keygen's formats (encrypted, PEM, PKCS8)
# sign; a CA key readable by others is refused.

. "$TESTS_DIR/lib.sh"
t_need ssh-keygen python3 base64 od

cd "$T_DIR" || t_bail "cd $T_DIR"

keygen_args() {
	case "$1" in
	ed25519) echo "-t ed25519" ;;
	ecdsa*) echo "-t ecdsa -b ${1#ecdsa}" ;;
	rsa*) echo "-t rsa -b ${1#rsa}" ;;
	esac
}

# rfc3339 EPOCH
rfc3339() {
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}

mkdir subj ca certs
for s in ed25519 ecdsa384; do
	# shellcheck disable=SC2046 # word splitting of the key arguments
	ssh-keygen -q -N '' -C "subj-$s" $(keygen_args $s) -f "subj/$s" ||
		t_bail "ssh-keygen $s"
done
ssh-keygen -q -N '' -t ecdsa -b 256 -f subj/p256 || t_bail "ssh-keygen p256"
make_sk_ed25519 subj/ed25519.pub subj/sked25519.pub
make_sk_ecdsa subj/p256.pub subj/skecdsa.pub
for c in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa3072 other; do
	case "$c" in
	other) a="-t ed25519" ;;
	*) a=$(keygen_args $c) ;;
	esac
	# shellcheck disable=SC2086
	ssh-keygen -q -N '' -C "ca-$c" $a -f "ca/$c" || t_bail "ssh-keygen CA $c"
done
# RSA key generation is slow: the RSA subject is the RSA CA's public key.
cp ca/rsa3072.pub subj/rsa.pub

# Valid from five minutes ago for an hour, to the second.
NOW=$(date +%s)
VA=$((NOW - 300))
VB=$((NOW + 3600))
V="$(date -u -d @$VA +%Y%m%d%H%M%S):$(date -u -d @$VB +%Y%m%d%H%M%S)"
set -- -O 'force-command=/bin/echo "forced here"' \
	-O source-address=10.0.0.0/8,127.0.0.1/32 -O verify-required \
	-O no-x11-forwarding -O extension:login@example.com=alice \
	-O extension:flag@example.com

# json_check NAME FILE EXPECTED_JSON: FILE's object has exactly the expected
# values for the expected keys (signing_ca: the keys given).
json_check() {
	if python3 -c '
import json, sys
want = json.loads(sys.argv[1])
try:
    with open(sys.argv[2]) as f:
        got = json.load(f)
except Exception as e:
    print("not JSON: %s" % e)
    sys.exit(1)
bad = 0
for k, v in want.items():
    g = got.get(k, "<missing>") if isinstance(got, dict) else "<not an object>"
    if k == "signing_ca" and isinstance(g, dict):
        g = {n: g.get(n, "<missing>") for n in v}
    if g != v or type(g) != type(v):
        print("%s: got %s, expected %s" % (k, json.dumps(g), json.dumps(v)))
        bad = 1
sys.exit(bad)
' "$3" "$2" >"$T_DIR/json.why" 2>&1; then
		t_pass "$1"
	else
		t_fail "$1" "$(cat "$T_DIR/json.why")"
	fi
}

# The JSON for a certificate made below with "$@" options.
json_want() { # KEY_ID SERIAL CA_PUB SIGNATURE_ALGORITHM SUBJECT_PUB CERT
	cat <<EOF
{"key_id": "$1", "serial": $2, "type": "$(first_word "$6")",
 "cert_type": "user",
 "public_key": {"type": "$(first_word "$5")", "fingerprint": "$(fp "$5")"},
 "signing_ca": {"type": "$(first_word "$3")", "fingerprint": "$(fp "$3")",
   "signature_algorithm": "$4"},
 "valid_after": $VA, "valid_before": $VB,
 "valid_after_rfc3339": "$(rfc3339 $VA)",
 "valid_before_rfc3339": "$(rfc3339 $VB)",
 "principals": ["alice", "bob"],
 "critical_options": {"force-command": "/bin/echo \"forced here\"",
   "source-address": "10.0.0.0/8,127.0.0.1/32", "verify-required": ""},
 "extensions": {"flag@example.com": "", "login@example.com": "alice",
   "permit-agent-forwarding": "", "permit-port-forwarding": "",
   "permit-pty": "", "permit-user-rc": ""}}
EOF
}
first_word() {
	awk '{ print $1; exit }' "$1"
}
sig_alg() {
	case "$1" in
	ed25519) echo ssh-ed25519 ;;
	ecdsa*) echo "ecdsa-sha2-nistp${1#ecdsa}" ;;
	rsa*) echo rsa-sha2-512 ;;
	esac
}

serial=500
for c in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa3072; do
	for s in ed25519 ecdsa384 rsa sked25519 skecdsa; do
		serial=$((serial + 1))
		name="ssh-keygen $c signs $s"
		cert="certs/$s.$c-cert.pub"
		kid="kid $s by $c"
		cp "subj/$s.pub" "certs/$s.$c.pub"
		ssh-keygen -q -s "ca/$c" -I "$kid" -z $serial -n alice,bob -V "$V" \
			"$@" "certs/$s.$c.pub" || t_bail "ssh-keygen -s $name"

		run "$JIT_CA" verify -c "ca/$c.pub" -n alice --from 127.0.0.1 "$cert"
		expect "$name: jit-ca verify" 0 "$cert: ok" ''

		keygen_L "$cert" "$cert.L" || t_bail "ssh-keygen -L $cert"
		run "$JIT_CA" inspect "$cert"
		if [ "$T_RC" -eq 0 ]; then
			assert_files "$name: jit-ca inspect = ssh-keygen -L" \
				"$cert.L" "$T_DIR/run.out"
		else
			t_fail "$name: jit-ca inspect = ssh-keygen -L" "exit $T_RC" \
				"$T_ERR"
		fi

		run "$JIT_CA" inspect --json "$cert"
		if [ "$T_RC" -eq 0 ]; then
			json_check "$name: jit-ca inspect --json" "$T_DIR/run.out" \
				"$(json_want "$kid" $serial "ca/$c.pub" "$(sig_alg $c)" \
					"subj/$s.pub" "$cert")"
		else
			t_fail "$name: jit-ca inspect --json" "exit $T_RC" "$T_ERR"
		fi
	done
done

# Each verification rule, on one ssh-keygen certificate.
cert=certs/ed25519.ed25519-cert.pub
verify_refused() { # NAME REASON ARGS...
	_vr_vn=$1 _vr_why=$2
	shift 2
	run "$JIT_CA" verify "$@"
	expect "verify refuses: $_vr_vn" 1 '' "jit-ca: $cert: $_vr_why"
}
verify_refused "wrong principal" "principal not in certificate" \
	-c ca/ed25519.pub -n mallory $cert
verify_refused "another CA" "certificate is not signed by the given CA" \
	-c ca/other.pub -n alice $cert
verify_refused "one second before valid_after" "certificate is not yet valid" \
	-c ca/ed25519.pub -n alice --at "$(rfc3339 $((VA - 1)))" $cert
verify_refused "at valid_before" "certificate has expired" \
	-c ca/ed25519.pub -n alice --at "$(rfc3339 $VB)" $cert
verify_refused "address outside source-address" \
	"source address not allowed by certificate" \
	-c ca/ed25519.pub -n alice --from 192.168.1.1 $cert

run "$JIT_CA" verify -c ca/ed25519.pub -n alice --at "$(rfc3339 $VA)" $cert
expect "verify accepts: at valid_after" 0 "$cert: ok" ''
run "$JIT_CA" verify -c ca/ed25519.pub -n alice --at "$(rfc3339 $((VB - 1)))" \
	$cert
expect "verify accepts: one second before valid_before" 0 "$cert: ok" ''
run "$JIT_CA" verify -c ca/ed25519.pub -n bob --from 10.200.1.2 $cert
expect "verify accepts: second principal, address in 10.0.0.0/8" 0 \
	"$cert: ok" ''
run "$JIT_CA" verify -c ca/ed25519.pub $cert
expect "verify accepts: no -n (any listed principal)" 0 "$cert: ok" ''

tamper_cert $cert "kid ed25519 by ed25519" certs/tampered-cert.pub
run_ssh ssh-keygen -L -f certs/tampered-cert.pub
expect "tampered: ssh-keygen -L refuses it" 1 @any \
	"certs/tampered-cert.pub:1: invalid key: incorrect signature"
cert=certs/tampered-cert.pub
verify_refused "tampered key ID" "incorrect signature" \
	-c ca/ed25519.pub -n alice $cert

cp subj/ed25519.pub certs/noprinc.pub
ssh-keygen -q -s ca/ed25519 -I noprinc -V "$V" certs/noprinc.pub ||
	t_bail "ssh-keygen -s noprinc"
cert=certs/noprinc-cert.pub
verify_refused "no principals (with -n)" "certificate has no principals" \
	-c ca/ed25519.pub -n alice $cert
verify_refused "no principals (without -n)" "certificate has no principals" \
	-c ca/ed25519.pub $cert

# Validity and principal forms ssh-keygen prints specially, and a host
# certificate: jit-ca inspect prints the same text.
inspect_same() { # NAME CERT
	keygen_L "$2" "$2.L" || t_bail "ssh-keygen -L $2"
	run "$JIT_CA" inspect "$2"
	if [ "$T_RC" -eq 0 ]; then
		assert_files "$1: jit-ca inspect = ssh-keygen -L" "$2.L" \
			"$T_DIR/run.out"
	else
		t_fail "$1: jit-ca inspect = ssh-keygen -L" "exit $T_RC" "$T_ERR"
	fi
}
inspect_same "no principals" certs/noprinc-cert.pub
for v in always:forever -1m:forever always:20300101; do
	cp subj/ed25519.pub "certs/v$v.pub"
	ssh-keygen -q -s ca/ed25519 -I "$v" -n alice -V "$v" "certs/v$v.pub" ||
		t_bail "ssh-keygen -s -V $v"
	inspect_same "-V $v" "certs/v$v-cert.pub"
done
run "$JIT_CA" inspect --json certs/valways:forever-cert.pub
json_check "-V always:forever: jit-ca inspect --json" "$T_DIR/run.out" \
	'{"valid_after": 0, "valid_before": 18446744073709551615,
	  "valid_after_rfc3339": null, "valid_before_rfc3339": null,
	  "principals": ["alice"]}'
run "$JIT_CA" inspect --json certs/noprinc-cert.pub
json_check "no principals: jit-ca inspect --json" "$T_DIR/run.out" \
	'{"principals": [], "key_id": "noprinc"}'

cp subj/ed25519.pub certs/host.pub
ssh-keygen -q -s ca/ed25519 -h -I host -n host.example -V "$V" certs/host.pub ||
	t_bail "ssh-keygen -s -h"
inspect_same "host certificate" certs/host-cert.pub
run "$JIT_CA" inspect --json certs/host-cert.pub
json_check "host certificate: jit-ca inspect --json" "$T_DIR/run.out" \
	'{"cert_type": "host", "principals": ["host.example"]}'
cert=certs/host-cert.pub
verify_refused "host certificate" "not a user certificate" \
	-c ca/ed25519.pub -n host.example $cert

# CA keys as ssh-keygen stores them. sign_with NAME CA_KEY CA_PUB ARGS...:
# jit-ca signs, ssh-keygen -L names that CA, jit-ca verify accepts.
sign_with() {
	_sw_sn=$1 _sw_key=$2 _sw_pub=$3
	shift 3
	_sw_c="certs/with.$_sw_sn-cert.pub"
	run "$JIT_CA" sign -s "$_sw_key" -I "with $_sw_sn" -z 77 -n alice -V +5m \
		-o "$_sw_c" "$@" subj/ed25519.pub
	if [ "$T_RC" -ne 0 ]; then
		t_fail "CA key $_sw_sn: jit-ca sign" "exit $T_RC" "$T_ERR"
		return
	fi
	keygen_L "$_sw_c" "$_sw_c.L"
	assert_eq "CA key $_sw_sn: ssh-keygen -L names the CA" \
		"        Signing CA: $(ssh-keygen -l -f "$_sw_pub" |
			awk '{ print substr($NF, 2, length($NF) - 2), $2 }')" \
		"$(grep '^        Signing CA: ' "$_sw_c.L" | sed 's/ (using .*//')"
	run "$JIT_CA" verify -c "$_sw_pub" -n alice "$_sw_c"
	expect "CA key $_sw_sn: jit-ca verify" 0 "$_sw_c: ok" ''
}

printf '%s\n' 'correct horse battery staple' >pass.txt
printf '%s\n' 'wrong horse' >wrong.txt
chmod 600 pass.txt wrong.txt
# Every key type, under a block cipher and both AEAD ciphers.
for k in ed25519:aes256-ctr ecdsa256:aes256-gcm@openssh.com \
	rsa3072:chacha20-poly1305@openssh.com; do
	c=${k%%:*} z=${k#*:}
	# shellcheck disable=SC2046
	ssh-keygen -q -N 'correct horse battery staple' $(keygen_args $c) \
		-Z "$z" -f "ca/enc_$c" || t_bail "ssh-keygen encrypted $c $z"
	sign_with "encrypted $c $z" "ca/enc_$c" "ca/enc_$c.pub" \
		--passphrase-file pass.txt
	run "$JIT_CA" sign -s "ca/enc_$c" -I x -n alice -V +5m \
		--passphrase-file wrong.txt -o certs/wrong-cert.pub subj/ed25519.pub
	expect "CA key encrypted $c $z: wrong passphrase refused" 3 '' \
		"jit-ca: ca/enc_$c: wrong passphrase or corrupt key"
	if [ -e certs/wrong-cert.pub ]; then
		t_fail "CA key encrypted $c $z: no certificate on a wrong passphrase"
	else
		t_pass "CA key encrypted $c $z: no certificate on a wrong passphrase"
	fi
done
# The passphrase file is a secret too.
cp pass.txt open-pass.txt
chmod 644 open-pass.txt
run "$JIT_CA" sign -s ca/enc_ed25519 -I x -n alice -V +5m \
	--passphrase-file open-pass.txt -o certs/openpass-cert.pub subj/ed25519.pub
expect "passphrase file mode 0644 refused" 3 '' \
	"jit-ca: open-pass.txt: bad file ownership or permissions"

# PEM and PKCS8: ECDSA made so, RSA converted from the one RSA key.
ssh-keygen -q -N '' -t ecdsa -b 256 -m PEM -f ca/pem_ecdsa ||
	t_bail "ssh-keygen PEM"
ssh-keygen -q -N '' -t ecdsa -b 384 -m PKCS8 -f ca/p8_ecdsa ||
	t_bail "ssh-keygen PKCS8"
for f in pem p8; do
	cp ca/rsa3072 ca/${f}_rsa
	cp ca/rsa3072.pub ca/${f}_rsa.pub
done
ssh-keygen -q -p -N '' -P '' -m PEM -f ca/pem_rsa >/dev/null ||
	t_bail "ssh-keygen -p -m PEM"
ssh-keygen -q -p -N '' -P '' -m PKCS8 -f ca/p8_rsa >/dev/null ||
	t_bail "ssh-keygen -p -m PKCS8"
for k in pem_ecdsa:'EC PRIVATE KEY' p8_ecdsa:'PRIVATE KEY' \
	pem_rsa:'RSA PRIVATE KEY' p8_rsa:'PRIVATE KEY'; do
	f=${k%%:*}
	[ "$(head -n1 "ca/$f")" = "-----BEGIN ${k#*:}-----" ] ||
		t_bail "ca/$f is not in the expected format"
	sign_with "$f" "ca/$f" "ca/$f.pub"
done

# A CA key others can read is refused, and the message names the file.
cp ca/ed25519 ca/open_ed25519
chmod 644 ca/open_ed25519
run "$JIT_CA" sign -s ca/open_ed25519 -I x -n alice -V +5m \
	-o certs/open-cert.pub subj/ed25519.pub
expect "CA key mode 0644 refused" 3 '' \
	"jit-ca: ca/open_ed25519: bad file ownership or permissions"
if [ -e certs/open-cert.pub ]; then
	t_fail "CA key mode 0644: no certificate written"
else
	t_pass "CA key mode 0644: no certificate written"
fi

t_summary
