# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# The static stage of run.sh: the headers as C and C++, checkpatch, the
# module's build warnings, cppcheck and clang-tidy.  Sourced by run.sh.

# The uapi header as C and C++, with its ABI pinned; libivshmem's header too.
check_uapi() {
	local lang cc
	for lang in c11 cxx17; do
		case $lang in
		c11) cc="gcc -x c -std=c11" ;;
		cxx17) cc="g++ -x c++ -std=c++17" ;;
		esac
		if $cc -Wall -Wextra -pedantic -Werror -I"$TOP/uapi" -fsyntax-only \
			"$TOP/selftests/host/uapi_abi.c" >"$LOGS/uapi-$lang.log" 2>&1; then
			result ok "static/uapi_header_$lang"
		else
			result fail "static/uapi_header_$lang" "see $LOGS/uapi-$lang.log"
			sed 's/^/# /' "$LOGS/uapi-$lang.log" | head -n 20
		fi
		if echo '#include "libivshmem.h"' | $cc -Wall -Wextra -pedantic -Werror \
			-I"$TOP/uapi" -I"$TOP/lib" -fsyntax-only - >"$LOGS/lib-$lang.log" 2>&1; then
			result ok "static/libivshmem_header_$lang"
		else
			result fail "static/libivshmem_header_$lang" "see $LOGS/lib-$lang.log"
			sed 's/^/# /' "$LOGS/lib-$lang.log" | head -n 20
		fi
	done
}

# check_module_log KVER SUITE: the W=1 + sparse build of the module (W=1
# only for a debug kernel, see build_module) warned nothing.
check_module_log() {
	local log=$LOGS/build-module-$1.log name=module_w1_sparse_clean
	is_debug "$2" && name=module_w1_clean
	if { is_debug "$2" || grep -q '^  CHECK ' "$log"; } && ! grep -qE 'warning:|error:' "$log"; then
		result ok "static/$name/$1"
	else
		result fail "static/$name/$1" "see $log"
		grep -E 'warning:|error:|C=2 specified' "$log" | head -n 20 | sed 's/^/# /'
	fi
}

# checkpatch.pl from the host's linux-source package (which the debug
# kernel is built from too), unpacked once into the cache; prints its path.
fetch_checkpatch() {
	local dir=$CACHE/checkpatch pkg
	if [ ! -f "$dir/checkpatch.pl" ]; then
		need_packages linux-source
		pkg=$(apt-cache depends linux-source | awk '/Depends: linux-source-/ { print $2; exit }')
		mkdir -p "$dir"
		tar -xJf "/usr/src/$pkg.tar.xz" -C "$dir" --wildcards --strip-components=2 \
			'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
			'*/scripts/const_structs.checkpatch' ||
			die "cannot unpack checkpatch.pl from /usr/src/$pkg.tar.xz"
	fi
	echo "$dir/checkpatch.pl"
}

# The kernel code and the uapi header against checkpatch --strict.
check_kernel_style() {
	local checkpatch files
	checkpatch=$(fetch_checkpatch) || exit 1
	files=$(cd "$TOP" && ls kernel/*.c kernel/*.h kernel/conftest/*.c uapi/linux/*.h selftests/kmod/*.c |
		grep -v -e '\.mod\.c$' -e '^kernel/conftest\.h$')
	if (cd "$TOP" && perl "$checkpatch" --no-tree --strict -q --terse -f $files) \
		>"$LOGS/checkpatch.log" 2>&1; then
		result ok "static/checkpatch"
	else
		result fail "static/checkpatch" "see $LOGS/checkpatch.log"
		grep -v '^total' "$LOGS/checkpatch.log" | head -n 20 | sed 's/^/# /'
	fi
}

# cppcheck and clang-tidy over all user-space C, with the checked-in
# .cppcheck-suppressions and .clang-tidy.
check_userspace_lint() {
	local files f bad=
	mapfile -t files < <(cd "$TOP" && ls tools/*/*.c lib/*.c selftests/*.c selftests/lib/*.c \
		selftests/host/*.c)
	if (cd "$TOP" && cppcheck -q --std=c11 --enable=warning,style,performance,portability \
		--error-exitcode=1 --inline-suppr --suppressions-list=.cppcheck-suppressions \
		-D_GNU_SOURCE -Iuapi -Ilib -Iselftests $(pkg-config --cflags libnl-genl-3.0) \
		"${files[@]}") >"$LOGS/cppcheck.log" 2>&1; then
		result ok "static/cppcheck"
	else
		result fail "static/cppcheck" "see $LOGS/cppcheck.log"
		head -n 20 "$LOGS/cppcheck.log" | sed 's/^/# /'
	fi
	: >"$LOGS/clang-tidy.log"
	for f in "${files[@]}"; do
		(cd "$TOP" && clang-tidy -quiet "$f" -- -std=c11 -D_GNU_SOURCE -Iuapi -Ilib -Iselftests \
			$(pkg-config --cflags-only-I libnl-genl-3.0 | sed 's/-I/-isystem /g')) \
			>>"$LOGS/clang-tidy.log" 2>&1 || bad="$bad $f"
	done
	if [ -z "$bad" ]; then
		result ok "static/clang_tidy"
	else
		result fail "static/clang_tidy" "in$bad; see $LOGS/clang-tidy.log"
		grep -E 'warning:|error:' "$LOGS/clang-tidy.log" | head -n 20 | sed 's/^/# /'
	fi
}


# Every script the README or a man page names (a file of the tree that
# starts with "#!") is executable, so that the command a user copies runs.
check_executable_scripts() {
	local f bad=() n=0
	while IFS= read -r f; do
		[ -f "$TOP/$f" ] && [ "$(head -c 2 "$TOP/$f")" = '#!' ] || continue
		n=$((n + 1))
		[ -x "$TOP/$f" ] || bad+=("$f")
	done < <(cd "$TOP" && grep -ohE '(\./)?\b(\.ci|debian|kernel|lib|man|selftests|tools|uapi)/[A-Za-z0-9_./-]*[A-Za-z0-9_]' \
		README.md man/* | sed 's|^\./||' | sort -u)
	if ((n == 0)); then
		result fail "static/named_scripts_are_executable" "no script found in README.md or man/"
	elif ((${#bad[@]})); then
		result fail "static/named_scripts_are_executable" "not executable: ${bad[*]}"
	else
		result ok "static/named_scripts_are_executable"
	fi
}
