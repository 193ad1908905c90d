# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Coverage-guided fuzzing (libFuzzer, with ASan and UBSan) of what user space
# parses: libivshmem as a host peer of a malicious server, the tools' number
# parsers, ivshmem-ctl's JSON writer, libivshmem's netlink parser, and
# libivshmem's channels against a hostile peer's header and ring.  Each
# harness of selftests/fuzz/ starts from its checked-in corpus and runs for
# IVSHMEM_FUZZ_SECONDS (default 15); a crash, a leak, a hang or any
# sanitizer report fails it.  Sourced by run.sh.

FUZZ_SECONDS=${IVSHMEM_FUZZ_SECONDS:-15}

# harness and the longest input it is given
FUZZ_HARNESSES="server:1024 number:256 json:256 netlink:1024 channel:13000"

run_fuzzers() {
	local spec name max_len dir bin log status execs cov
	note "fuzzing: libFuzzer with ASan and UBSan, ${FUZZ_SECONDS}s per harness"
	need_packages clang libclang-rt-dev
	if ! make -C "$TOP/selftests/fuzz" TOP="$TOP" BUILD="$BUILD" >"$LOGS/build-fuzz.log" 2>&1; then
		result fail "fuzz/build" "see $LOGS/build-fuzz.log"
		tail -n 20 "$LOGS/build-fuzz.log" | sed 's/^/# /'
		return
	fi
	for spec in $FUZZ_HARNESSES; do
		name=${spec%%:*}
		max_len=${spec#*:}
		dir=$LOGS/fuzz/$name
		bin=$BUILD/fuzz/fuzz_$name
		log=$dir/fuzz.log
		# New inputs go to a scratch corpus; the checked-in one is only read.
		rm -rf "$dir"
		mkdir -p "$dir/corpus"
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
			-max_len="$max_len" -print_final_stats=1 -artifact_prefix="$dir/" \
			"$dir/corpus" "$TOP/selftests/fuzz/$name/corpus" >"$log" 2>&1
		status=$?
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		cov=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 |
			sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/\1 edges, \2 features, \3 inputs/')
		note "fuzz: $name: ${execs:-0} executions in ${FUZZ_SECONDS}s, coverage ${cov:-unknown}"
		if [ $status = 0 ] && [ -n "$execs" ] &&
			! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
			result ok "fuzz/$name"
		else
			result fail "fuzz/$name" "exit status $status; see $log"
			grep -E 'ERROR:|SUMMARY:|runtime error:|Test unit written|^    #[0-9] ' "$log" |
				head -n 20 | sed 's/^/# /'
		fi
	done
}
