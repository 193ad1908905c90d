/* SPDX-License-Identifier: GPL-2.0 */
/* Running a program from a test, with its stdin, stdout and stderr in pipes. */
#ifndef IVSHMEM_TEST_SPAWN_H
#define IVSHMEM_TEST_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

struct spawn {
	pid_t pid;
	int out;	/* the child's stdout */
	int err;	/* the child's stderr */
};

/*
 * Start @path with the space-separated @args (at most 30), writing @input
 * (or nothing) to its stdin.  0, or -1 with errno set.
 */
int spawn_start(struct spawn *sp, const char *path, const char *input, const char *args);

/*
 * Collect what the child wrote (NUL-terminated; @err may be NULL) and wait
 * for it.  Its exit status, or -1 if it did not exit normally.
 */
int spawn_finish(struct spawn *sp, char *out, size_t out_len, char *err, size_t err_len);

#endif /* IVSHMEM_TEST_SPAWN_H */
