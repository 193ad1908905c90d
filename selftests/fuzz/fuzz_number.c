// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: the tools' number and size parsers against a plain
 * reference that counts in 128 bits.  Input: one byte choosing the maximum
 * of ivs_parse_u64(), then the string.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/common/number.h"

/* The value of @s's digits in base 10 or 16 (0x/0X), saturating above 64 bits. */
static int ref_digits(const char *s, const char **end, unsigned __int128 *out)
{
	unsigned __int128 v = 0;
	unsigned int base = 10;
	const char *p = s, *first;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (first = p;; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A' + 10);
		else
			break;
		v = v * base + d;
		if (v > UINT64_MAX)
			v = (unsigned __int128)UINT64_MAX + 1;
	}
	*end = p;
	*out = v;
	return p == first ? -EINVAL : 0;
}

static int ref_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned __int128 v;
	const char *end;

	if (ref_digits(s, &end, &v) || *end)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

static int ref_size(const char *s, uint64_t *out)
{
	unsigned __int128 v;
	unsigned int shift = 0;
	const char *end, *k;

	if (ref_digits(s, &end, &v))
		return -EINVAL;
	if (*end) {
		k = strchr("KMGT", *end >= 'a' && *end <= 'z' ? *end - 'a' + 'A' : *end);
		if (!k || !*k || end[1])
			return -EINVAL;
		shift = 10 * (unsigned int)(k - "KMGT" + 1);
	}
	if (v > UINT64_MAX || (v << shift) > UINT64_MAX)
		return -ERANGE;
	*out = (uint64_t)(v << shift);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t maxes[] = { UINT64_MAX, 0, 1, 0xff, 255, 256, 65535, INT32_MAX,
					  UINT32_MAX, UINT64_MAX - 1 };
	uint64_t max, got = 0x5a5a, want = 0x5a5a;
	char *s;
	int r1, r2;

	if (!size)
		return 0;
	max = maxes[data[0] % (sizeof(maxes) / sizeof(maxes[0]))];
	/* Exactly the string's bytes on the heap: a read past it is caught. */
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	r1 = ivs_parse_u64(s, max, &got);
	r2 = ref_u64(s, max, &want);
	if (r1 != r2 || (!r1 && got != want))
		abort();
	got = want = 0x5a5a;
	r1 = ivs_parse_size(s, &got);
	r2 = ref_size(s, &want);
	if (r1 != r2 || (!r1 && got != want))
		abort();
	free(s);
	return 0;
}
