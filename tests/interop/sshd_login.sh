# A real sshd trusts jit-ca's CA keys: a valid certificate logs in, and each
# invalid one is refused with sshd's own reason in its log. jit-ca verify
# agrees with sshd on every case.

. "$TESTS_DIR/lib.sh"
t_need /usr/sbin/sshd ssh ssh-keygen base64 od

cd "$T_DIR" || t_bail "cd $T_DIR"

U=$(id -un)
CLIENT=${JIT_CERT_CLIENT:-}

ssh-keygen -q -N '' -t ed25519 -f hostkey || t_bail "ssh-keygen hostkey"
ssh-keygen -q -N '' -t ed25519 -C user -f user || t_bail "ssh-keygen user"
UFP=$(fp user.pub)

for c in ed25519:'-t ed25519' ecdsa:'-t ecdsa -b 384' rsa:'-t rsa -b 3072' \
	other:'-t ed25519'; do
	# shellcheck disable=SC2086 # word splitting of the key arguments
	run "$JIT_CA" init -f "ca_${c%%:*}" ${c#*:}
	[ "$T_RC" -eq 0 ] || t_bail "jit-ca init ${c%%:*}: exit $T_RC: $T_ERR"
done
cat ca_ed25519.pub ca_ecdsa.pub ca_rsa.pub >trusted.pub

sshd_start main VERBOSE "$T_DIR/trusted.pub"

# sign_cert OUT CA KEY_ID SERIAL PRINCIPALS VALIDITY [SIGN OPTIONS...]
sign_cert() {
	_sc_out=$1 _sc_ca=$2 _sc_kid=$3 _sc_ser=$4 _sc_pr=$5 _sc_v=$6
	shift 6
	run "$JIT_CA" sign -s "$_sc_ca" -I "$_sc_kid" -z "$_sc_ser" \
		-n "$_sc_pr" -V "$_sc_v" -o "$_sc_out" "$@" user.pub
	if [ "$T_RC" -ne 0 ]; then
		t_fail "$_sc_kid: jit-ca sign" "exit $T_RC" "$T_ERR"
		return 1
	fi
}

# login CERT FROM: ssh to the test sshd from address FROM, running
# "echo jit-ok".
login() {
	_lg_cert=$1
	sshd_alive
	if [ "$2" = 127.0.0.1 ]; then
		set --
	else
		set -- -b "$2"
	fi
	run ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o KexAlgorithms=curve25519-sha256 -o ConnectTimeout=10 \
		-i "$T_DIR/user" -o CertificateFile="$_lg_cert" -p "$SSHD_PORT" "$@" \
		"$U@127.0.0.1" echo jit-ok
}

# cert_line CA_PUB KEY_ID SERIAL: how sshd names a certificate in its
# Accepted/Failed publickey lines.
cert_line() {
	echo "ED25519-CERT $UFP ID $2 (serial $3) CA $(label "$1") $(fp "$1")"
}
label() {
	case "$(awk '{ print $1; exit }' "$1")" in
	ssh-ed25519) echo ED25519 ;;
	ecdsa-*) echo ECDSA ;;
	ssh-rsa) echo RSA ;;
	*) echo UNKNOWN ;;
	esac
}

# log_check NAME FROM LINE...: each LINE appears in the sshd log after line
# FROM (waiting for sshd to write it).
log_check() {
	_lc_ln=$1 _lc_from=$2
	shift 2
	for _lc_l in "$@"; do
		if ! wait_log "$SSHD_LOG" "$_lc_from" "$_lc_l"; then
			t_fail "$_lc_ln" "no log line: $_lc_l" \
				"log: $(tail -n +$((_lc_from + 1)) "$SSHD_LOG" | head -c 3000)"
			return
		fi
	done
	t_pass "$_lc_ln"
}

# no_login NAME FROM: after line FROM the log has no accepted login.
no_login() {
	if tail -n +$(($2 + 1)) "$SSHD_LOG" | grep -q '^Accepted'; then
		t_fail "$1" "$(tail -n +$(($2 + 1)) "$SSHD_LOG" | grep '^Accepted')"
	else
		t_pass "$1"
	fi
}

