# jit-ca's command line: help, usage errors (exit 2), bad values and bad
# files (exit 3, naming the value or file), where certificates are written,
# and init's refusal to overwrite.

. "$TESTS_DIR/lib.sh"
t_need ssh-keygen base64 od

cd "$T_DIR" || t_bail "cd $T_DIR"

# Help: each command's --help exits 0 with its usage on stdout.
for cmd in init sign inspect verify; do
	run "$JIT_CA" $cmd --help
	expect "$cmd --help" 0 "@has:usage: jit-ca $cmd " ''
	run "$JIT_CA" help $cmd
	expect "help $cmd" 0 "@has:usage: jit-ca $cmd " ''
done
run "$JIT_CA" --help
expect "--help" 0 "@line1:usage: jit-ca COMMAND [OPTIONS] [ARGUMENTS]" ''
# --version: the version alone; a measurement build says so on a second line.
run "$JIT_CA" --version
if [ "${JIT_SIGN_SELF_CHECK:-1}" = 1 ]; then
	expect "--version" 0 "jit-ca ${JIT_VERSION:?}" ''
else
	expect "--version, measurement build" 0 "jit-ca ${JIT_VERSION:?}
measurement build: certificate signatures are not verified before they are returned (-Dsign_self_check=false)" ''
fi
run "$JIT_CA"
expect "no command: usage error" 2 '' "@has:usage: jit-ca"
run "$JIT_CA" frobnicate
expect "unknown command" 2 '' '@line1:jit-ca: unknown command "frobnicate"'

umask 077
run "$JIT_CA" init -f ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: exit $T_RC: $T_ERR"
ssh-keygen -q -N '' -t ed25519 -C subject -f k || t_bail "ssh-keygen"
mkdir d
cp k.pub d/k.pub
CERT_TYPE=ssh-ed25519-cert-v01@openssh.com

# no_file NAME FILE: a refused command left no certificate behind.
no_file() {
	if [ -e "$2" ]; then
		t_fail "$1: no certificate written" "$2 exists"
		rm -f "$2"
	else
		t_pass "$1: no certificate written"
	fi
}

# sign_refused NAME RC STDERR SIGN_ARGS...: jit-ca sign ... k.pub is refused.
sign_refused() {
	_sr_n=$1 _sr_rc=$2 _sr_e=$3
	shift 3
	run "$JIT_CA" sign "$@" k.pub
	expect "sign $_sr_n" "$_sr_rc" '' "$_sr_e"
	no_file "sign $_sr_n" k-cert.pub
}

V=20300101:20300102
BAD_OPTION="unknown, duplicate or unsorted certificate option"
sign_refused "without -V" 2 '@line1:jit-ca sign: -V VALIDITY is required' \
	-s ca -I id -n alice
sign_refused "without -I" 2 '@line1:jit-ca sign: -I KEY_ID is required' \
	-s ca -n alice -V $V
sign_refused "without -n" 2 '@line1:jit-ca sign: -n PRINCIPALS is required' \
	-s ca -I id -V $V
sign_refused "without -s" 2 '@line1:jit-ca sign: -s CA_KEY is required' \
	-I id -n alice -V $V
run "$JIT_CA" sign -s ca -I id -n alice -V $V
expect "sign without KEY.pub" 2 '' '@line1:jit-ca sign: KEY.pub is required'
sign_refused "unknown option -q" 2 '@line1:jit-ca sign: unknown option -q' \
	-s ca -I id -n alice -V $V -q
sign_refused "-V twice" 2 '@line1:jit-ca sign: option -V given twice' \
	-s ca -I id -n alice -V $V -V $V

sign_refused "-V +5x" 3 '@line1:jit-ca: validity "+5x": invalid time or duration' \
	-s ca -I id -n alice -V +5x
sign_refused "-V 20301301" 3 \
	'@line1:jit-ca: validity "20301301": invalid time or duration' \
	-s ca -I id -n alice -V 20301301
sign_refused "-V ending before it starts" 3 \
	'@line1:jit-ca: validity "20300102:20300101": invalid certificate validity interval' \
	-s ca -I id -n alice -V 20300102:20300101
sign_refused "-n ''" 3 '@line1:jit-ca: principals "": invalid argument' \
	-s ca -I id -n '' -V $V
sign_refused "-n alice,,bob" 3 \
	'@line1:jit-ca: principals "alice,,bob": invalid argument' \
	-s ca -I id -n alice,,bob -V $V
