// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

int spawn_start(struct spawn *sp, const char *path, const char *input, const char *args)
{
	char line[512], *argv[32], *save = NULL;
	int in[2], out[2], err[2], argc = 0;
	size_t len = input ? strlen(input) : 0;

	snprintf(line, sizeof(line), "%s", args);
	argv[argc++] = (char *)path;
	for (char *t = strtok_r(line, " ", &save); t && argc < 31; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;

	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return -1;
	sp->pid = fork();
	if (sp->pid < 0)
		return -1;
	if (sp->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(path, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	/* Inputs are small: they fit in the pipe before the child reads. */
	if (len && write(in[1], input, len) != (ssize_t)len)
		fprintf(stderr, "spawn: short write to %s\n", path);
	close(in[1]);
	sp->out = out[0];
	sp->err = err[0];
	return 0;
}

static void read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got + 1 < len && (n = read(fd, buf + got, len - got - 1)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

int spawn_finish(struct spawn *sp, char *out, size_t out_len, char *err, size_t err_len)
{
	char discard[256];
	int status;

	read_all(sp->out, out, out_len);
	if (err)
		read_all(sp->err, err, err_len);
	else
		read_all(sp->err, discard, sizeof(discard));
	close(sp->out);
	close(sp->err);
	if (waitpid(sp->pid, &status, 0) != sp->pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}
