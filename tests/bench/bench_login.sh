# Login overhead with real OpenSSH on loopback: the median wall time of
# `ssh bastion true`, typed by the engineer's own ssh (the Ticket: prompt
# answered by an SSH_ASKPASS program), through four sshds started here, all
# the same /usr/sbin/sshd binary, the same host key, the same pam_wrapper
# preload, running at once on free loopback ports:
#
#   base     sshd_config identical to the bastion's (UsePAM yes,
#            AuthenticationMethods publickey,keyboard-interactive), but a
#            PAM service of pam_permit only: the same protocol steps, no
#            pam_jit. The reference for the overhead ratio.
#   jit10    the bastion: pam_jit.so for auth, account and session (ticket
#            prompt and check, config, jit-agent with its key and a
#            certificate from jit-ca serve); a tickets file of 10 entries.
#   jit100k  the same with a tickets file of 100,000 entries.
#   pubkey   for information: publickey only, UsePAM no.
#
# Then, for information, jit100k right after its tickets file was replaced
# (renamed over): at once, when every lookup walks the whole file, and 2 s
# later, the login that walks it once and writes the index beside it
# (tickets100k.conf.index) that the steady-state jit100k logins read.
#
# The ticket used sits at the end of both tickets files. Logins are
# interleaved (each round runs every arm once, in an order rotated per
# round) so that drift on a shared machine falls on all arms alike; before
# each login the previous session's processes (sshd children, jit-agent)
# are waited for. No pass/fail: medians, p90 and the ratios of one run.
#
#   bench_login.sh [-n LOGINS_PER_ARM] (default 30, or $BENCH_LOGINS)
#
# Needs root (users, sshd). Environment: JIT_CA, JIT_AGENT, PAM_JIT and
# TESTS_DIR (tests/interop, for lib.sh). Everything started here is stopped
# by pid on exit, the two accounts it created are removed.

. "$TESTS_DIR/lib.sh"
t_need ssh ssh-keygen /usr/sbin/sshd python3 setpriv useradd userdel

N=${BENCH_LOGINS:-30}
while getopts n: _o; do
	case "$_o" in
	n) N=$OPTARG ;;
	*)
		echo "usage: bench_login.sh [-n LOGINS_PER_ARM]" >&2
		exit 2
		;;
	esac
done
case "$N" in
'' | *[!0-9]*) t_bail "-n wants a number of logins" ;;
esac
[ "$N" -ge 3 ] || t_bail "-n wants at least 3 logins"

bastion_env
if [ "$(id -u)" -ne 0 ]; then
	echo "skip: needs root (accounts, sshd)"
	exit 77
fi
python3 -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1]).pam_sm_open_session' \
	"$PAM_JIT" 2>/dev/null || t_bail "$PAM_JIT has no session stage"

cd "$T_DIR" || t_bail "cd $T_DIR"
chmod 0711 "$T_DIR"

SVC_USER=jitbench-ca
LU=jitbench
CREATED_USERS=""
LUID=""

