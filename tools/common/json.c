// SPDX-License-Identifier: GPL-2.0-or-later
#include "json.h"

/* JSON strings here are device names and PCI addresses: escape anyway. */
void ivs_json_string(FILE *out, const char *s)
{
	putc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\u%04x", *s);
		else
			putc(*s, out);
	}
	putc('"', out);
}
