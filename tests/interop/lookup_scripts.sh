# The example ticket lookup programs (config/jira-lookup and
# config/servicenow-lookup) against a local stub: python3's http.server on
# 127.0.0.1 serving canned JSON as Jira and ServiceNow would answer. Run as
# pam_jit runs them (PATH and LANG only); the exact answer, exit status
# and message of each case. The real services are not reachable here.

. "$TESTS_DIR/lib.sh"
t_need curl jq python3

CONFIG_DIR=$(cd "$TESTS_DIR/../../config" && pwd) || t_bail "no config directory"
JIRA="$CONFIG_DIR/jira-lookup"
SNOW="$CONFIG_DIR/servicenow-lookup"
cd "$T_DIR" || t_bail "cd $T_DIR"
umask 077

# start_stub DIR: http.server on a free port; sets PORT.
start_stub() {
	python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$1" \
		>"$T_DIR/stub.out" 2>"$T_DIR/stub.log" &
	T_PIDS="$T_PIDS $!"
	PORT=
	for _i in $(seq 1 100); do
		PORT=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\) .*/\1/p' \
			"$T_DIR/stub.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	t_bail "the HTTP stub did not start: $(cat "$T_DIR/stub.log")"
}

# lookup PROGRAM ARGS...: as pam_jit runs it.
lookup() {
	run env -i PATH=/usr/bin:/bin LANG=C /bin/sh "$@"
}

mkdir -p www/rest/api/2/issue www/api/now/table
start_stub "$T_DIR/www"
printf 'test-token-123\n' >token
chmod 600 token
cat >jira.env <<EOF
# test settings
JIRA_URL=http://127.0.0.1:$PORT/
JIRA_TOKEN_FILE=$T_DIR/token
JIRA_APPROVED_STATUS=Approved for change
EOF
cat >snow.env <<EOF
SNOW_URL=http://127.0.0.1:$PORT
SNOW_TOKEN_FILE=$T_DIR/token
SNOW_FIELD_HOSTS=u_target_hosts
EOF
chmod 600 jira.env snow.env

# --- Jira ---

cat >www/rest/api/2/issue/OPS-1 <<'EOF'
{"key": "OPS-1", "fields": {
  "status": {"name": "Approved for change"},
  "assignee": {"name": "carol"},
  "customfield_10100": ["root", "deploy"],
  "customfield_10101": [{"name": "alice"}, {"name": "bob"}],
  "customfield_10102": "ops, dba",
  "customfield_10103": "2026-11-23T08:00:00.000+0000",
  "customfield_10104": "2026-11-23T12:30:00.000+0100",
  "customfield_10105": [{"value": "web1.example.org"}]
}}
EOF
lookup "$JIRA" "$T_DIR/jira.env" OPS-1 alice
expect "jira: approved issue" 0 "id=OPS-1
state=approved
users=alice,bob
groups=ops,dba
principals=root,deploy
not_before=2026-11-23T08:00:00+00:00
not_after=2026-11-23T12:30:00+01:00
hosts=web1.example.org" ''
fields=status,assignee,customfield_10100,customfield_10101,customfield_10102
fields=$fields,customfield_10103,customfield_10104,customfield_10105
if grep -q "\"GET /rest/api/2/issue/OPS-1?fields=$fields HTTP/1.1\" 200" stub.log; then
	t_pass "jira: the request asks for the fields"
else
	t_fail "jira: the request asks for the fields" "$(cat stub.log)"
fi

# Pending, users from the assignee, no hosts.
cat >www/rest/api/2/issue/OPS-2 <<'EOF'
{"key": "OPS-2", "fields": {
  "status": {"name": "In Progress"},
  "assignee": {"name": "carol"},
  "customfield_10100": ["root"],
  "customfield_10101": null,
  "customfield_10103": "2026-11-23T08:00:00Z",
  "customfield_10104": "2026-11-23T09:00:00Z"
}}
EOF
lookup "$JIRA" "$T_DIR/jira.env" OPS-2 carol
expect "jira: pending issue, assignee as user" 0 "id=OPS-2
state=pending
users=carol
groups=
principals=root
not_before=2026-11-23T08:00:00Z
not_after=2026-11-23T09:00:00Z" ''

for s in Rejected Done; do
	sed "s/In Progress/$s/" www/rest/api/2/issue/OPS-2 >www/rest/api/2/issue/OPS-3
	sed -i 's/OPS-2/OPS-3/' www/rest/api/2/issue/OPS-3
	lookup "$JIRA" "$T_DIR/jira.env" OPS-3 carol
	expect "jira: status $s" 0 "@line1:id=OPS-3" ''
	state=$(printf '%s\n' "$T_OUT" | sed -n 's/^state=//p')
	case $s in
	Rejected) assert_eq "jira: status $s is rejected" rejected "$state" ;;
	Done) assert_eq "jira: status $s is closed" closed "$state" ;;
	esac
