// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
/* Tests end with _exit(), which skips LeakSanitizer's exit hook. */
#define harness_leak_check()	__lsan_do_leak_check()
#else
#define harness_leak_check()	do { } while (0)
#endif

static struct test_case *tests, **tests_tail = &tests;
static bool test_failed;

void harness_register(struct test_case *tc)
{
	*tests_tail = tc;
	tests_tail = &tc->next;
}

void harness_fail(void)
{
	test_failed = true;
}

void harness_end(int status)
{
	harness_leak_check();
	fflush(stdout);
	_exit(status == KSFT_PASS && test_failed ? KSFT_FAIL : status);
}

static int run_one(struct test_case *tc)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return KSFT_FAIL;
	if (pid == 0) {
		alarm(tc->timeout_s);
		tc->fn();
		harness_end(KSFT_PASS);
	}
	if (waitpid(pid, &status, 0) < 0)
		return KSFT_FAIL;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	printf("# %s: killed by signal %d%s\n", tc->name, WTERMSIG(status),
	       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
	return KSFT_FAIL;
}

int harness_main(int argc, char **argv)
{
	unsigned int n = 0, i = 0, pass = 0, fail = 0, skip = 0;
	/* For a quick look at one test: IVT_ONLY=part-of-its-name. */
	const char *only = getenv("IVT_ONLY");
	struct test_case *tc;

	(void)argc;
	(void)argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (tc = tests; tc; tc = tc->next)
		n++;
	printf("TAP version 13\n1..%u\n", n);
	for (tc = tests; tc; tc = tc->next) {
		int r = only && !strstr(tc->name, only) ? KSFT_SKIP : run_one(tc);

		i++;
		if (r == KSFT_PASS) {
			printf("ok %u %s\n", i, tc->name);
			pass++;
		} else if (r == KSFT_SKIP) {
			printf("ok %u %s # SKIP\n", i, tc->name);
			skip++;
		} else {
			printf("not ok %u %s\n", i, tc->name);
			fail++;
		}
	}
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
	       pass, fail, skip);
	if (fail)
		return KSFT_FAIL;
	return pass ? KSFT_PASS : KSFT_SKIP;
}
