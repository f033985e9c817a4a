# ssh-keygen reads certificates that jit-ca signs: every subject key type
# under every CA key type (CA keys from jit-ca init and from ssh-keygen),
# with the exact fields ssh-keygen -L prints; and jit-ca inspect prints the
# same text as ssh-keygen -L.

. "$TESTS_DIR/lib.sh"
t_need ssh-keygen base64 od

cd "$T_DIR" || t_bail "cd $T_DIR"

DEF_EXT='permit-X11-forwarding
permit-agent-forwarding
permit-port-forwarding
permit-pty
permit-user-rc'
ABS_V=20300101:20300102
ABS_VALID='from 2030-01-01T00:00:00 to 2030-01-02T00:00:00'

# section TITLE LINES: one section of ssh-keygen -L output.
section() {
	if [ -z "$2" ]; then
		printf '        %s: (none)\n' "$1"
	else
		printf '        %s: \n' "$1"
		printf '%s\n' "$2" | sed 's/^/                /'
	fi
}

# expected_L OUT CERT CERT_TYPE PUBLIC_KEY SIGNING_CA KEY_ID SERIAL VALID
#            PRINCIPALS CRITICAL EXTENSIONS
# PRINCIPALS is comma-separated; CRITICAL and EXTENSIONS are one line each.
expected_L() {
	{
		printf '%s:\n' "$2"
		printf '        Type: %s user certificate\n' "$3"
		printf '        Public key: %s\n' "$4"
		printf '        Signing CA: %s\n' "$5"
		printf '        Key ID: "%s"\n' "$6"
		printf '        Serial: %s\n' "$7"
		printf '        Valid: %s\n' "$8"
		printf '        Principals: \n'
		printf '%s\n' "$9" | tr , '\n' | sed 's/^/                /'
		section 'Critical Options' "${10}"
		section 'Extensions' "${11}"
	} >"$1"
}

# Subject keys: NAME CERT_TYPE LABEL (ssh-keygen -t/-b from the name).
SUBJECTS='ed25519 ssh-ed25519-cert-v01@openssh.com ED25519
ecdsa256 ecdsa-sha2-nistp256-cert-v01@openssh.com ECDSA
ecdsa384 ecdsa-sha2-nistp384-cert-v01@openssh.com ECDSA
ecdsa521 ecdsa-sha2-nistp521-cert-v01@openssh.com ECDSA
rsa2048 ssh-rsa-cert-v01@openssh.com RSA
rsa3072 ssh-rsa-cert-v01@openssh.com RSA
sked25519 sk-ssh-ed25519-cert-v01@openssh.com ED25519-SK
skecdsa sk-ecdsa-sha2-nistp256-cert-v01@openssh.com ECDSA-SK'

# CA keys: NAME LABEL SIGNATURE_ALGORITHM; j_ from jit-ca, k_ from ssh-keygen.
CAS='ed25519 ED25519 ssh-ed25519
ecdsa256 ECDSA ecdsa-sha2-nistp256
ecdsa384 ECDSA ecdsa-sha2-nistp384
ecdsa521 ECDSA ecdsa-sha2-nistp521
rsa3072 RSA rsa-sha2-512'

# keygen_args NAME: ssh-keygen / jit-ca init -t and -b for a key name.
keygen_args() {
	case "$1" in
	ed25519) echo "-t ed25519" ;;
	ecdsa*) echo "-t ecdsa -b ${1#ecdsa}" ;;
	rsa*) echo "-t rsa -b ${1#rsa}" ;;
	esac
}

# init_bits NAME: the key size ssh-keygen -l reports.
init_bits() {
	case "$1" in
	ed25519) echo 256 ;;
	ecdsa*) echo "${1#ecdsa}" ;;
	rsa*) echo "${1#rsa}" ;;
	esac
}

mkdir subj ca certs

for c in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa3072; do
	# shellcheck disable=SC2046 # word splitting of the key arguments
	ssh-keygen -q -N '' -C "k_$c" $(keygen_args "$c") -f "ca/k_$c" ||
		t_bail "ssh-keygen CA $c"
done
for s in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa2048; do
	# shellcheck disable=SC2046
	ssh-keygen -q -N '' -C "subj-$s" $(keygen_args $s) -f "subj/$s" ||
		t_bail "ssh-keygen $s"
done
# RSA key generation is slow: the 3072-bit subject is the CA's public key.
cp ca/k_rsa3072.pub subj/rsa3072.pub
make_sk_ed25519 subj/ed25519.pub subj/sked25519.pub
make_sk_ecdsa subj/ecdsa256.pub subj/skecdsa.pub
check "ssh-keygen reads the hand-made sk-ssh-ed25519 key" \
	ssh-keygen -l -f subj/sked25519.pub
