// SPDX-License-Identifier: GPL-2.0
/*
 * Interoperability with QEMU's own contrib/ivshmem-server and
 * contrib/ivshmem-client, both ways:
 *  - QEMU's ivshmem-client on our ivshmem-server, next to a libivshmem
 *    peer: IDs, joins and leaves seen on both sides, doorbells both ways;
 *  - libivshmem and ivshmem-ctl --server on QEMU's ivshmem-server: info,
 *    ring, wait, write, read, dump, joins, leaves and the server's end.
 *
 * Every program started here runs in a private temporary directory, dies
 * with the test (PR_SET_PDEATHSIG) and has a deadline.
 *
 * usage: interop_test QEMU-ivshmem-server QEMU-ivshmem-client
 *                     OUR-ivshmem-server OUR-ivshmem-ctl
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libivshmem.h"
#include "lib/harness.h"
#include "lib/tmpdir.h"

static const char *qemu_server, *qemu_client, *our_server, *ctl_path;

/* A program with its stdin and stdout in pipes. */
struct proc {
	pid_t pid;
	int in, out;
	char buf[16384];
	size_t len;
};

/* Start @argv[0]; it dies with us, and after @timeout_s at the latest. */
static void proc_start(struct proc *p, const char *const *argv, unsigned int timeout_s)
{
	int in[2], out[2];
	pid_t parent = getpid();

	ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
	ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
	p->pid = fork();
	ASSERT_GE(p->pid, 0);
	if (p->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		alarm(timeout_s);	/* kept across execve() */
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(null, 2);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
	p->len = 0;
	p->buf[0] = '\0';
}

/* Wait until the output since the last call contains @text; false on timeout. */
static bool proc_expect(struct proc *p, const char *text, int timeout_ms)
{
	struct pollfd pfd = { .fd = p->out, .events = POLLIN };
	ssize_t n;

	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		if (strstr(p->buf, text)) {
			/* Later calls look at what follows. */
			size_t keep = strlen(strstr(p->buf, text) + strlen(text));

			memmove(p->buf, p->buf + p->len - keep, keep + 1);
			p->len = keep;
			return true;
		}
		if (poll(&pfd, 1, 50) == 1) {
			if (p->len + 1 >= sizeof(p->buf)) {
				p->len = 0;	/* QEMU's client repeats its prompt */
				p->buf[0] = '\0';
			}
			n = read(p->out, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
			if (n <= 0)
				break;
			p->len += (size_t)n;
			p->buf[p->len] = '\0';
		}
	}
	return false;
}

static void proc_say(struct proc *p, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ASSERT_EQ(write(p->in, line, (size_t)len), len);
}

static void proc_stop(struct proc *p)
{
	kill(p->pid, SIGTERM);
	waitpid(p->pid, NULL, 0);
	close(p->in);
	close(p->out);
}

struct env {
	char dir[64], sock[96], mem[96];
	struct proc server;
};

static void env_dir(struct env *e)
{
	const char *base = getenv("TMPDIR");

	snprintf(e->dir, sizeof(e->dir), "%s/ivs-interop.XXXXXX", base && *base ? base : "/tmp");
	ASSERT_TRUE(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/sock", e->dir);
}

static void wait_socket(const char *sock)
{
	for (int i = 0; i < 500 && access(sock, F_OK); i++)
		usleep(10000);
	ASSERT_EQ(access(sock, F_OK), 0);
}

/* Our ivshmem-server: 1 MiB, 2 vectors. */
static void our_server_start(struct env *e)
{
	const char *argv[] = { our_server, "-F", "-S", e->sock, "-m", e->mem, "-l", "1M",
			       "-n", "2", NULL };

	env_dir(e);
	snprintf(e->mem, sizeof(e->mem), "%s/mem", e->dir);
	proc_start(&e->server, argv, 120);
	wait_socket(e->sock);
}

/* QEMU's ivshmem-server: 1 MiB in a file of the private directory. */
static void qemu_server_start(struct env *e, const char *vectors)
{
	const char *argv[] = { qemu_server, "-F", "-S", e->sock, "-m", e->dir, "-l", "1M",
			       "-n", vectors, NULL };

	env_dir(e);
	proc_start(&e->server, argv, 120);
	wait_socket(e->sock);
}

static void env_stop(struct env *e)
{
	proc_stop(&e->server);
	if (tmpdir_remove_tree(e->dir))
		TH_LOG("could not remove %s", e->dir);
}

static struct ivshmem *join(const struct env *e, int vectors, int *id)
{
	struct ivshmem_server_opts *opts;
	struct ivshmem_dev_info *info;
	struct ivshmem *dev;

	ASSERT_EQ(ivshmem_server_opts_new(&opts), 0);
	if (vectors >= 0)
		ASSERT_EQ(ivshmem_server_opts_set_vectors(opts, (unsigned int)vectors), 0);
	ASSERT_EQ(ivshmem_open_server(e->sock, opts, &dev), 0);
	ivshmem_server_opts_free(opts);
	ASSERT_EQ(ivshmem_get_info(dev, &info), 0);
	*id = ivshmem_dev_info_get_peer_id(info);
	EXPECT_EQ(ivshmem_dev_info_get_size(info), 1 << 20);
	if (vectors >= 0)
		EXPECT_EQ(ivshmem_dev_info_get_vectors(info), vectors);
	ivshmem_dev_info_free(info);
	return dev;
}

static void expect_event(struct ivshmem *dev, int type, int peer)
{
	unsigned int id = 0;

	ASSERT_EQ(ivshmem_read_peer_event(dev, &id, 5000), type);
	EXPECT_EQ(id, peer);
}

static void expect_vector(struct ivshmem *dev, unsigned int vector)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 };

	set[vector / 64] = 1ULL << (vector % 64);
	ASSERT_EQ(ivshmem_wait(dev, set, 5000), 0);
}

