// SPDX-License-Identifier: GPL-2.0
/*
 * The number parser the tools share (tools/common/number.c): a table of
 * strings it must take and strings it must refuse.
 */
#include <stdint.h>

#include "lib/harness.h"
#include "../tools/common/number.h"

struct number_case {
	const char *s;
	int ret;		/* 0, -EINVAL or -ERANGE */
	uint64_t value;		/* when ret is 0 */
};

static const struct number_case u64_cases[] = {
	{ "0", 0, 0 },
	{ "1", 0, 1 },
	{ "4096", 0, 4096 },
	{ "010", 0, 10 },		/* never octal */
	{ "00", 0, 0 },
	{ "0x10", 0, 16 },
	{ "0X10", 0, 16 },
	{ "0xfF", 0, 255 },
	{ "0x0", 0, 0 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "0xffffffffffffffff", 0, UINT64_MAX },
	{ "18446744073709551616", -ERANGE, 0 },
	{ "99999999999999999999999", -ERANGE, 0 },
	{ "0x10000000000000000", -ERANGE, 0 },
	{ "", -EINVAL, 0 },
	{ "0x", -EINVAL, 0 },
	{ "0X", -EINVAL, 0 },
	{ "x10", -EINVAL, 0 },
	{ "4 ", -EINVAL, 0 },
	{ " 4", -EINVAL, 0 },
	{ "\t4", -EINVAL, 0 },
	{ "4\n", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ " -1", -EINVAL, 0 },
	{ "-0", -EINVAL, 0 },
	{ "+1", -EINVAL, 0 },
	{ "1k", -EINVAL, 0 },		/* suffixes are for sizes only */
	{ "1.5", -EINVAL, 0 },
	{ "1e3", -EINVAL, 0 },
	{ "0x1g", -EINVAL, 0 },
	{ "12a", -EINVAL, 0 },
	{ "0b101", -EINVAL, 0 },
	{ "18446744073709551616x", -EINVAL, 0 },
};

static const struct number_case size_cases[] = {
	{ "0", 0, 0 },
	{ "4096", 0, 4096 },
	{ "010", 0, 10 },
	{ "0x10", 0, 16 },
	{ "1k", 0, 1024 },
	{ "1K", 0, 1024 },
	{ "4M", 0, 4 << 20 },
	{ "4m", 0, 4 << 20 },
	{ "2G", 0, 2ULL << 30 },
	{ "1T", 0, 1ULL << 40 },
	{ "1t", 0, 1ULL << 40 },
	{ "0x10M", 0, 16 << 20 },
	{ "16777215T", 0, 16777215ULL << 40 },
	{ "16777216T", -ERANGE, 0 },
	{ "17179869184G", -ERANGE, 0 },
	{ "18446744073709551615", 0, UINT64_MAX },
	{ "18446744073709551616", -ERANGE, 0 },
	{ "18446744073709551616K", -ERANGE, 0 },
	{ "", -EINVAL, 0 },
	{ "K", -EINVAL, 0 },
	{ "0x", -EINVAL, 0 },
	{ "0xK", -EINVAL, 0 },
	{ "4 ", -EINVAL, 0 },
	{ " 4", -EINVAL, 0 },
	{ "4 M", -EINVAL, 0 },
	{ "4M ", -EINVAL, 0 },
	{ "-1", -EINVAL, 0 },
	{ " -1", -EINVAL, 0 },
	{ "+4M", -EINVAL, 0 },
	{ "1KB", -EINVAL, 0 },
	{ "1KiB", -EINVAL, 0 },
	{ "1MM", -EINVAL, 0 },
	{ "4Q", -EINVAL, 0 },
	{ "1P", -EINVAL, 0 },		/* no suffix beyond T */
	{ "1E", -EINVAL, 0 },
	{ "1 ", -EINVAL, 0 },
	{ "1\x20", -EINVAL, 0 },
	{ "1\x0b", -EINVAL, 0 },
	{ "1\x80", -EINVAL, 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int check_cases(const struct number_case *cases, size_t n, bool size)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t out = 0xdeadbeef;
		int ret = size ? ivs_parse_size(cases[i].s, &out) :
				 ivs_parse_u64(cases[i].s, UINT64_MAX, &out);

		if (ret != cases[i].ret ||
		    (ret == 0 && out != cases[i].value) ||
		    (ret != 0 && out != 0xdeadbeef)) {
			TH_LOG("%s(\"%s\"): returned %d value %llu, expected %d value %llu",
			       size ? "ivs_parse_size" : "ivs_parse_u64", cases[i].s, ret,
			       (unsigned long long)out, cases[i].ret,
			       (unsigned long long)cases[i].value);
			bad++;
		}
	}
	return bad;
}

TEST(u64_table)
{
	EXPECT_EQ(check_cases(u64_cases, N(u64_cases), false), 0);
}

TEST(size_table)
{
	EXPECT_EQ(check_cases(size_cases, N(size_cases), true), 0);
}

TEST(u64_max_is_inclusive)
{
	uint64_t v = 7;

	EXPECT_EQ(ivs_parse_u64("256", 256, &v), 0);
	EXPECT_EQ(v, 256);
	EXPECT_EQ(ivs_parse_u64("257", 256, &v), -ERANGE);
	EXPECT_EQ(ivs_parse_u64("0x101", 256, &v), -ERANGE);
	EXPECT_EQ(ivs_parse_u64("0", 0, &v), 0);
	EXPECT_EQ(v, 0);
	EXPECT_EQ(ivs_parse_u64("1", 0, &v), -ERANGE);
	EXPECT_EQ(ivs_parse_u64("x", 0, &v), -EINVAL);
}

int main(int argc, char **argv)
{
	return harness_main(argc, argv);
}
