/* SPDX-License-Identifier: GPL-2.0-or-later */
/* JSON output of the tools: the one place strings are escaped. */
#ifndef IVSHMEM_TOOLS_JSON_H
#define IVSHMEM_TOOLS_JSON_H

#include <stdio.h>

/*
 * Write @s to @out as a JSON string literal, quotes included; bytes that
 * are not valid UTF-8 are written as U+FFFD.
 */
void ivs_json_string(FILE *out, const char *s);
/* The same for @n bytes that may hold NULs (written as \u0000). */
void ivs_json_mem(FILE *out, const void *s, size_t n);

#endif /* IVSHMEM_TOOLS_JSON_H */
