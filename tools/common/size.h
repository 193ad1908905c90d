/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sizes on the command lines of the tools. */
#ifndef IVSHMEM_TOOLS_SIZE_H
#define IVSHMEM_TOOLS_SIZE_H

#include <stdint.h>

/*
 * "4M" -> 4194304: a number (decimal, 0x hex or 0 octal) with an optional
 * binary suffix K, M, G or T, as QEMU's tools take them.  Returns 0, or -1
 * for anything else, negative numbers and values that overflow 64 bits.
 */
int ivs_parse_size(const char *s, uint64_t *out);

#endif /* IVSHMEM_TOOLS_SIZE_H */