static bool client_retry(struct proc *c, const char *cmd, const char *text);

/* Ask QEMU's client to "dump" until @text shows. */
static bool client_dump_has(struct proc *c, const char *text)
{
	return client_retry(c, "dump", text);
}

/*
 * Wait for @text from QEMU's client, which buffers its stdout in a pipe and
 * flushes it when it prompts: an empty command line makes it prompt.
 */
static bool client_expect(struct proc *c, const char *text)
{
	for (int i = 0; i < 20; i++) {
		if (proc_expect(c, text, 250))
			return true;
		proc_say(c, "\n");
	}
	return false;
}

/* Send @cmd until the client answers @text: it may not have caught up yet. */
static bool client_retry(struct proc *c, const char *cmd, const char *text)
{
	for (int i = 0; i < 20; i++) {
		proc_say(c, "%s\n", cmd);
		if (proc_expect(c, text, 250))
			return true;
	}
	return false;
}

static void client_start(struct proc *c, const struct env *e, int id)
{
	const char *argv[] = { qemu_client, "-S", e->sock, NULL };
	char line[32];

	proc_start(c, argv, 60);
	snprintf(line, sizeof(line), "our_id = %d\n", id);
	ASSERT_TRUE(client_dump_has(c, line));
}

TEST(qemu_client_on_our_server)
{
	struct proc c1, c2;
	struct ivshmem *a;
	char line[32];
	struct env e;
	int ida;

	our_server_start(&e);
	a = join(&e, 2, &ida);
	EXPECT_EQ(ida, 0);

	/* QEMU's client gets the next ID, and sees us. */
	client_start(&c1, &e, 1);
	ASSERT_TRUE(client_dump_has(&c1, "peer_id = 0\n"));
	expect_event(a, IVSHMEM_PEER_JOINED, 1);

	/* Doorbells both ways. */
	ASSERT_EQ(ivshmem_ring(a, 1, 1), 0);
	EXPECT_TRUE(client_expect(&c1, "vector=1"));
	proc_say(&c1, "int 0 0\n");
	expect_vector(a, 0);
	proc_say(&c1, "int 0 all\n");
	expect_vector(a, 1);

	/* A second client: both sides see it come and go. */
	client_start(&c2, &e, 2);
	expect_event(a, IVSHMEM_PEER_JOINED, 2);
	EXPECT_TRUE(client_dump_has(&c1, "peer_id = 2\n"));
	ASSERT_TRUE(client_dump_has(&c2, "peer_id = 1\n"));
	proc_say(&c2, "int 1 0\n");
	EXPECT_TRUE(client_expect(&c1, "vector=0"));
	proc_stop(&c2);
	expect_event(a, IVSHMEM_PEER_LEFT, 2);
	EXPECT_EQ(ivshmem_ring(a, 2, 0), -ENXIO);
	EXPECT_TRUE(client_retry(&c1, "int 2 0", "cannot find peer_id = 2"));

	/* And the client sees us leave. */
	ivshmem_close(a);
	snprintf(line, sizeof(line), "cannot find peer_id = %d", ida);
	EXPECT_TRUE(client_retry(&c1, "int 0 0", line));
	proc_stop(&c1);
	env_stop(&e);
}

