/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small kselftest harness.  Each TEST() runs in a child process, so a test
 * that provokes SIGBUS or hangs cannot take the others with it, and prints
 * KTAP: "ok N name", "not ok N name", "ok N name # SKIP reason".
 *
 *   ASSERT_*   report and end the test as failed
 *   EXPECT_*   report, mark the test failed, and go on
 *   SKIP(...)  end the test as skipped
 *
 * The program exits 0 when nothing failed, 1 on a failure and 4 when every
 * test was skipped, as kselftest expects.
 */
#ifndef IVSHMEM_HARNESS_H
#define IVSHMEM_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	unsigned int timeout_s;
	struct test_case *next;
};

void harness_register(struct test_case *tc);
int harness_main(int argc, char **argv);
void harness_fail(void);
void harness_end(int status) __attribute__((noreturn));

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_SKIP	4

#define TEST_TIMEOUT(name_, seconds)					\
	static void test_##name_(void);					\
	static struct test_case tc_##name_ = {				\
		.name = #name_, .fn = test_##name_, .timeout_s = (seconds), \
	};								\
	__attribute__((constructor)) static void reg_##name_(void)	\
	{								\
		harness_register(&tc_##name_);				\
	}								\
	static void test_##name_(void)

#define TEST(name_) TEST_TIMEOUT(name_, 30)

#define TH_LOG(fmt, ...) \
	printf("# %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__)

#define SKIP(fmt, ...) do {						\
	printf("# SKIP: " fmt "\n", ##__VA_ARGS__);			\
	harness_end(KSFT_SKIP);						\
} while (0)

#define __CHECK(cond, fatal, fmt, ...) do {				\
	if (!(cond)) {							\
		TH_LOG("check failed: %s: " fmt, #cond, ##__VA_ARGS__);	\
		harness_fail();						\
		if (fatal)						\
			harness_end(KSFT_FAIL);				\
	}								\
} while (0)

#define __CMP(a, op, b, fatal) do {					\
	long long __a = (long long)(a), __b = (long long)(b);		\
	__CHECK(__a op __b, fatal, "%lld %s %lld", __a, #op, __b);	\
} while (0)

#define ASSERT_TRUE(c)		__CHECK(c, true, "")
#define EXPECT_TRUE(c)		__CHECK(c, false, "")
#define ASSERT_EQ(a, b)		__CMP(a, ==, b, true)
#define EXPECT_EQ(a, b)		__CMP(a, ==, b, false)
#define ASSERT_NE(a, b)		__CMP(a, !=, b, true)
#define EXPECT_NE(a, b)		__CMP(a, !=, b, false)
#define ASSERT_GE(a, b)		__CMP(a, >=, b, true)
#define EXPECT_GE(a, b)		__CMP(a, >=, b, false)

/* A call that must succeed (return >= 0). */
#define ASSERT_OK(call) do {						\
	long long __r = (long long)(call);				\
	__CHECK(__r >= 0, true, "returned %lld, errno %d (%s)",		\
		__r, errno, strerror(errno));				\
} while (0)

/* A call that must fail with -1 and errno @err. */
#define __ERRNO(call, err, fatal) do {					\
	long long __r;							\
	errno = 0;							\
	__r = (long long)(call);					\
	__CHECK(__r == -1 && errno == (err), fatal,			\
		"returned %lld errno %d (%s), expected errno %d (%s)",	\
		__r, errno, strerror(errno), err, strerror(err));	\
} while (0)
#define ASSERT_ERRNO(call, err)	__ERRNO(call, err, true)
#define EXPECT_ERRNO(call, err)	__ERRNO(call, err, false)

#endif /* IVSHMEM_HARNESS_H */
