/* SPDX-License-Identifier: GPL-2.0 */
/* A strict little JSON parser, to check the --json output of ivshmem-ctl. */
#ifndef IVSHMEM_TEST_JSON_H
#define IVSHMEM_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	double number;
	char *string;
	/* Arrays and objects: n items; objects also have keys. */
	size_t n;
	struct json **items;
	char **keys;
};

/* Parse all of @text (one value, surrounding whitespace allowed); NULL if it is not JSON. */
struct json *json_parse(const char *text);
/* The member @key of an object, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* Shortcuts for tests: the number or string at @key, or -1 / "" if absent. */
double json_num(const struct json *obj, const char *key);
const char *json_str(const struct json *obj, const char *key);
void json_free(struct json *j);

#endif /* IVSHMEM_TEST_JSON_H */