check "ssh-keygen reads the hand-made sk-ecdsa-sha2-nistp256 key" \
	ssh-keygen -l -f subj/skecdsa.pub
# Fingerprints once, read back with the read builtin in the loops.
for s in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa2048 rsa3072 sked25519 skecdsa; do
	fp "subj/$s.pub" >"subj/$s.fp"
done

# jit-ca init: every CA type; the private key is 0600, ssh-keygen reads both
# halves and they match.
for c in ed25519 ecdsa256 ecdsa384 ecdsa521 rsa3072; do
	case "$c" in
	ed25519) label=ED25519 ;;
	ecdsa*) label=ECDSA ;;
	rsa*) label=RSA ;;
	esac
	# shellcheck disable=SC2046
	run "$JIT_CA" init -f "ca/j_$c" $(keygen_args "$c")
	expect "jit-ca init $c: exit 0" 0 @any @any
	if [ ! -f "ca/j_$c" ] || [ ! -f "ca/j_$c.pub" ]; then
		t_fail "jit-ca init $c: wrote the key files" "$T_ERR"
		continue
	fi
	assert_eq "jit-ca init $c: private key mode 600" 600 \
		"$(stat -c %a "ca/j_$c")"
	assert_eq "jit-ca init $c: ssh-keygen -l of the public key" \
		"$(init_bits "$c") ($label)" \
		"$(ssh-keygen -l -f "ca/j_$c.pub" | awk '{ print $1, $NF }')"
	if ssh-keygen -y -f "ca/j_$c" >"ca/j_$c.derived" 2>&1; then
		assert_eq "jit-ca init $c: ssh-keygen -y matches the .pub" \
			"$(awk '{ print $1, $2 }' "ca/j_$c.pub")" \
			"$(awk '{ print $1, $2 }' "ca/j_$c.derived")"
	else
		t_fail "jit-ca init $c: ssh-keygen -y reads the private key" \
			"$(cat "ca/j_$c.derived")"
	fi
done

# sign_ok NAME CERT ARGS...: jit-ca sign ARGS -o CERT must succeed.
sign_ok() {
	_so_name=$1 _so_cert=$2
	shift 2
	run "$JIT_CA" sign -o "$_so_cert" "$@"
	if [ "$T_RC" -ne 0 ] || [ ! -s "$_so_cert" ]; then
		t_fail "$_so_name: jit-ca sign" "exit $T_RC" "$T_ERR"
		return 1
	fi
	return 0
}

# check_cert NAME CERT EXPECTED_FILE: ssh-keygen -L prints exactly the
# expected text, and jit-ca inspect prints exactly what ssh-keygen -L does.
check_cert() {
	if keygen_L "$2" "$2.L"; then
		assert_files "$1: ssh-keygen -L fields" "$3" "$2.L"
	else
		t_fail "$1: ssh-keygen -L accepts it" "$(cat "$2.L")"
		return
	fi
	run "$JIT_CA" inspect "$2"
	if [ "$T_RC" -ne 0 ]; then
		t_fail "$1: jit-ca inspect = ssh-keygen -L" "exit $T_RC" "$T_ERR"
		return
	fi
	assert_files "$1: jit-ca inspect = ssh-keygen -L" "$2.L" "$T_DIR/run.out"
}

# The matrix: every subject type under every CA, jit-ca's and ssh-keygen's.
serial=1000
for maker in j k; do
	echo "$CAS" >"$T_DIR/cas.list"
	while read -r c clabel calg; do
		ca="ca/${maker}_$c"
		cafp=$(fp "$ca.pub")
		echo "$SUBJECTS" >"$T_DIR/subjects.list"
		while read -r s ctype slabel; do
			serial=$((serial + 1))
			name="${maker}_$c signs $s"
			cert="certs/$s.${maker}_$c-cert.pub"
			kid="id $s by ${maker}_$c"
			sign_ok "$name" "$cert" -s "$ca" -I "$kid" -z $serial \
				-n alice,bob -V $ABS_V "subj/$s.pub" || continue
			read -r sfp <"subj/$s.fp"
			expected_L "$cert.want" "$cert" "$ctype" "$slabel-CERT $sfp" \
				"$clabel $cafp (using $calg)" "$kid" $serial \
				"$ABS_VALID" alice,bob '' "$DEF_EXT"
			check_cert "$name" "$cert" "$cert.want"
		done <"$T_DIR/subjects.list"
	done <"$T_DIR/cas.list"