/* ivshmem-ctl --server with @args; its exit status, stdout in @out. */
static int ctl(const struct env *e, char *out, size_t len, const char *fmt, ...)
{
	const char *argv[24] = { ctl_path, "--server", e->sock };
	char line[256], *save = NULL;
	struct proc p;
	size_t got = 0;
	int argc = 3, status;
	va_list ap;
	ssize_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *t = strtok_r(line, " ", &save); t && argc < 23; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	proc_start(&p, argv, 20);
	close(p.in);
	while (got + 1 < len && (n = read(p.out, out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(p.out);
	ASSERT_EQ(waitpid(p.pid, &status, 0), p.pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_TIMEOUT(libivshmem_and_ctl_on_qemu_server, 180)
{
	char out[4096];
	struct ivshmem *a, *b;
	struct proc waiter;
	uint8_t *mem;
	struct env e;
	int ida, idb;

	qemu_server_start(&e, "2");
	a = join(&e, 2, &ida);
	b = join(&e, -1, &idb);	/* the vector count detected */
	EXPECT_EQ(ida, 0);
	EXPECT_EQ(idb, 1);
	expect_event(a, IVSHMEM_PEER_JOINED, idb);
	ASSERT_EQ(ivshmem_ring(a, (unsigned int)idb, 1), 0);
	expect_vector(b, 1);
	ASSERT_EQ(ivshmem_ring(b, (unsigned int)ida, 0), 0);
	expect_vector(a, 0);

	ASSERT_EQ(ctl(&e, out, sizeof(out), "-n 2 --json info"), 0);
	EXPECT_TRUE(strstr(out, "\"host_peer\":true"));
	EXPECT_TRUE(strstr(out, "\"size\":1048576,"));
	EXPECT_TRUE(strstr(out, "\"vectors\":2,"));
	EXPECT_TRUE(strstr(out, "\"ready\":true"));
	ASSERT_EQ(ctl(&e, out, sizeof(out), "info"), 0);	/* detected */
	EXPECT_TRUE(strstr(out, "vectors:   2"));
	ASSERT_EQ(ctl(&e, out, sizeof(out), "-n 2 ring %d 1", ida), 0);
	expect_vector(a, 1);
	EXPECT_EQ(ctl(&e, out, sizeof(out), "-n 2 ring 99 0"), 1);

	/* ivshmem-ctl waiting: rung by a once it has joined (bounds for a
	 * machine that builds a kernel beside valgrind). */
	{
		const char *argv[] = { ctl_path, "-s", e.sock, "-n", "2", "wait", "-t", "30000",
				       "1", NULL };
		unsigned int id = 0, next;
		int tries = 300;

		proc_start(&waiter, argv, 60);
		ASSERT_EQ(ivshmem_read_peer_event(a, &id, 30000), IVSHMEM_PEER_JOINED);
		/*
		 * The info and ring commands came and went before.  A peer's
		 * join is told with its first eventfd; ring() uses only what
		 * was taken in, so the one of vector 1 may still be on its way:
		 * reading events takes it in, whether another event comes or
		 * not.
		 */
		while (ivshmem_ring(a, id, 1) == -ENXIO) {
			int ev = ivshmem_read_peer_event(a, &next, 100);

			ASSERT_TRUE(ev > 0 || ev == -ETIMEDOUT);
			if (ev > 0)
				id = next;
			ASSERT_TRUE(--tries > 0);
		}
		EXPECT_TRUE(proc_expect(&waiter, "1\n", 30000));
		proc_stop(&waiter);
	}

	/* The memory: written by ivshmem-ctl, seen by libivshmem and back. */
	ASSERT_EQ(ivshmem_map(a, 0, 0, PROT_READ | PROT_WRITE, (void **)&mem), 0);
	ASSERT_EQ(ctl(&e, out, sizeof(out), "-n 2 write -f 0x41 -l 3 100"), 0);
	EXPECT_TRUE(!memcmp(mem + 100, "AAA", 3));
	memcpy(mem + 200, "qemu", 5);
	ASSERT_EQ(ctl(&e, out, sizeof(out), "-n 2 read 200 4"), 0);
	EXPECT_TRUE(!strcmp(out, "qemu"));
	ASSERT_EQ(ctl(&e, out, sizeof(out), "-n 2 dump 96 8"), 0);
	EXPECT_TRUE(strstr(out, "00000060  00 00 00 00 41 41 41 00"));
	EXPECT_EQ(ctl(&e, out, sizeof(out), "-n 2 write -f 1 -l 2 1M"), 1);
	ivshmem_unmap(mem, 1 << 20);

	/* b leaves; then the server goes. */
	ivshmem_close(b);
	for (unsigned int id = 0, type; (type = (unsigned int)ivshmem_read_peer_event(a, &id, 5000)) !=
	     IVSHMEM_PEER_LEFT || id != (unsigned int)idb;)
		ASSERT_TRUE(type == IVSHMEM_PEER_LEFT || type == IVSHMEM_PEER_JOINED);
	EXPECT_EQ(ivshmem_ring(a, (unsigned int)idb, 0), -ENXIO);
	kill(e.server.pid, SIGKILL);
	for (unsigned int id = 0, type; (type = (unsigned int)ivshmem_read_peer_event(a, &id, 5000)) !=
	     IVSHMEM_PEER_DISCONNECTED;)
		ASSERT_TRUE(type == IVSHMEM_PEER_LEFT || type == IVSHMEM_PEER_JOINED);
	EXPECT_EQ(ivshmem_ring(a, (unsigned int)ida, 0), -ECONNRESET);
	ivshmem_close(a);
	env_stop(&e);
}

/* QEMU's server serves 0 vectors; its own client joins it, and so do we. */
TEST(qemu_server_without_vectors)
{
	struct ivshmem_dev_info *info;
	struct ivshmem *a;
	struct env e;
	int id;

	qemu_server_start(&e, "0");
	a = join(&e, -1, &id);
	ASSERT_EQ(ivshmem_get_info(a, &info), 0);
	EXPECT_EQ(ivshmem_dev_info_get_vectors(info), 0);
	EXPECT_TRUE(ivshmem_dev_info_is_ready(info));
	ivshmem_dev_info_free(info);
	ivshmem_close(a);
	a = join(&e, 0, &id);
	ivshmem_close(a);
	env_stop(&e);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: interop_test QEMU-ivshmem-server QEMU-ivshmem-client "
			"OUR-ivshmem-server OUR-ivshmem-ctl\n");
		return 2;
	}
	qemu_server = argv[1];
	qemu_client = argv[2];
	our_server = argv[3];
	ctl_path = argv[4];
	signal(SIGPIPE, SIG_IGN);
	return harness_main_in_tmpdir("interop", argv);
}