# Session leftovers by pid: jit-agents started with one of our configs.
bench_agents() {
	for _c in /proc/[0-9]*/cmdline; do
		{ tr '\0' ' ' <"$_c"; } 2>/dev/null | grep -qF -- "--config $T_DIR/" || continue
		_p=${_c#/proc/}
		printf '%s ' "${_p%/cmdline}"
	done
}

bench_cleanup() {
	_bc_ag=$(bench_agents)
	for _p in $_bc_ag; do
		kill "$_p" 2>/dev/null
	done
	t_cleanup
	for _pd in /tmp/pam.*; do
		[ -d "$_pd" ] || continue
		grep -rqsF "$T_DIR/" "$_pd" 2>/dev/null && rm -rf "$_pd"
	done
	[ -n "$LUID" ] && rm -rf "/run/jit/$LUID"
	for _u in $CREATED_USERS; do
		# Session processes of the account may take a moment to go.
		_bc_i=0
		while [ $_bc_i -lt 50 ] && ! userdel "$_u" 2>/dev/null; do
			sleep 0.1
			_bc_i=$((_bc_i + 1))
		done
	done
}
trap bench_cleanup EXIT

for _u in "$SVC_USER" "$LU"; do
	id "$_u" >/dev/null 2>&1 && t_bail "account $_u exists: remove it or run elsewhere"
done
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	"$SVC_USER" || t_bail "useradd $SVC_USER"
CREATED_USERS="$SVC_USER"
# "*": no password, but not a locked account for sshd.
useradd --no-create-home --home-dir / --shell /bin/sh -p '*' "$LU" || t_bail "useradd $LU"
CREATED_USERS="$LU $CREATED_USERS"
LUID=$(id -u "$LU")

SOCK="$T_DIR/run/ca.sock"
mkdir -p svc svc/state run pam keys authkeys bin || t_bail "mkdir"
run "$JIT_CA" init -f svc/ca
[ "$T_RC" -eq 0 ] || t_bail "jit-ca init: $T_ERR"
chmod 0644 svc/ca.pub
chown -R "$SVC_USER:" svc run || t_bail "chown"
chmod 0700 svc/state
chmod 0755 svc run keys
ssh-keygen -q -N '' -t ed25519 -f hostkey || t_bail "ssh-keygen hostkey"
ssh-keygen -q -N '' -t ed25519 -C jitbench-own -f keys/user || t_bail "ssh-keygen user"
chown "$LU:" keys/user keys/user.pub
cp keys/user.pub "authkeys/$LU"
chmod 0644 "authkeys/$LU"

NOW=$(date -u +%s)
iso() {
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}
NB=$(iso $((NOW - 600)))
NA=$(iso $((NOW + 86400)))
TICKET=CHG-BENCH-1

# tickets_file N OUT: N entries, the last one the engineer's ticket; the
# others are like it, for other users.
tickets_file() {
	python3 - "$1" "$2" "$LU" "$TICKET" "$NB" "$NA" <<'EOF' || t_bail "tickets file $2"
import sys
n, out, user, ticket, nb, na = int(sys.argv[1]), sys.argv[2], *sys.argv[3:]
entry = ('  {{ id = "{}"; state = "{}"; users = [ "{}" ]; groups = [ ];\n'
         '    principals = [ "{}", "deploy" ]; not_before = "{}"; not_after = "{}"; }}')
with open(out, "w") as f:
    f.write("tickets = (\n")
    for i in range(n - 1):
        u = "user%u" % (i % 1000)
        f.write(entry.format("CHG-%06u" % i, "pending" if i % 7 == 0 else "approved",
                             u, u, nb, na) + ",\n")
    f.write(entry.format(ticket, "approved", user, user, nb, na)
            .replace(', "deploy"', "") + "\n);\n")
EOF
	chmod 0644 "$2"
}
tickets_file 10 tickets10.conf
tickets_file 100000 tickets100k.conf

# jit_conf TICKETS OUT
jit_conf() {
	cat >"$2" <<EOF
ca = {
  endpoints = [ "unix:$SOCK" ];
  timeout = "5s";
  key = "$T_DIR/svc/ca";
  listen = [ "unix:$SOCK" ];
  state_dir = "$T_DIR/svc/state";
  audit_log = "$T_DIR/svc/audit.jsonl";
  max_validity = "10m";
  requesters = ( { name = "bastion-1"; unix_users = [ "root" ];
                   principals = [ "$LU" ]; max_validity = "10m";
                   source_address = "127.0.0.1/32"; } );
};
tickets = { backend = "file"; file = "$T_DIR/$1"; };
certificates = { validity = "5m"; extensions = [ "permit-pty" ];
                 source_address = "127.0.0.1/32"; };
windows = { };
EOF
	chmod 0644 "$2"
}
jit_conf tickets10.conf jit10.conf
jit_conf tickets100k.conf jit100k.conf

: >serve.log
setpriv --reuid="$SVC_USER" --regid="$SVC_USER" --init-groups -- \
	"$JIT_CA" serve -c "$T_DIR/jit10.conf" 2>>serve.log </dev/null &
SVC_PID=$!
T_PIDS="$T_PIDS $SVC_PID"
_i=0
until grep -q 'event=started' serve.log && [ -S "$SOCK" ]; do
	kill -0 "$SVC_PID" 2>/dev/null && [ $_i -lt 100 ] ||
		t_bail "jit-ca serve did not start: $(head -c 2000 serve.log)"
	sleep 0.1
	_i=$((_i + 1))
done

# PAM services: sshd's program name is the service name.
for _a in jit10 jit100k; do
	cat >"pam/sshd-$_a" <<EOF
auth required $PAM_JIT config=$T_DIR/$_a.conf
account required $PAM_JIT config=$T_DIR/$_a.conf
password required pam_deny.so
session required $PAM_JIT config=$T_DIR/$_a.conf agent=$AGENT
EOF
done
cat >pam/sshd-base <<EOF
auth required pam_permit.so
account required pam_permit.so
password required pam_deny.so
session required pam_permit.so
EOF
cp pam/sshd-base pam/sshd-pubkey
cat >pam/other <<EOF
auth required pam_deny.so
account required pam_deny.so
password required pam_deny.so
session required pam_deny.so
EOF

USED_PORTS=""
SSHD_PIDS=""
# bench_sshd ARM: that arm's sshd on a free loopback port; sets PORT_<ARM>.
bench_sshd() {
	ln -sf /usr/sbin/sshd "$T_DIR/bin/sshd-$1"
	if [ "$1" = pubkey ]; then
		_methods="UsePAM no
AuthenticationMethods publickey"
	else
		_methods="UsePAM yes
KbdInteractiveAuthentication yes
AuthenticationMethods publickey,keyboard-interactive"
	fi
	_try=0
	while [ $_try -lt 5 ]; do
		_try=$((_try + 1))
		_port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		case " $USED_PORTS " in *" $_port "*) continue ;; esac
		cat >"$1.sshd_config" <<EOF
Port $_port
ListenAddress 127.0.0.1
HostKey $T_DIR/hostkey
PidFile $T_DIR/$1.pid
AuthorizedKeysFile $T_DIR/authkeys/%u
StrictModes no
$_methods
PasswordAuthentication no
ExposeAuthInfo yes
PermitRootLogin no
AllowAgentForwarding no
LogLevel INFO
EOF
		: >"$1.log"
		LD_PRELOAD="$PAM_WRAPPER_LIB" PAM_WRAPPER=1 \
			PAM_WRAPPER_SERVICE_DIR="$T_DIR/pam" \
			"$T_DIR/bin/sshd-$1" -D -e -f "$T_DIR/$1.sshd_config" \
			2>"$1.log" </dev/null &
		_pid=$!
		T_PIDS="$T_PIDS $_pid"
		_i=0
		while [ $_i -lt 100 ]; do
			if log_has "$1.log" 0 "Server listening on 127.0.0.1 port $_port."; then
				USED_PORTS="$USED_PORTS $_port"
				SSHD_PIDS="$SSHD_PIDS $_pid"
				eval "PORT_$1=\$_port"
				return 0
			fi
			kill -0 "$_pid" 2>/dev/null || break
			sleep 0.1
			_i=$((_i + 1))
		done
		kill "$_pid" 2>/dev/null
		wait "$_pid" 2>/dev/null
		grep -q 'Address already in use' "$1.log" && continue
		t_bail "sshd $1 did not start: $(head -c 2000 "$1.log")"
	done
	t_bail "sshd $1 found no free port in 5 tries"
}
mkdir -p /run/sshd || t_bail "cannot create /run/sshd"
for _a in base jit10 jit100k pubkey; do
	bench_sshd "$_a"