# accepted NAME CA CERT KEY_ID SERIAL FROM: the login works and sshd logs it
# with the certificate's ID, serial and CA; jit-ca verify agrees.
accepted() {
	_a_n=$1 _a_ca=$2 _a_c=$3 _a_kid=$4 _a_ser=$5 _a_from=$6
	_a_mark=$(lines "$SSHD_LOG")
	login "$_a_c" "$_a_from"
	expect "$_a_n: ssh logs in" 0 jit-ok @any
	log_check "$_a_n: sshd logs the accepted certificate" "$_a_mark" \
		"Accepted certificate ID \"$_a_kid\" (serial $_a_ser) signed by $(label "$_a_ca.pub") CA $(fp "$_a_ca.pub") via $T_DIR/trusted.pub" \
		"Accepted publickey for $U from $_a_from port @N@ ssh2: $(cert_line "$_a_ca.pub" "$_a_kid" "$_a_ser")"
	run "$JIT_CA" verify -c "$_a_ca.pub" -n "$U" --from "$_a_from" "$_a_c"
	expect "$_a_n: jit-ca verify agrees" 0 "$_a_c: ok" ''
}

# refused NAME CA CERT KEY_ID SERIAL FROM JIT_REASON SSHD_LINE...: ssh is
# refused; sshd logs each SSHD_LINE, the failed certificate (signed by CA)
# and no accepted login; jit-ca verify against the trusted Ed25519 CA
# refuses with JIT_REASON.
refused() {
	_r_n=$1 _r_ca=$2 _r_c=$3 _r_kid=$4 _r_ser=$5 _r_from=$6 _r_why=$7
	shift 7
	_r_mark=$(lines "$SSHD_LOG")
	login "$_r_c" "$_r_from"
	expect "$_r_n: ssh refused" 255 '' \
		"@has:$U@127.0.0.1: Permission denied (publickey"
	log_check "$_r_n: sshd logs the reason" "$_r_mark" "$@" \
		"Failed publickey for $U from $_r_from port @N@ ssh2: $(cert_line "$_r_ca.pub" "$_r_kid" "$_r_ser")" \
		"Connection closed by authenticating user $U $_r_from port @N@ [preauth]"
	no_login "$_r_n: sshd accepts no login" "$_r_mark"
	run "$JIT_CA" verify -c ca_ed25519.pub -n "$U" --from "$_r_from" "$_r_c"
	expect "$_r_n: jit-ca verify agrees" 1 '' "jit-ca: $_r_c: $_r_why"
}

# Valid certificates from each CA type log in.
if sign_cert valid-cert.pub ca_ed25519 login-valid 101 "ops,$U" -1m:+5m; then
	accepted "valid (Ed25519 CA)" ca_ed25519 valid-cert.pub login-valid 101 \
		127.0.0.1
fi
if sign_cert ecdsa-cert.pub ca_ecdsa login-ecdsa 102 "$U" -1m:+5m; then
	accepted "valid (ECDSA P-384 CA)" ca_ecdsa ecdsa-cert.pub login-ecdsa \
		102 127.0.0.1
fi
if sign_cert rsa-cert.pub ca_rsa login-rsa 103 "$U" -1m:+5m; then
	accepted "valid (RSA CA, rsa-sha2-512)" ca_rsa rsa-cert.pub login-rsa \
		103 127.0.0.1
fi

# sshd runs the certificate's force-command instead of the client's.
if sign_cert forced-cert.pub ca_ed25519 login-forced 104 "$U" -1m:+5m \
	-O 'force-command=echo forced-by-cert'; then
	login forced-cert.pub 127.0.0.1
	expect "force-command: sshd runs the certificate's command" 0 \
		forced-by-cert @any
fi

if sign_cert expired-cert.pub ca_ed25519 login-expired 105 "$U" \
	20200101:20200102; then
	refused "expired" ca_ed25519 expired-cert.pub login-expired 105 \
		127.0.0.1 "certificate has expired" "Certificate invalid: expired"
fi

if sign_cert future-cert.pub ca_ed25519 login-future 106 "$U" \
	20400101:20400102; then
	refused "not yet valid" ca_ed25519 future-cert.pub login-future 106 \
		127.0.0.1 "certificate is not yet valid" \
		"Certificate invalid: not yet valid"
fi

if sign_cert principal-cert.pub ca_ed25519 login-principal 107 \
	"not-$U,deploy" -1m:+5m; then
	refused "wrong principal" ca_ed25519 principal-cert.pub login-principal \
		107 127.0.0.1 "principal not in certificate" \
		"Certificate invalid: name is not a listed principal"
