// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hand-written rather than strtoull(), which skips whitespace, accepts a
 * sign (" -1" is UINT64_MAX) and reads a leading 0 as octal.
 */
#include <errno.h>
#include <stdbool.h>

#include "number.h"

/*
 * The digits of @s in base 10 or 16 (0x/0X), up to *end.  -EINVAL if there
 * are none, -ERANGE if they overflow 64 bits (*end is still set).
 */
static int parse_digits(const char *s, const char **end, uint64_t *out)
{
	unsigned int base = 10, d;
	bool overflow = false;
	const char *p = s, *first;
	uint64_t v = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (first = p;; p++) {
		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			overflow = true;
		else
			v = v * base + d;
	}
	if (p == first)
		return -EINVAL;
	*end = p;
	*out = v;
	return overflow ? -ERANGE : 0;
}

int ivs_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int ret = parse_digits(s, &end, &v);

	/* A malformed tail counts before overflow. */
	if (ret == -EINVAL || *end)
		return -EINVAL;
	if (ret == -ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int ivs_parse_size(const char *s, uint64_t *out)
{
	static const char suffixes[] = "KMGT";
	unsigned int shift = 0;
	const char *end;
	uint64_t v;
	int ret = parse_digits(s, &end, &v);

	if (ret == -EINVAL)
		return -EINVAL;
	if (*end) {
		for (unsigned int i = 0; suffixes[i]; i++)
			if (*end == suffixes[i] || *end == suffixes[i] - 'A' + 'a')
				shift = 10 * (i + 1);
		if (!shift || end[1])
			return -EINVAL;
	}
	if (ret == -ERANGE || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}
