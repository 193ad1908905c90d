// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: ivshmem-ctl's JSON string writers.  Whatever the bytes,
 * the output must be one valid JSON string in UTF-8 that decodes to the
 * input, with each byte that is not part of valid UTF-8 read as U+FFFD.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/common/json.h"
#include "lib/json.h"

/* Length of the valid UTF-8 sequence at @s (of @n bytes), or 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing above U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool valid_utf8(const char *s, size_t n)
{
	for (size_t i = 0, len; i < n; i += len) {
		len = utf8_seq((const unsigned char *)s + i, n - i);
		if (!len)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = strnlen((const char *)data, size), outlen = 0, wlen = 0, len;
	char *in, *out = NULL, *want;
	struct json *j;
	FILE *f;

	in = malloc(n + 1);
	want = malloc(3 * n + 1);
	if (!in || !want)
		abort();
	memcpy(in, data, n);
	in[n] = '\0';
	for (size_t i = 0; i < n; i += len) {
		len = utf8_seq((const unsigned char *)in + i, n - i);
		if (len) {
			memcpy(want + wlen, in + i, len);
			wlen += len;
		} else {
			memcpy(want + wlen, "\xef\xbf\xbd", 3);
			wlen += 3;
			len = 1;
		}
	}
	want[wlen] = '\0';

	f = open_memstream(&out, &outlen);
	if (!f)
		abort();
	ivs_json_string(f, in);
	if (fclose(f))
		abort();
	if (!valid_utf8(out, outlen) || strlen(out) != outlen)
		abort();
	j = json_parse(out);
	if (!j || j->type != JSON_STRING || strcmp(j->string, want))
		abort();
	json_free(j);
	free(out);

	/*
	 * ivs_json_mem(): all @size bytes (libFuzzer's buffer is exactly that
	 * long, so ASan sees any read past it), a NUL as \u0000; decoded, the
	 * same as above up to the first NUL.
	 */
	f = open_memstream(&out, &outlen);
	if (!f)
		abort();
	ivs_json_mem(f, data, size);
	if (fclose(f))
		abort();
	if (!valid_utf8(out, outlen) || strlen(out) != outlen)
		abort();
	j = json_parse(out);
	if (!j || j->type != JSON_STRING || strcmp(j->string, want))
		abort();
	json_free(j);
	free(out);
	free(in);
	free(want);
	return 0;
}