done

lookup "$JIRA" "$T_DIR/jira.env" OPS-404 alice
expect "jira: no such issue (HTTP 404)" 1 '' ''

# Ids that cannot be Jira keys are not looked up at all.
: >stub.log
for id in ops-1 OPS- -OPS-1 OPS-1a 'OPS-1;id' CHG_1; do
	lookup "$JIRA" "$T_DIR/jira.env" "$id" alice
	expect "jira: id \"$id\" is not an issue key" 1 '' ''
done
assert_eq "jira: no request for bad ids" "" "$(cat stub.log)"

# A directory: http.server redirects, and redirects are not followed.
mkdir www/rest/api/2/issue/OPS-5
lookup "$JIRA" "$T_DIR/jira.env" OPS-5 alice
expect "jira: HTTP 301 is a failure" 2 '' "jira-lookup: HTTP 301 from http://127.0.0.1:$PORT"

sed 's/"OPS-1"/"OPS-9"/' www/rest/api/2/issue/OPS-1 >www/rest/api/2/issue/OPS-6
lookup "$JIRA" "$T_DIR/jira.env" OPS-6 alice
expect "jira: wrong key" 2 '' '@has:asked for OPS-6, got "OPS-9"'

# A value cannot add a line of its own.
sed 's/{"name": "bob"}/{"name": "bob\\nstate=approved"}/' www/rest/api/2/issue/OPS-1 |
	sed 's/OPS-1/OPS-7/' >www/rest/api/2/issue/OPS-7
lookup "$JIRA" "$T_DIR/jira.env" OPS-7 alice
expect "jira: newline in a name" 2 '' '@has:unexpected name: "bob\nstate=approved"'
sed 's/"2026-11-23T08:00:00.000+0000"/"tomorrow"/; s/OPS-1/OPS-8/' \
	www/rest/api/2/issue/OPS-1 >www/rest/api/2/issue/OPS-8
lookup "$JIRA" "$T_DIR/jira.env" OPS-8 alice
expect "jira: bad date" 2 '' '@has:field customfield_10103: not a date-time: "tomorrow"'
printf 'not json' >www/rest/api/2/issue/OPS-10
lookup "$JIRA" "$T_DIR/jira.env" OPS-10 alice
expect "jira: not JSON" 2 '' '@has:jira-lookup: unexpected answer: '

# Settings and token files.
chmod 620 jira.env
lookup "$JIRA" "$T_DIR/jira.env" OPS-1 alice
expect "jira: group-writable settings refused" 2 '' \
	"jira-lookup: $T_DIR/jira.env: group or world writable"
chmod 600 jira.env
chmod 606 token
lookup "$JIRA" "$T_DIR/jira.env" OPS-1 alice
expect "jira: world-writable token refused" 2 '' \
	"jira-lookup: $T_DIR/token: group or world writable"
chmod 600 token
printf 'JIRA_URL=http://127.0.0.1:%s\nJIRA_TOKEN_FILE=%s/token\nJIRA_PASSWORD=x\n' \
	"$PORT" "$T_DIR" >bad.env
lookup "$JIRA" "$T_DIR/bad.env" OPS-1 alice
expect "jira: unknown setting" 2 '' "jira-lookup: $T_DIR/bad.env: unknown setting JIRA_PASSWORD"
printf 'JIRA_URL=http://jira.example.org\nJIRA_TOKEN_FILE=%s/token\n' "$T_DIR" >bad.env
lookup "$JIRA" "$T_DIR/bad.env" OPS-1 alice
expect "jira: plain http refused" 2 '' "jira-lookup: JIRA_URL must be an https:// URL"
printf 'two words\n' >token2
printf 'JIRA_URL=http://127.0.0.1:%s\nJIRA_TOKEN_FILE=%s/token2\n' "$PORT" "$T_DIR" >bad.env
lookup "$JIRA" "$T_DIR/bad.env" OPS-1 alice
expect "jira: malformed token" 2 '' "jira-lookup: $T_DIR/token2: not a bearer token"
lookup "$JIRA" OPS-1
expect "jira: usage" 2 '' "jira-lookup: usage: jira-lookup [SETTINGS] TICKET USER"

# A server that accepts and never answers: --max-time ends it.
python3 -u -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1])
time.sleep(120)
' >hang.port &
T_PIDS="$T_PIDS $!"
for _i in $(seq 1 100); do
	[ -s hang.port ] && break
	sleep 0.05
done
printf 'JIRA_URL=http://127.0.0.1:%s\nJIRA_TOKEN_FILE=%s/token\nJIRA_MAX_TIME=1\n' \
	"$(cat hang.port)" "$T_DIR" >hang.env
t0=$(date +%s)
lookup "$JIRA" "$T_DIR/hang.env" OPS-1 alice
t1=$(date +%s)
expect "jira: server hangs" 2 '' "@has:jira-lookup: curl: (28) "
if [ $((t1 - t0)) -le 3 ]; then
	t_pass "jira: --max-time bounds the wait"
