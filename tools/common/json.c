// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdint.h>
#include <string.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at @s, or 0 if there is none. */
static unsigned int utf8_len(const unsigned char *s)
{
	unsigned int len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	/* A NUL ends the string before a sequence can run past it. */
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

/*
 * JSON strings here are device names and PCI addresses: escape anyway.  JSON
 * is UTF-8, so a byte that is not part of valid UTF-8 becomes U+FFFD.
 */
void ivs_json_mem(FILE *out, const void *s, size_t n)
{
	const unsigned char *p = s, *end = p + n;
	unsigned char seq[5];
	unsigned int len;

	putc('"', out);
	while (p < end) {
		/* utf8_len() reads up to 4 bytes and stops at a NUL: give it a
		 * NUL-terminated copy, so that nothing past @n is read. */
		memset(seq, 0, sizeof(seq));
		memcpy(seq, p, end - p < 4 ? (size_t)(end - p) : 4);
		len = *p ? utf8_len(seq) : 1;
		if (!len) {
			fputs("\xef\xbf\xbd", out);
			p++;
		} else if (*p == '"' || *p == '\\') {
			fprintf(out, "\\%c", *p++);
		} else if (*p < 0x20) {
			fprintf(out, "\\u%04x", *p++);
		} else {
			fwrite(p, 1, len, out);
			p += len;
		}
	}
	putc('"', out);
}

void ivs_json_string(FILE *out, const char *s)
{
	ivs_json_mem(out, s, strlen(s));
}
