// SPDX-License-Identifier: GPL-2.0
/*
 * libivshmem as a host peer of a real ivshmem-server, and the library's
 * error paths that need no guest.  Runs under valgrind and, built again,
 * under ASan and UBSan.
 *
 * usage: lib_host_test PATH-TO-ivshmem-server PATH-TO-ivshmem-ctl
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libivshmem.h"
#include "lib/harness.h"
#include "lib/spawn.h"

static const char *server_path, *ctl_path;

struct server {
	pid_t pid;
	char dir[64], sock[96], mem[96];
};

/* An ivshmem-server with 1 MiB in a file, 2 vectors, plus the extra options. */
static void server_start(struct server *s, const char *extra)
{
	const char *argv[16] = {
		server_path, "-F", "-S", s->sock, "-m", s->mem, "-l", "1M", "-n", "2",
	};

	snprintf(s->dir, sizeof(s->dir), "/tmp/ivs-libtest.XXXXXX");
	ASSERT_TRUE(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	snprintf(s->mem, sizeof(s->mem), "%s/mem", s->dir);
	if (extra) {
		argv[10] = extra;
		argv[11] = "1";
	}
	s->pid = fork();
	ASSERT_TRUE(s->pid >= 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		execv(server_path, (char **)argv);
		_exit(127);
	}
	for (int i = 0; i < 200 && access(s->sock, F_OK); i++)
		usleep(10000);
	ASSERT_EQ(access(s->sock, F_OK), 0);
}

static void server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	unlink(s->mem);
	rmdir(s->dir);
}

static void join(struct server *s, struct ivshmem **dev, int expect_id)
{
	struct ivshmem_dev_info info;

	ASSERT_EQ(ivshmem_open_server(s->sock, dev), 0);
	ASSERT_EQ(ivshmem_info(*dev, &info), 0);
	EXPECT_EQ(info.peer_id, expect_id);
	EXPECT_EQ(info.vectors, 2);
	EXPECT_EQ(info.size, 1 << 20);
	EXPECT_EQ(info.irq_mode, IVSHMEM_IRQ_HOST_EVENTFD);
	EXPECT_TRUE(info.host_peer && info.ready && info.doorbell);
	EXPECT_EQ(info.index, -1);
}

TEST(host_peers_ring_each_other)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 << 1 }, count;
	struct ivshmem *a, *b;
	struct server s;
	int efd;

	server_start(&s, NULL);
	join(&s, &a, 0);
	join(&s, &b, 1);
	/* a learns of b from the server's notification. */
	ASSERT_EQ(ivshmem_ring(a, 1, 1), 0);
	ASSERT_EQ(ivshmem_wait(b, set, 5000), 0);
	EXPECT_EQ(set[0], 1 << 1);

	efd = ivshmem_vector_fd(a, 0);
	ASSERT_GE(efd, 0);
	ASSERT_EQ(ivshmem_ring(b, 0, 0), 0);
	ASSERT_EQ(read(efd, &count, sizeof(count)), sizeof(count));
	EXPECT_EQ(count, 1);
	/* Ringing oneself works too. */
	set[0] = 1;
	ASSERT_EQ(ivshmem_ring(b, 1, 0), 0);
	ASSERT_EQ(ivshmem_wait(b, set, 5000), 0);
	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(&s);
}

TEST(peer_table_follows_the_server)
{
	struct ivshmem *a, *b;
	struct server s;

	server_start(&s, NULL);
	join(&s, &a, 0);
	join(&s, &b, 1);
	ASSERT_EQ(ivshmem_ring(a, 1, 0), 0);
	ivshmem_close(b);
	usleep(200000);
	EXPECT_EQ(ivshmem_ring(a, 1, 0), -ENXIO);
	/* The ID is free again, and the new peer is known once it joined. */
	join(&s, &b, 1);
	usleep(200000);
	EXPECT_EQ(ivshmem_ring(a, 1, 0), 0);
	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(&s);
}

TEST(shared_memory_is_shared_with_the_file)
{
	struct ivshmem *a, *b;
	char *pa, *pb, buf[6] = { 0 };
	struct server s;
	int fd;

	server_start(&s, NULL);
	join(&s, &a, 0);
	join(&s, &b, 1);
	ASSERT_EQ(ivshmem_map(a, 4096, 4096, PROT_READ | PROT_WRITE, (void **)&pa), 0);
	ASSERT_EQ(ivshmem_map(b, 0, 0, PROT_READ, (void **)&pb), 0);
	memcpy(pa, "hello", 6);
	EXPECT_TRUE(!memcmp(pb + 4096, "hello", 5));
	fd = open(s.mem, O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(pread(fd, buf, 5, 4096), 5);
	EXPECT_TRUE(!strcmp(buf, "hello"));
	close(fd);
	EXPECT_EQ(ivshmem_map(a, 1, 4096, PROT_READ, (void **)&pa), -EINVAL);
	EXPECT_EQ(ivshmem_map(a, 1 << 20, 4096, PROT_READ, (void **)&pa), -EINVAL);
	EXPECT_EQ(ivshmem_unmap(pb, 1 << 20), 0);
	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(&s);
}

TEST(host_peer_errors)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 };
	struct ivshmem *a;
	struct server s;
	char longpath[200];

	server_start(&s, NULL);
	join(&s, &a, 0);
	EXPECT_EQ(ivshmem_ring(a, 5, 0), -ENXIO);
	EXPECT_EQ(ivshmem_ring(a, 0, 2), -ENXIO);
	EXPECT_EQ(ivshmem_ring(a, 0, 256), -EINVAL);
	EXPECT_EQ(ivshmem_ring(a, 70000, 0), -EINVAL);
	EXPECT_EQ(ivshmem_vector_fd(a, 2), -EINVAL);
	EXPECT_EQ(ivshmem_wait(a, set, 0), -EINVAL);
	set[0] = 1 << 2;
	EXPECT_EQ(ivshmem_wait(a, set, 0), -EINVAL);
	set[0] = 1;
	EXPECT_EQ(ivshmem_wait(a, set, 50), -ETIMEDOUT);
	EXPECT_EQ(ivshmem_wait(a, set, -2), -EINVAL);
	EXPECT_EQ(ivshmem_wait_ready(a, 0), 0);
	ivshmem_close(a);
	server_stop(&s);

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	EXPECT_EQ(ivshmem_open_server(longpath, &a), -ENAMETOOLONG);
	EXPECT_EQ(ivshmem_open_server("/nonexistent/sock", &a), -ENOENT);
}