fi

if sign_cert src-cert.pub ca_ed25519 login-src 108 "$U" -1m:+5m \
	-O source-address=10.9.8.7/32; then
	refused "source-address 10.9.8.7/32" ca_ed25519 src-cert.pub login-src \
		108 127.0.0.1 "source address not allowed by certificate" \
		"cert: Authentication tried for $U with valid certificate but not from a permitted source address (127.0.0.1)." \
		"Refused by certificate options"
fi

if sign_cert lo-cert.pub ca_ed25519 login-lo 109 "$U" -1m:+5m \
	-O source-address=127.0.0.1/32; then
	accepted "source-address 127.0.0.1/32 from 127.0.0.1" ca_ed25519 \
		lo-cert.pub login-lo 109 127.0.0.1
	refused "source-address 127.0.0.1/32 from 127.0.0.2" ca_ed25519 \
		lo-cert.pub login-lo 109 127.0.0.2 \
		"source address not allowed by certificate" \
		"cert: Authentication tried for $U with valid certificate but not from a permitted source address (127.0.0.2)." \
		"Refused by certificate options"
fi

# A tampered key ID breaks the CA signature. ssh checks that signature
# itself and does not even offer the certificate; the libssh client sends it
# and sshd refuses it on the signature.
if sign_cert tamper-src-cert.pub ca_ed25519 login-tamper-me 110 "$U" \
	-1m:+5m; then
	tamper_cert tamper-src-cert.pub login-tamper-me tampered-cert.pub
	mark=$(lines "$SSHD_LOG")
	login tampered-cert.pub 127.0.0.1
	expect "tampered: ssh refused" 255 '' \
		"@has:$U@127.0.0.1: Permission denied (publickey"
	log_check "tampered: ssh offers only the plain key" "$mark" \
		"Failed publickey for $U from 127.0.0.1 port @N@ ssh2: ED25519 $UFP" \
		"Connection closed by authenticating user $U 127.0.0.1 port @N@ [preauth]"
	if tail -n +$((mark + 1)) "$SSHD_LOG" | grep -q CERT; then
		t_fail "tampered: ssh does not send the certificate" \
			"$(tail -n +$((mark + 1)) "$SSHD_LOG" | grep CERT)"
	else
		t_pass "tampered: ssh does not send the certificate"
	fi
	if [ -x "$CLIENT" ]; then
		sshd_alive
		run "$CLIENT" -p "$SSHD_PORT" -l "$U" 127.0.0.1 user \
			tamper-src-cert.pub
		expect "tampered: libssh client logs in with the original" 0 \
			authenticated ''
		mark=$(lines "$SSHD_LOG")
		run "$CLIENT" -p "$SSHD_PORT" -l "$U" 127.0.0.1 user \
			tampered-cert.pub
		expect "tampered: libssh client refused" 1 refused ''
		log_check "tampered: sshd refuses the signature" "$mark" \
			"userauth_pubkey: parse key: incorrect signature [preauth]"
		no_login "tampered: sshd accepts no login" "$mark"
	else
		t_fail "tampered: JIT_CERT_CLIENT names the libssh client" \
			"JIT_CERT_CLIENT='$CLIENT'"
	fi
	run "$JIT_CA" verify -c ca_ed25519.pub -n "$U" --from 127.0.0.1 \
		tampered-cert.pub
	expect "tampered: jit-ca verify agrees" 1 '' \
		"jit-ca: tampered-cert.pub: incorrect signature"
fi
sshd_stop

# Signed by a CA sshd does not trust: sshd names the CA only at DEBUG2, so
# this case has an sshd of its own.
sshd_start debug DEBUG2 "$T_DIR/trusted.pub"
if sign_cert other-cert.pub ca_other login-other 111 "$U" -1m:+5m; then
	refused "another CA" ca_other other-cert.pub login-other 111 127.0.0.1 \
		"certificate is not signed by the given CA" \
		"debug2: user_cert_trusted_ca: CA ED25519 $(fp ca_other.pub) is not listed in $T_DIR/trusted.pub: key not found"
	run "$JIT_CA" verify -c ca_other.pub -n "$U" --from 127.0.0.1 \
		other-cert.pub
	expect "another CA: jit-ca verify accepts it with its own CA" 0 \
		"other-cert.pub: ok" ''
fi
sshd_stop

t_summary
