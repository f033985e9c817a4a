# A real ssh logs in to a real sshd through an agent built on the ssh-agent
# codec (interop_test_agent, standing in for jit-agent): plain ssh, no key
# file, offers the certificate the agent lists; the agent refuses ssh's
# session-bind extension and ssh goes on; removal and locking are refused.

. "$TESTS_DIR/lib.sh"
t_need /usr/sbin/sshd ssh ssh-keygen ssh-add

AGENT=${JIT_TEST_AGENT:-}
if [ -z "$AGENT" ] || [ ! -x "$AGENT" ]; then
	t_bail "JIT_TEST_AGENT must name the built test agent"
fi

cd "$T_DIR" || t_bail "cd $T_DIR"
U=$(id -un)

ssh-keygen -q -N '' -t ed25519 -f hostkey || t_bail "ssh-keygen hostkey"
ssh-keygen -q -N '' -t ed25519 -C ca -f ca || t_bail "ssh-keygen ca"

sshd_start main VERBOSE "$T_DIR/ca.pub"

"$AGENT" "$T_DIR/agent.sock" "$T_DIR/ca" "$U" "$T_DIR/agent.log" \
	>"$T_DIR/cert.pub" 2>"$T_DIR/agent.err" </dev/null &
AGENT_PID=$!
T_PIDS="$T_PIDS $AGENT_PID"
i=0
while [ ! -s "$T_DIR/cert.pub" ] && [ $i -lt 50 ]; do
	kill -0 "$AGENT_PID" 2>/dev/null || break
	sleep 0.1
	i=$((i + 1))
done
[ -s "$T_DIR/cert.pub" ] || t_bail "test agent did not start: $(cat "$T_DIR/agent.err")"

export SSH_AUTH_SOCK="$T_DIR/agent.sock"
KFP=$(fp cert.pub)
CAFP=$(fp ca.pub)

# agent_log_is NAME EXPECTED: the agent's request log since the last call.
agent_log_is() {
	assert_eq "$1" "$2" "$(cat "$T_DIR/agent.log")"
	: >"$T_DIR/agent.log"
}

run ssh-add -l
expect "ssh-add -l lists the certificate" 0 "256 $KFP jit CHG-1001 (ED25519-CERT)" ''
agent_log_is "ssh-add -l: one listing" "request-identities -> identities-answer"

mark=$(lines "$SSHD_LOG")
run_ssh ssh -F /dev/null -vv -o IdentitiesOnly=no -o BatchMode=yes \
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o ConnectTimeout=10 -p "$SSHD_PORT" "$U@127.0.0.1" echo jit-ok
expect "plain ssh logs in through the agent" 0 jit-ok \
	"@has:ssh_agent_bind_hostkey: agent refused operation"
if wait_log "$SSHD_LOG" "$mark" \
	"Accepted publickey for $U from 127.0.0.1 port @N@ ssh2: ED25519-CERT $KFP ID jit-agent-test (serial 1001) CA ED25519 $CAFP"; then
	t_pass "sshd accepts the agent's certificate"
else
	t_fail "sshd accepts the agent's certificate" \
		"$(tail -n +$((mark + 1)) "$SSHD_LOG" | head -c 3000)"
fi
agent_log_is "ssh: session-bind refused, certificate listed and used" \
	"extension session-bind@openssh.com -> failure
request-identities -> identities-answer
sign-request certificate -> sign-response"

run ssh-add -D
expect "ssh-add -D is refused" 1 '' 'Failed to remove all identities.'
# ssh-add also sends the legacy protocol-1 remove-all (9).
agent_log_is "ssh-add -D: both removals refused" "remove-all-identities (19) -> failure
unknown (9) -> failure"

printf '#!/bin/sh\necho lockpw\n' >"$T_DIR/askpass"
chmod 700 "$T_DIR/askpass"
run env SSH_ASKPASS="$T_DIR/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 ssh-add -x
expect "ssh-add -x is refused" 1 '' 'Failed to lock agent: agent refused operation'
agent_log_is "ssh-add -x: lock refused" "lock (22) -> failure"

run ssh-add -d cert.pub
expect "ssh-add -d is refused" 1 '' \
	'Could not remove identity "cert.pub": agent refused operation'
agent_log_is "ssh-add -d: removal refused" "remove-identity (18) -> failure"

run ssh-add -l
expect "still listed afterwards" 0 "256 $KFP jit CHG-1001 (ED25519-CERT)" ''

t_summary
