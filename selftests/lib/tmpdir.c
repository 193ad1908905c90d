// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "tmpdir.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int tmpdir_remove_tree(const char *dir)
{
	return nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int harness_main_in_tmpdir(const char *tag, char **argv)
{
	const char *base = getenv("TMPDIR");
	char dir[256];
	int ret;

	snprintf(dir, sizeof(dir), "%s/ivs-%s.XXXXXX", base && *base ? base : "/tmp", tag);
	if (!mkdtemp(dir) || setenv("TMPDIR", dir, 1)) {
		perror("mkdtemp");
		return 2;
	}
	ret = harness_main(1, argv);
	if (tmpdir_remove_tree(dir))
		fprintf(stderr, "could not remove %s\n", dir);
	return ret;
}