else
	t_fail "jira: --max-time bounds the wait" "took $((t1 - t0)) s"
fi
# Nothing listening.
printf 'JIRA_URL=http://127.0.0.1:1\nJIRA_TOKEN_FILE=%s/token\n' "$T_DIR" >down.env
lookup "$JIRA" "$T_DIR/down.env" OPS-1 alice
expect "jira: connection refused" 2 '' "@has:jira-lookup: curl: (7) "

# --- ServiceNow ---

CR=www/api/now/table/change_request
cat >$CR <<'EOF'
{"result": [{"number": "CHG0030001", "approval": "approved", "state": "-1",
  "start_date": "2026-11-23 08:00:00", "end_date": "2026-11-23 12:00:00",
  "u_principals": "root,deploy", "u_users": "alice, bob", "u_groups": "",
  "u_target_hosts": "web1.example.org,db1.example.org"}]}
EOF
: >stub.log
lookup "$SNOW" "$T_DIR/snow.env" CHG0030001 alice
expect "servicenow: approved change" 0 "id=CHG0030001
state=approved
users=alice,bob
groups=
principals=root,deploy
not_before=2026-11-23T08:00:00Z
not_after=2026-11-23T12:00:00Z
hosts=web1.example.org,db1.example.org" ''
q='sysparm_query=number%3DCHG0030001&sysparm_limit=2&sysparm_display_value=false'
q="$q&sysparm_fields=number,approval,state,start_date,end_date,u_principals,u_users"
q="$q,u_groups,u_target_hosts"
if grep -q "\"GET /api/now/table/change_request?$q HTTP/1.1\" 200" stub.log; then
	t_pass "servicenow: the request queries the number"
else
	t_fail "servicenow: the request queries the number" "$(cat stub.log)"
fi

# approval/state -> state.
cp $CR cr.template
for c in 'requested -1 pending' 'approved -5 pending' 'approved -2 approved' \
	'rejected -1 rejected' 'approved 4 rejected' 'approved 3 closed' 'approved 0 closed'; do
	# shellcheck disable=SC2086 # three words
	set -- $c
	sed "s/\"approval\": \"approved\", \"state\": \"-1\"/\"approval\": \"$1\", \"state\": \"$2\"/" \
		cr.template >$CR
	lookup "$SNOW" "$T_DIR/snow.env" CHG0030001 alice
	state=$(printf '%s\n' "$T_OUT" | sed -n 's/^state=//p')
	assert_eq "servicenow: approval $1, state $2 is $3" "$3" "$state"
done

printf '{"result": []}' >$CR
lookup "$SNOW" "$T_DIR/snow.env" CHG0030002 alice
expect "servicenow: no such change" 1 '' ''
printf '{"result": [{"number": "CHG0030002"}, {"number": "CHG0030002"}]}' >$CR
lookup "$SNOW" "$T_DIR/snow.env" CHG0030002 alice
expect "servicenow: two records" 2 '' "servicenow-lookup: 2 change requests numbered CHG0030002"
printf '{"result": [{"number": "CHG0030009", "approval": "approved", "state": "-1"}]}' >$CR
lookup "$SNOW" "$T_DIR/snow.env" CHG0030002 alice
expect "servicenow: wrong number" 2 '' '@has:asked for CHG0030002, got "CHG0030009"'
printf '{"result": [{"number": "CHG0030002", "approval": "approved", "state": "-1",
  "start_date": "2026-11-23T08:00:00", "end_date": "2026-11-23 12:00:00"}]}' >$CR
lookup "$SNOW" "$T_DIR/snow.env" CHG0030002 alice
expect "servicenow: bad date" 2 '' \
	'@has:field start_date: not a date-time: "2026-11-23T08:00:00"'
printf '{"result": [{"number": "CHG0030002", "approval": "approved", "state": "-1",
  "start_date": "2026-11-23 08:00:00", "end_date": "2026-11-23 12:00:00",
  "u_principals": "root", "u_users": "alice bob"}]}' >$CR
lookup "$SNOW" "$T_DIR/snow.env" CHG0030002 alice
expect "servicenow: space in a name" 2 '' '@has:unexpected name: "alice bob"'
printf '{"error": {"message": "User Not Authenticated"}}' >$CR
lookup "$SNOW" "$T_DIR/snow.env" CHG0030002 alice
expect "servicenow: error object" 2 '' '@has:servicenow-lookup: unexpected answer: '
: >stub.log
for id in INC0010001 CHG 'CHG1 ' chg0030001 'CHG1&sysparm_query=x'; do
	lookup "$SNOW" "$T_DIR/snow.env" "$id" alice
	expect "servicenow: id \"$id\" is not a change number" 1 '' ''
done
assert_eq "servicenow: no request for bad ids" "" "$(cat stub.log)"

t_summary
