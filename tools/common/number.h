/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Numbers on the command lines of the tools: one strict parser for all. */
#ifndef IVSHMEM_TOOLS_NUMBER_H
#define IVSHMEM_TOOLS_NUMBER_H

#include <stdint.h>

/* Decimal, or hexadecimal with 0x/0X.  No sign, no whitespace, no octal
 * (a leading 0 is decimal: "010" is 10), nothing after the digits.
 * Returns 0 and sets *out, -EINVAL for a malformed string, -ERANGE above max. */
int ivs_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* As ivs_parse_u64() with max UINT64_MAX, plus one optional binary suffix
 * K, M, G or T (either case) and no other; -ERANGE on overflow. */
int ivs_parse_size(const char *s, uint64_t *out);

#endif /* IVSHMEM_TOOLS_NUMBER_H */