TEST(full_server_refuses_with_eagain)
{
	struct ivshmem *a, *b;
	struct server s;

	server_start(&s, "--max-clients");
	join(&s, &a, 0);
	EXPECT_EQ(ivshmem_open_server(s.sock, &b), -EAGAIN);
	ivshmem_close(a);
	server_stop(&s);
}

/* A socket that speaks something else: one number the protocol never sends. */
TEST(not_a_server_is_eproto)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int64_t bogus = 7;
	struct ivshmem *a;
	int lsock, c;
	pid_t pid;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "/tmp/ivs-libtest-bogus.%d", getpid());
	lsock = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_EQ(bind(lsock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ASSERT_EQ(listen(lsock, 1), 0);
	pid = fork();
	if (pid == 0) {
		c = accept(lsock, NULL, NULL);
		if (write(c, &bogus, sizeof(bogus)) != sizeof(bogus))
			_exit(1);
		sleep(2);
		_exit(0);
	}
	EXPECT_EQ(ivshmem_open_server(addr.sun_path, &a), -EPROTO);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(lsock);
	unlink(addr.sun_path);
}

TEST(netlink_needs_the_driver)
{
	struct ivshmem_dev_desc *descs, desc;
	struct ivshmem_monitor *mon;
	size_t n;

	if (!access("/sys/module/ivshmem", F_OK))
		SKIP("the ivshmem driver is loaded here");
	EXPECT_EQ(ivshmem_list(&descs, &n), -ENOENT);
	EXPECT_EQ(ivshmem_describe(0, &desc), -ENOENT);
	EXPECT_EQ(ivshmem_monitor_open(&mon), -ENOENT);
	EXPECT_TRUE(!strcmp(ivshmem_irq_mode_name(IVSHMEM_IRQ_MSIX), "msix"));
	EXPECT_TRUE(!strcmp(ivshmem_event_name(IVSHMEM_EVENT_READY), "ready"));
}

/* Run ivshmem-ctl with @args (space-separated); its exit status, stdout in @out. */
static int run_ctl(char *out, size_t len, const char *args)
{
	struct spawn sp;

	if (spawn_start(&sp, ctl_path, NULL, args))
		return -1;
	return spawn_finish(&sp, out, len, NULL, 0);
}

TEST(ctl_as_a_host_peer)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 1 << 1 };
	char out[4096], args[256];
	struct ivshmem *a;
	struct server s;

	server_start(&s, NULL);
	join(&s, &a, 0);
	snprintf(args, sizeof(args), "--server %s --json info", s.sock);
	ASSERT_EQ(run_ctl(out, sizeof(out), args), 0);
	EXPECT_TRUE(strstr(out, "\"host_peer\":true"));
	EXPECT_TRUE(strstr(out, "\"peer_id\":1,"));
	EXPECT_TRUE(strstr(out, "\"size\":1048576,"));
	EXPECT_TRUE(strstr(out, "\"irq_mode\":\"host-eventfd\""));

	snprintf(args, sizeof(args), "-s %s ring 0 1", s.sock);
	ASSERT_EQ(run_ctl(out, sizeof(out), args), 0);
	ASSERT_EQ(ivshmem_wait(a, set, 5000), 0);
	snprintf(args, sizeof(args), "-s %s ring 7 0", s.sock);
	EXPECT_EQ(run_ctl(out, sizeof(out), args), 1);

	snprintf(args, sizeof(args), "-s %s write --fill 0x41 --length 3 100", s.sock);
	ASSERT_EQ(run_ctl(out, sizeof(out), args), 0);
	snprintf(args, sizeof(args), "-s %s read 100 3", s.sock);
	ASSERT_EQ(run_ctl(out, sizeof(out), args), 0);
	EXPECT_TRUE(!strcmp(out, "AAA"));
	snprintf(args, sizeof(args), "-s %s wait -t 50 0", s.sock);
	EXPECT_EQ(run_ctl(out, sizeof(out), args), 3);
	EXPECT_EQ(run_ctl(out, sizeof(out), "-s /nonexistent info"), 1);
	ivshmem_close(a);
	server_stop(&s);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: lib_host_test PATH-TO-ivshmem-server PATH-TO-ivshmem-ctl\n");
		return 2;
	}
	server_path = argv[1];
	ctl_path = argv[2];
	return harness_main(1, argv);
}
