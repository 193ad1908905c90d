// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "size.h"

int ivs_parse_size(const char *s, uint64_t *out)
{
	static const char suffixes[] = "KMGT";
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end) {
		const char *p = strchr(suffixes, *end & ~0x20);

		if (!p || end[1])
			return -1;
		for (int shift = 10 * (int)(p - suffixes + 1); shift; shift -= 10) {
			if (v > (UINT64_MAX >> 10))
				return -1;
			v <<= 10;
		}
	}
	*out = v;
	return 0;
}