done

cat >askpass <<EOF
#!/bin/sh
case "\$1" in
*Ticket:*) echo $TICKET ;;
*) exit 1 ;;
esac
EOF
chmod 0755 askpass

echo "bench_login: $N logins per arm, interleaved; ticket $TICKET at the end of each file"
echo "  tickets10.conf $(wc -c <tickets10.conf) bytes, tickets100k.conf $(wc -c <tickets100k.conf) bytes"
echo "  baseline \"base\": the same sshd binary and sshd_config (UsePAM yes,"
echo "  AuthenticationMethods publickey,keyboard-interactive), PAM service pam_permit"
echo "  instead of pam_jit; \"pubkey\" (publickey only, UsePAM no) for information"

# The loop, timed in one process (monotonic clock, around ssh alone).
python3 - "$N" "$T_DIR" "$LU" "$SSHD_PIDS" "base:$PORT_base" "jit10:$PORT_jit10" \
	"jit100k:$PORT_jit100k" "pubkey:$PORT_pubkey" <<'EOF'
import os, subprocess, sys, time

n, tdir, user, listeners = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split()
arms = [a.split(":") for a in sys.argv[5:]]
env = {"PATH": "/usr/bin:/bin", "HOME": "/", "LC_ALL": "C",
       "SSH_ASKPASS": tdir + "/askpass", "SSH_ASKPASS_REQUIRE": "force"}

