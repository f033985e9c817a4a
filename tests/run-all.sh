#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the command CI runs
# (.ci/run) and the README's quick start. Run as root on Debian 12, from any
# directory. Stages:
#   install-deps  packaging/install-deps.sh
#   gcc           build-ci-gcc: gcc, -Dwerror=true, meson test
#   clang         build-ci-clang: clang, -Dwerror=true, meson test
#   asan          build-ci-asan: gcc, ASan + UBSan, -Dwerror=true, meson test
#   fuzz-build    build-ci-fuzz: clang, -Dfuzzing=true, ASan + UBSan
#   fuzz:NAME     each libFuzzer program built there, FUZZ_SECONDS each, over
#                 a temporary copy of tests/fuzz/corpus/NAME (fuzz_privkey
#                 also over private keys generated for the run)
# Prints a table of the stages and, as its last line, "N passed, N failed";
# exits non-zero if any stage failed.
#
# Environment:
#   FUZZ_SECONDS=N  seconds per fuzzer (default 20)
#   SKIP_FUZZ=1     skip fuzz-build and the fuzzers (quick local runs)
#   SKIP_ASAN=1     skip the sanitizer build
#
# Crash inputs found by a fuzzer are kept in build-ci-fuzz/fuzz-artifacts/.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

jobs=$(nproc)
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
if ! [[ $FUZZ_SECONDS =~ ^[1-9][0-9]{0,5}$ ]]; then
	echo "run-all: FUZZ_SECONDS must be a positive number of seconds" >&2
	exit 2
fi

work=$(mktemp -d /tmp/run-all.XXXXXX)
trap 'rm -rf "$work"' EXIT

stage_names=()
stage_results=()
stage_times=()

# Runs "$@" as one stage in a subshell with errexit in force (a function
# called in an if or || context would silently lose it), and records the
# result and duration. Never stops the script itself.
run_stage() {
	local name=$1 rc start
	shift
	echo
	echo "==> [$name] $(date -u +%H:%M:%S)"
	start=$SECONDS
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	stage_names+=("$name")
	stage_times+=($((SECONDS - start)))
	if ((rc == 0)); then
		stage_results+=(pass)
		echo "==> [$name] passed in $((SECONDS - start)) s"
	else
		stage_results+=(FAIL)
		echo "==> [$name] FAILED (exit $rc) after $((SECONDS - start)) s"
	fi
	return 0
}

skip_stage() {
	stage_names+=("$1")
	stage_results+=(skip)
	stage_times+=(0)
	echo
	echo "==> [$1] skipped ($2)"
}

stage_failed() {
	[[ ${stage_results[-1]} == FAIL ]]
}

summary() {
	local i passed=0 failed=0
	echo
	echo "==> Summary"
	printf '%-22s %-6s %8s\n' stage result time
	for i in "${!stage_names[@]}"; do
		printf '%-22s %-6s %6d s\n' "${stage_names[i]}" "${stage_results[i]}" \
			"${stage_times[i]}"
		case ${stage_results[i]} in
		pass) passed=$((passed + 1)) ;;
		FAIL) failed=$((failed + 1)) ;;
		esac
	done
	printf '%-22s %-6s %6d s\n' total "" "$SECONDS"
	echo "$passed passed, $failed failed"
	((failed == 0))
}

# Sets up DIR (a fresh one, or the existing one reconfigured with these
# options so reruns are incremental), then compiles it.
build() {
	local dir=$1
	shift
	if [[ -f $dir/meson-private/coredata.dat ]]; then
		meson setup --reconfigure "$dir" "$@" || meson setup --wipe "$dir" "$@"
	else
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
	ninja -C "$dir" -j "$jobs"
}

stage_deps() {
	packaging/install-deps.sh
}

stage_gcc() {
	CC=gcc build build-ci-gcc -Dwerror=true
	meson test -C build-ci-gcc --print-errorlogs --num-processes "$jobs"
}

stage_clang() {
	CC=clang build build-ci-clang -Dwerror=true
	meson test -C build-ci-clang --print-errorlogs --num-processes "$jobs"
}

# UBSan only reports and carries on unless told to halt. verify_asan_link_order
# and UID_WRAPPER_DISABLE_DEEPBIND let the PAM tests run under pam_wrapper.
sanitizer_env() {
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export UID_WRAPPER_DISABLE_DEEPBIND=1
}