sign_refused "unknown -O option" 3 \
	"@line1:jit-ca: option \"bogus-option\": $BAD_OPTION" \
	-s ca -I id -n alice -V $V -O bogus-option
sign_refused "-O force-command without a command" 3 \
	"@line1:jit-ca: option \"force-command\": $BAD_OPTION" \
	-s ca -I id -n alice -V $V -O force-command
sign_refused "-O source-address not a CIDR" 3 \
	"@line1:jit-ca: option \"source-address=10.0.0.300/8\": $BAD_OPTION" \
	-s ca -I id -n alice -V $V -O source-address=10.0.0.300/8
sign_refused "-z abc" 3 '@line1:jit-ca: serial "abc": invalid format' \
	-s ca -I id -n alice -V $V -z abc
sign_refused "-z 2^64" 3 \
	'@line1:jit-ca: serial "18446744073709551616": invalid format' \
	-s ca -I id -n alice -V $V -z 18446744073709551616
sign_refused "empty key ID" 3 '@line1:jit-ca: key ID "": invalid argument' \
	-s ca -I '' -n alice -V $V
sign_refused "newline in the key ID" 3 \
	'@line1:jit-ca: key ID "a\x0ab": control character or invalid byte in text' \
	-s ca -I "$(printf 'a\nb')" -n alice -V $V
sign_refused "missing CA key" 3 \
	'@line1:jit-ca: no-such-ca: No such file or directory' \
	-s no-such-ca -I id -n alice -V $V
cp ca.pub pub-as-ca
sign_refused "public key as CA key" 3 '@line1:jit-ca: pub-as-ca: invalid format' \
	-s pub-as-ca -I id -n alice -V $V
run "$JIT_CA" sign -s ca -I id -n alice -V $V no-such-key.pub
expect "sign a missing KEY.pub" 3 '' \
	'@line1:jit-ca: no-such-key.pub: No such file or directory'
no_file "sign a missing KEY.pub" no-such-key-cert.pub
run "$JIT_CA" sign -s ca -I id -n alice -V $V k
expect "sign a private key as KEY.pub" 3 '' \
	'@line1:jit-ca: k: unknown or unsupported key type'
no_file "sign a private key as KEY.pub" k-cert.pub

# Where the certificate goes.
run "$JIT_CA" sign -s ca -I to-stdout -z 3 -n alice -V $V -o - k.pub
expect "sign -o -: exit 0" 0 "@has:$CERT_TYPE " @any
printf '%s\n' "$T_OUT" >stdout-cert.pub
assert_eq "sign -o -: one line on stdout" 1 "$(lines run.out)"
if keygen_L stdout-cert.pub stdout.L &&
	grep -qx '        Key ID: "to-stdout"' stdout.L; then
	t_pass "sign -o -: ssh-keygen -L reads stdout"
else
	t_fail "sign -o -: ssh-keygen -L reads stdout" "$(cat stdout.L)"
fi
no_file "sign -o -" k-cert.pub

run "$JIT_CA" sign -s ca -I default-path -z 5 -n alice,bob -V $V d/k.pub
expect "sign, default output: message as ssh-keygen's" 0 '' \
	'Signed user key d/k-cert.pub: id "default-path" serial 5 for alice,bob valid from 2030-01-01T00:00:00 to 2030-01-02T00:00:00'
if [ -f d/k-cert.pub ] && keygen_L d/k-cert.pub d.L &&
	grep -qx '        Key ID: "default-path"' d.L; then
	t_pass "sign, default output: KEY-cert.pub next to KEY.pub"
else
	t_fail "sign, default output: KEY-cert.pub next to KEY.pub" \
		"$(ls -l d)"
fi
assert_eq "sign, default output: comment kept" subject \
	"$(awk '{ print $3 }' d/k-cert.pub)"
no_file "sign, default output: nothing in the current directory" \
	k-cert.pub

run "$JIT_CA" sign -s ca -I named -n alice -V $V -o d/named.crt k.pub
expect "sign -o FILE" 0 '' @any
check "sign -o FILE: ssh-keygen -L reads it" keygen_L d/named.crt d/named.L

# init: mode 600 whatever the umask; never overwrites.
umask 000
run "$JIT_CA" init -f newca -t ecdsa
umask 077
expect "init: exit 0" 0 @any ''
assert_eq "init: private key mode 600 under umask 000" 600 \
	"$(stat -c %a newca 2>&1)"