def argv(port):
    return ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups", "--",
            "ssh", "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-i", tdir + "/keys/user", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "NumberOfPasswordPrompts=1",
            "-o", "ConnectTimeout=10", "-p", port, user + "@127.0.0.1", "true"]

def leftovers():
    # Session processes of our sshds (their children) and our jit-agents.
    left = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid in listeners or (b"--config\0" + tdir.encode() + b"/") in cmd:
            left.append(p)
    return left

def quiesce():
    deadline = time.monotonic() + 10
    while leftovers():
        if time.monotonic() > deadline:
            sys.exit("Bail out! session processes still running: %s" % leftovers())
        time.sleep(0.01)

def login(name, port):
    quiesce()
    t = time.monotonic()
    p = subprocess.run(argv(port), env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t
    err = p.stderr.decode(errors="replace")
    granted = "Access granted for ticket" in err
    if p.returncode != 0 or p.stdout or granted != name.startswith("jit"):
        sys.exit("Bail out! login %s: exit %d, stdout %r, stderr %r" %
                 (name, p.returncode, p.stdout, err[-2000:]))
    return dt * 1000.0

big = tdir + "/tickets100k.conf"
port100k = dict(arms)["jit100k"]

def settle(path):
    # pam_jit indexes a tickets file only once it is 2 s unchanged.
    age = time.time() - os.stat(path).st_ctime
    if age < 2.5:
        time.sleep(2.5 - age)

def replace(path):
    # As an export job would: a new file renamed over the old one.
    with open(path, "rb") as f, open(path + ".new", "wb") as g:
        g.write(f.read())
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)

times = {name: [] for name, _ in arms}
settle(big)
for name, port in arms:  # warm-up, not counted; indexes the big file
    login(name, port)
for r in range(n):
    for i in range(len(arms)):
        name, port = arms[(r + i) % len(arms)]
        times[name].append(login(name, port))
quiesce()
# The 100,000 entries just replaced: every lookup walks the file (no index
# for a file changed in the last 2 s); and 2 s later, the login whose auth
# stage walks it and writes the index that the account stage and the agent
# then read.
k = min(n, 10)
times["jit100k-walk"] = []
times["jit100k-first"] = []
for r in range(k):
    replace(big)
    times["jit100k-walk"].append(login("jit100k", port100k))
    replace(big)
    settle(big)
    times["jit100k-first"].append(login("jit100k", port100k))
quiesce()

def median(v):
    s = sorted(v)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2

def p90(v):
    s = sorted(v)
    return s[max(0, -(-9 * len(s) // 10) - 1)]

print("%-14s %4s %10s %10s %10s %10s" % ("arm", "n", "median ms", "p90 ms", "min ms", "max ms"))
for name in times:
    v = times[name]
    print("%-14s %4d %10.1f %10.1f %10.1f %10.1f"
          % (name, len(v), median(v), p90(v), min(v), max(v)))
med = {name: median(times[name]) for name, _ in arms}
print("ratio overhead  jit10/base     %.3f (target <= 1.05)" % (med["jit10"] / med["base"]))
print("ratio tickets   jit100k/jit10  %.3f (target <= 1.05)" % (med["jit100k"] / med["jit10"]))
print("ratio info      base/pubkey    %.3f (PAM and keyboard-interactive themselves)"
      % (med["base"] / med["pubkey"]))
print("added by pam_jit: %.1f ms per login; by 100,000 tickets: %.1f ms"
      % (med["jit10"] - med["base"], med["jit100k"] - med["jit10"]))
print("100,000 tickets just replaced (informational, %d each): no index %.3f, "
      "the login writing it %.3f (x jit10)" % (k, median(times["jit100k-walk"]) / med["jit10"],
                                              median(times["jit100k-first"]) / med["jit10"]))
EOF
_rc=$?
[ "$(bench_agents)" = "" ] || echo "# jit-agents left after the run: $(bench_agents)"
exit $_rc
