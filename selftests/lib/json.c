// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct parser {
	const char *p;
	int depth;
};

static struct json *parse_value(struct parser *ps);	// NOLINT(misc-no-recursion)

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static struct json *node(enum json_type type)
{
	struct json *j = calloc(1, sizeof(*j));

	if (j)
		j->type = type;
	return j;
}

/* A string literal; escapes other than \uXXXX above 0x7f are decoded. */
static char *parse_string(struct parser *ps)
{
	size_t len = 0, cap = 16;
	char *s, *grown;

	if (*ps->p != '"')
		return NULL;
	ps->p++;
	s = malloc(cap);
	if (!s)
		return NULL;
	while (*ps->p != '"') {
		char c = *ps->p++;

		if ((unsigned char)c < 0x20) {
			free(s);
			return NULL;
		}
		if (c == '\\') {
			c = *ps->p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				char hex[5] = { 0 };
				unsigned long v;

				memcpy(hex, ps->p, 4);
				v = strtoul(hex, NULL, 16);
				if (strlen(hex) != 4 || v > 0x7f) {
					free(s);
					return NULL;
				}
				c = (char)v;
				ps->p += 4;
				break;
			}
			default:
				free(s);
				return NULL;
			}
		}
		if (len + 2 > cap) {
			cap *= 2;
			grown = realloc(s, cap);
			if (!grown) {
				free(s);
				return NULL;
			}
			s = grown;
		}
		s[len++] = c;
	}
	s[len] = '\0';
	ps->p++;
	return s;
}

static bool append(struct json *j, struct json *item, char *key)
{
	struct json **items = realloc(j->items, (j->n + 1) * sizeof(struct json *));
	char **keys;

	if (!items)
		return false;
	j->items = items;
	if (j->type == JSON_OBJECT) {
		keys = realloc(j->keys, (j->n + 1) * sizeof(*keys));
		if (!keys)
			return false;
		j->keys = keys;
		j->keys[j->n] = key;
	}
	j->items[j->n++] = item;
	return true;
}

/* Recursion is bounded: containers nest at most 64 deep. */
// NOLINTNEXTLINE(misc-no-recursion)
static struct json *parse_container(struct parser *ps, enum json_type type)
{
	char close = type == JSON_ARRAY ? ']' : '}';
	struct json *j = node(type), *item;
	char *key = NULL;

	if (!j || ++ps->depth > 64)
		goto fail;
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		ps->depth--;
		return j;
	}
	for (;;) {
		skip_ws(ps);
		if (type == JSON_OBJECT) {
			key = parse_string(ps);
			skip_ws(ps);
			if (!key || *ps->p++ != ':')
				goto fail;
		}
		item = parse_value(ps);
		if (!item || !append(j, item, key)) {
			json_free(item);
			goto fail;
		}
		key = NULL;
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p++ != close)
			goto fail;
		ps->depth--;
		return j;
	}
fail:
	free(key);
	json_free(j);
	return NULL;
}

// NOLINTNEXTLINE(misc-no-recursion)
static struct json *parse_value(struct parser *ps)
{
	struct json *j;
	char *end;

	skip_ws(ps);
	switch (*ps->p) {
	case '{':
		return parse_container(ps, JSON_OBJECT);
	case '[':
		return parse_container(ps, JSON_ARRAY);
	case '"':
		j = node(JSON_STRING);
		if (j && !(j->string = parse_string(ps))) {
			free(j);
			j = NULL;
		}
		return j;
	case 't':
	case 'f':
	case 'n':
		if (!strncmp(ps->p, "true", 4) || !strncmp(ps->p, "null", 4)) {
			j = node(*ps->p == 't' ? JSON_BOOL : JSON_NULL);
			if (j)
				j->boolean = true;
			ps->p += 4;
			return j;
		}
		if (!strncmp(ps->p, "false", 5)) {
			ps->p += 5;
			return node(JSON_BOOL);
		}
		return NULL;
	default:
		if (*ps->p != '-' && !isdigit((unsigned char)*ps->p))
			return NULL;
		j = node(JSON_NUMBER);
		if (!j)
			return NULL;
		j->number = strtod(ps->p, &end);
		if (end == ps->p) {
			free(j);
			return NULL;
		}
		ps->p = end;
		return j;
	}
}

struct json *json_parse(const char *text)
{
	struct parser ps = { .p = text };
	struct json *j = parse_value(&ps);

	skip_ws(&ps);
	if (j && *ps.p) {
		json_free(j);
		return NULL;
	}
	return j;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

double json_num(const struct json *obj, const char *key)
{
	const struct json *j = json_get(obj, key);

	return j && j->type == JSON_NUMBER ? j->number : -1;
}

const char *json_str(const struct json *obj, const char *key)
{
	const struct json *j = json_get(obj, key);

	return j && j->type == JSON_STRING ? j->string : "";
}

// NOLINTNEXTLINE(misc-no-recursion)
void json_free(struct json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		json_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->string);
	free(j);
}