stage_asan() {
	sanitizer_env
	CC=gcc build build-ci-asan -Db_sanitize=address,undefined -Db_lundef=false \
		-Dwerror=true
	meson test -C build-ci-asan --print-errorlogs --num-processes "$jobs" \
		--timeout-multiplier 3
}

stage_fuzz_build() {
	CC=clang build build-ci-fuzz -Dfuzzing=true -Db_sanitize=address,undefined \
		-Db_lundef=false
	if [[ -z $(find_fuzzers) ]]; then
		echo "no fuzz_* programs in build-ci-fuzz/tests/fuzz" >&2
		return 1
	fi
}

find_fuzzers() {
	find build-ci-fuzz/tests/fuzz -maxdepth 1 -type f -name 'fuzz_*' \
		-executable -printf '%f\n' 2>/dev/null | sort
}

# Private keys in every format the key loader must take, made for this run
# only (no key material is ever committed). ssh-keygen writes Ed25519 keys
# only in OpenSSH format; openssl adds an Ed25519 PKCS#8 one.
make_private_keys() {
	local dir=$1 fmt
	mkdir -p "$dir"
	ssh-keygen -q -t ed25519 -N '' -C fuzz -f "$dir/ed25519"
	ssh-keygen -q -t ed25519 -N 'fuzz-passphrase' -C fuzz -f "$dir/ed25519-pass"
	for fmt in RFC4716 PEM PKCS8; do
		ssh-keygen -q -t ecdsa -m "$fmt" -N '' -C fuzz -f "$dir/ecdsa-$fmt"
		ssh-keygen -q -t rsa -b 2048 -m "$fmt" -N '' -C fuzz -f "$dir/rsa-$fmt"
	done
	ssh-keygen -q -t rsa -b 2048 -m PEM -N 'fuzz-passphrase' -C fuzz \
		-f "$dir/rsa-PEM-pass"
	if command -v openssl >/dev/null; then
		openssl genpkey -algorithm ed25519 -out "$dir/ed25519-PKCS8" 2>/dev/null
	fi
	rm -f "$dir"/*.pub
}

stage_fuzzer() {
	local name=$1 short=${1#fuzz_} corpus="$work/corpus-$1" seeds
	local art="build-ci-fuzz/fuzz-artifacts/$name" log="$work/$name.log"
	local dirs=("$corpus") f
	mkdir -p "$corpus"
	for seeds in "tests/fuzz/corpus/$short" "tests/fuzz/corpus/$name"; do
		if [[ -d $seeds ]]; then
			cp -R "$seeds/." "$corpus/"
			break
		fi
	done
	if [[ $name == fuzz_privkey ]]; then
		make_private_keys "$work/privkeys"
		dirs+=("$work/privkeys")
	fi
	rm -rf "$art"
	mkdir -p "$art"
	echo "$name: $(find "${dirs[@]}" -type f | wc -l) seed inputs, $FUZZ_SECONDS s"

	sanitizer_env
	# libFuzzer handles crashes itself; abort_on_error only slows its exit.
	export ASAN_OPTIONS=detect_leaks=1
	if "build-ci-fuzz/tests/fuzz/$name" -max_total_time="$FUZZ_SECONDS" \
		-timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1; then
		grep -E '^(Done |stat::number_of_executed_units|stat::peak_rss_mb)' \
			"$log" || tail -n 5 "$log"
		rmdir "$art" build-ci-fuzz/fuzz-artifacts 2>/dev/null || true
		return 0
	fi
	tail -n 80 "$log"
	for f in "$art"/*; do
		[[ -f $f ]] || continue
		echo "artifact $f ($(stat -c %s "$f") bytes), base64:"
		head -c 4096 "$f" | base64
	done
	return 1
}

run_stage install-deps stage_deps
if stage_failed; then
	echo "run-all: cannot go on without the dependencies" >&2
	summary || true
	exit 1
fi

run_stage gcc stage_gcc
run_stage clang stage_clang

if [[ ${SKIP_ASAN:-0} == 1 ]]; then
	skip_stage asan SKIP_ASAN=1
else
	run_stage asan stage_asan
fi

if [[ ${SKIP_FUZZ:-0} == 1 ]]; then
	skip_stage fuzz SKIP_FUZZ=1
else
	run_stage fuzz-build stage_fuzz_build
	if ! stage_failed; then
		for fuzzer in $(find_fuzzers); do
			run_stage "fuzz:${fuzzer#fuzz_}" stage_fuzzer "$fuzzer"
		done
	fi
fi

summary