done

# Options and extensions under every CA, for an Ed25519 subject.
sfp="ED25519-CERT $(fp subj/ed25519.pub)"
sct=ssh-ed25519-cert-v01@openssh.com
for maker in j k; do
	echo "$CAS" >"$T_DIR/cas.list"
	while read -r c clabel calg; do
		ca="ca/${maker}_$c"
		caline="$clabel $(fp "$ca.pub") (using $calg)"
		base="certs/opt.${maker}_$c"

		name="${maker}_$c: critical options"
		if sign_ok "$name" "$base.crit-cert.pub" -s "$ca" -I crit-opts \
			-z 7 -n alice -V $ABS_V \
			-O 'force-command=/usr/bin/printf %s "hi there"' \
			-O source-address=10.0.0.0/8,127.0.0.1/32 \
			-O verify-required subj/ed25519.pub; then
			expected_L "$base.crit.want" "$base.crit-cert.pub" "$sct" \
				"$sfp" "$caline" crit-opts 7 "$ABS_VALID" alice \
				'force-command /usr/bin/printf %s "hi there"
source-address 10.0.0.0/8,127.0.0.1/32
verify-required' "$DEF_EXT"
			check_cert "$name" "$base.crit-cert.pub" "$base.crit.want"
		fi

		name="${maker}_$c: clear + permit-pty"
		if sign_ok "$name" "$base.pty-cert.pub" -s "$ca" -I pty-only \
			-z 8 -n alice -V $ABS_V -O clear -O permit-pty \
			subj/ed25519.pub; then
			expected_L "$base.pty.want" "$base.pty-cert.pub" "$sct" \
				"$sfp" "$caline" pty-only 8 "$ABS_VALID" alice '' \
				permit-pty
			check_cert "$name" "$base.pty-cert.pub" "$base.pty.want"
		fi

		name="${maker}_$c: custom extension"
		if sign_ok "$name" "$base.ext-cert.pub" -s "$ca" -I custom-ext \
			-z 9 -n alice -V $ABS_V \
			-O extension:login@example.com=alice subj/ed25519.pub; then
			expected_L "$base.ext.want" "$base.ext-cert.pub" "$sct" \
				"$sfp" "$caline" custom-ext 9 "$ABS_VALID" alice '' \
				"login@example.com UNKNOWN OPTION: 00000005616c696365 (len 9)
$DEF_EXT"
			check_cert "$name" "$base.ext-cert.pub" "$base.ext.want"
		fi
	done <"$T_DIR/cas.list"
done

# More option forms, under the jit-ca Ed25519 CA.
ca=ca/j_ed25519
caline="ED25519 $(fp $ca.pub) (using ssh-ed25519)"

opt_case() { # NAME KEY_ID PRINCIPALS CRITICAL EXTENSIONS -O...
	_oc_oname=$1 _oc_kid=$2 _oc_pr=$3 _oc_crit=$4 _oc_ext=$5
	shift 5
	_oc_c="certs/more.$_oc_kid-cert.pub"
	sign_ok "$_oc_oname" "$_oc_c" -s $ca -I "$_oc_kid" -z 11 -n "$_oc_pr" -V $ABS_V \
		"$@" subj/ed25519.pub || return
	expected_L "$_oc_c.want" "$_oc_c" "$sct" "$sfp" "$caline" "$_oc_kid" 11 \
		"$ABS_VALID" "$_oc_pr" "$_oc_crit" "$_oc_ext"
	check_cert "$_oc_oname" "$_oc_c" "$_oc_c.want"
}
opt_case "clear only: no extensions" clear-only alice '' '' -O clear
opt_case "no-pty drops permit-pty" no-pty alice '' 'permit-X11-forwarding
permit-agent-forwarding
permit-port-forwarding
permit-user-rc' -O no-pty
opt_case "no-* leaves only permit-pty" no-all alice '' permit-pty \
	-O no-x11-forwarding -O no-agent-forwarding -O no-port-forwarding \
	-O no-user-rc
opt_case "clear + extensions, sorted" sorted alice '' \
	'aa@example.com UNKNOWN FLAG OPTION
permit-agent-forwarding
permit-pty
zz@example.com UNKNOWN OPTION: 0000000131 (len 5)' \
	-O clear -O extension:zz@example.com=1 -O permit-pty \
	-O extension:aa@example.com -O permit-agent-forwarding
opt_case "three principals, spaces in key ID" 'ticket CHG-1 for alice' \
	alice,deploy,root-ops '' "$DEF_EXT"