check "init: ssh-keygen -y reads the private key" ssh-keygen -y -f newca
cp newca newca.orig
cp newca.pub newca.pub.orig
run "$JIT_CA" init -f newca
expect "init refuses an existing FILE" 3 '' '@line1:jit-ca: newca: File exists'
if cmp -s newca newca.orig && cmp -s newca.pub newca.pub.orig; then
	t_pass "init refuses an existing FILE: key files unchanged"
else
	t_fail "init refuses an existing FILE: key files unchanged"
fi
cp newca.pub lonely.pub
run "$JIT_CA" init -f lonely
expect "init refuses an existing FILE.pub" 3 '' \
	'@line1:jit-ca: lonely.pub: File exists'
if [ -e lonely ]; then
	t_fail "init refuses an existing FILE.pub: no private key left"
else
	t_pass "init refuses an existing FILE.pub: no private key left"
fi
run "$JIT_CA" init
expect "init without -f" 2 '' '@line1:jit-ca init: -f FILE is required'
run "$JIT_CA" init -f dsa -t dsa
expect "init -t dsa" 3 '' '@line1:jit-ca: -t "dsa": unknown or unsupported key type'
run "$JIT_CA" init -f rsa1024 -t rsa -b 1024
expect "init -t rsa -b 1024" 3 '' \
	'@line1:jit-ca: -b "1024": RSA key shorter than 2048 bits'
run "$JIT_CA" init -f ec300 -t ecdsa -b 300
expect "init -t ecdsa -b 300" 3 '' '@line1:jit-ca: -b "300": invalid key length'

# Bad certificate files: inspect and verify exit 3 and name the file.
run "$JIT_CA" sign -s ca -I good -n alice -V -1m:+5m -o good-cert.pub k.pub
[ "$T_RC" -eq 0 ] || t_bail "jit-ca sign good: $T_ERR"
pub_blob good-cert.pub good.blob
b64=$(awk '{ print $2 }' good-cert.pub)
# Whole base64 quanta, so the damage is in the blob, not the encoding.
printf '%s %s\n' $CERT_TYPE "$(printf '%s' "$b64" | cut -c 1-100)" \
	>truncated-cert.pub
{
	cat good.blob
	printf 'trailing'
} >trailing.blob
printf '%s %s\n' $CERT_TYPE "$(base64 -w0 trailing.blob)" >trailing-cert.pub
head -c 600 /dev/urandom >random-cert.pub
: >empty-cert.pub
printf '%s\n' "$b64" >notype-cert.pub

for f in truncated trailing random empty notype missing; do
	for cmd in inspect "inspect --json" "verify -c ca.pub -n alice"; do
		# shellcheck disable=SC2086 # the command's own words
		run "$JIT_CA" $cmd "$f-cert.pub"
		case $f in
		truncated) why="truncated data" ;;
		trailing) why="unexpected trailing data" ;;
		empty | notype) why="invalid format" ;;
		missing) why="No such file or directory" ;;
		esac
		want="@line1:jit-ca: $f-cert.pub: $why"
		# Random bytes fail on whatever comes first.
		[ $f = random ] && want="@has:jit-ca: $f-cert.pub: "
		expect "$cmd: $f certificate file" 3 '' "$want"
	done
done
run "$JIT_CA" verify -c ca.pub -n alice good-cert.pub
expect "verify: the undamaged certificate" 0 "good-cert.pub: ok" ''
run "$JIT_CA" verify -c no-such-ca.pub good-cert.pub
expect "verify: missing CA.pub" 3 '' \
	'@line1:jit-ca: no-such-ca.pub: No such file or directory'
run "$JIT_CA" verify -n alice good-cert.pub
expect "verify without -c" 2 '' '@line1:jit-ca verify: -c CA.pub is required'
run "$JIT_CA" verify -c ca.pub --at yesterday good-cert.pub
expect "verify --at unparseable" 3 '' \
	'@line1:jit-ca: time "yesterday": invalid time or duration'
run "$JIT_CA" verify -c ca.pub --from 300.1.1.1 good-cert.pub
expect "verify --from not an address" 3 '' \
	'@line1:jit-ca: address "300.1.1.1": invalid format'

# Standard input.
run sh -c '"$1" verify -c ca.pub -n alice - <good-cert.pub' sh "$JIT_CA"
expect "verify - reads standard input" 0 "-: ok" ''
run sh -c '"$1" inspect - <good-cert.pub' sh "$JIT_CA"
expect "inspect - reads standard input" 0 "@line1:(stdin):1:" ''

t_summary
