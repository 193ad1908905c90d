/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A byte pattern that depends on a seed and the offset, so the host and a
 * guest can each check what the other wrote into the shared memory.
 */
#ifndef IVSHMEM_PATTERN_H
#define IVSHMEM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t pattern_byte(uint64_t seed, uint64_t offset)
{
	uint64_t x = (seed ^ 0x9e3779b97f4a7c15ULL) + offset * 0xbf58476d1ce4e5b9ULL;

	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	return (uint8_t)(x >> 29);
}

static inline void pattern_fill(uint8_t *p, size_t len, uint64_t seed, uint64_t base)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(seed, base + i);
}

/* Offset of the first byte that differs, or (size_t)-1 when all match. */
static inline size_t pattern_check(const volatile uint8_t *p, size_t len,
				   uint64_t seed, uint64_t base)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(seed, base + i))
			return i;
	return (size_t)-1;
}

#endif /* IVSHMEM_PATTERN_H */