# The largest serial.
c=certs/maxserial-cert.pub
if sign_ok "largest serial" $c -s $ca -I maxserial \
	-z 18446744073709551615 -n alice -V $ABS_V subj/ed25519.pub; then
	expected_L $c.want $c "$sct" "$sfp" "$caline" maxserial \
		18446744073709551615 "$ABS_VALID" alice '' "$DEF_EXT"
	check_cert "largest serial" $c $c.want
fi

# Relative validity: -1m:+5m is [now - 60, now + 300].
valid_line() { sed -n 's/^        Valid: //p' "$1"; }
c=certs/relative-cert.pub
t0=$(date +%s)
if sign_ok "relative -V -1m:+5m" $c -s $ca -I relative -z 12 -n alice \
	-V -1m:+5m subj/ed25519.pub; then
	t1=$(date +%s)
	if keygen_L $c $c.L; then
		v=$(valid_line $c.L)
		from=$(echo "$v" | awk '$1 == "from" { print $2 }')
		to=$(echo "$v" | awk '$3 == "to" { print $4 }')
		if [ -n "$from" ] && [ -n "$to" ] &&
			fa=$(epoch "$from") && fb=$(epoch "$to") &&
			[ "$fa" -ge $((t0 - 60)) ] && [ "$fa" -le $((t1 - 60)) ] &&
			[ $((fb - fa)) -eq 360 ]; then
			t_pass "relative -V -1m:+5m: ssh-keygen -L validity"
		else
			t_fail "relative -V -1m:+5m: ssh-keygen -L validity" \
				"Valid: $v" "signed between $t0 and $t1"
		fi
		expected_L $c.want $c "$sct" "$sfp" "$caline" relative 12 "$v" \
			alice '' "$DEF_EXT"
		check_cert "relative -V -1m:+5m" $c $c.want
	else
		t_fail "relative -V -1m:+5m: ssh-keygen -L accepts it" "$(cat $c.L)"
	fi
fi

# Relative validity "+5m" alone: starts at most a few minutes back (clock
# skew allowance), ends five minutes from now.
c=certs/relative2-cert.pub
t0=$(date +%s)
if sign_ok "relative -V +5m" $c -s $ca -I relative2 -z 13 -n alice \
	-V +5m subj/ed25519.pub; then
	t1=$(date +%s)
	if keygen_L $c $c.L; then
		v=$(valid_line $c.L)
		from=$(echo "$v" | awk '$1 == "from" { print $2 }')
		to=$(echo "$v" | awk '$3 == "to" { print $4 }')
		if [ -n "$from" ] && [ -n "$to" ] &&
			fa=$(epoch "$from") && fb=$(epoch "$to") &&
			[ "$fa" -le "$t0" ] && [ "$fa" -ge $((t0 - 300)) ] &&
			[ "$fb" -ge $((t0 + 300)) ] && [ "$fb" -le $((t1 + 300)) ]; then
			t_pass "relative -V +5m: ssh-keygen -L validity"
		else
			t_fail "relative -V +5m: ssh-keygen -L validity" \
				"Valid: $v" "signed between $t0 and $t1"
		fi
		run "$JIT_CA" inspect $c
		assert_files "relative -V +5m: jit-ca inspect = ssh-keygen -L" \
			$c.L "$T_DIR/run.out"
	else
		t_fail "relative -V +5m: ssh-keygen -L accepts it" "$(cat $c.L)"
	fi
fi

# Every certificate carries a fresh nonce: two signatures of the same
# request differ, and both verify.
a=certs/nonce1-cert.pub b=certs/nonce2-cert.pub
if sign_ok "nonce 1" $a -s $ca -I same -z 1 -n alice -V $ABS_V \
	subj/ed25519.pub && sign_ok "nonce 2" $b -s $ca -I same -z 1 \
	-n alice -V $ABS_V subj/ed25519.pub; then
	if [ "$(awk '{ print $2 }' $a)" != "$(awk '{ print $2 }' $b)" ]; then
		t_pass "two signatures of one request differ (nonce)"
	else
		t_fail "two signatures of one request differ (nonce)"
	fi
fi

# A tampered jit-ca certificate is refused by ssh-keygen: the signature covers it.
c=certs/ed25519.j_ed25519-cert.pub
if [ -f $c ]; then
	tamper_cert $c "id ed25519 by j_ed25519" certs/tampered-cert.pub
	run_ssh ssh-keygen -L -f certs/tampered-cert.pub
	expect "ssh-keygen -L refuses a tampered jit-ca certificate" 1 @any \
		"certs/tampered-cert.pub:1: invalid key: incorrect signature"
fi

t_summary
