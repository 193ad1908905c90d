// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of ivshmem-server, through a client that speaks QEMU's
 * protocol.  Each test starts its own server; with IVT_VALGRIND=1 the
 * server runs under valgrind, and any memory error or leak at shutdown
 * fails the test that stopped it.
 *
 * usage: server_test PATH-TO-ivshmem-server
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/harness.h"
#include "server-proto.h"

#define VALGRIND_ERROR	99
#define MSG_MS		5000	/* a message the server owes us */
#define QUIET_MS	200	/* how long "nothing more comes" is watched */

static const char *server_bin;

struct server {
	pid_t pid;
	char dir[64], sock[96], log[96], shm[48];
};

static bool use_valgrind(void)
{
	const char *v = getenv("IVT_VALGRIND");

	return v && *v == '1';
}

/* Start a server with the default test options plus NULL-terminated extras. */
static void server_start(struct server *s, ...)
{
	const char *argv[48];
	int argc = 0;
	const char *arg;
	va_list ap;

	snprintf(s->dir, sizeof(s->dir), "/tmp/ivs-test.XXXXXX");
	ASSERT_TRUE(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/log", s->dir);
	snprintf(s->shm, sizeof(s->shm), "ivs-test-%d", (int)getpid());

	if (use_valgrind()) {
		argv[argc++] = "valgrind";
		argv[argc++] = "-q";
		argv[argc++] = "--error-exitcode=" "99";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--errors-for-leak-kinds=definite,indirect,possible";
	}
	argv[argc++] = server_bin;
	argv[argc++] = "-F";
	argv[argc++] = "-S";
	argv[argc++] = s->sock;
	argv[argc++] = "-M";
	argv[argc++] = s->shm;
	argv[argc++] = "-l";
	argv[argc++] = "1M";
	va_start(ap, s);
	while ((arg = va_arg(ap, const char *)) && argc < 46)
		argv[argc++] = arg;
	va_end(ap);
	argv[argc] = NULL;

	s->pid = fork();
	ASSERT_TRUE(s->pid >= 0);
	if (s->pid == 0) {
		/* A test that ends early must not leave its server behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	for (int i = 0; i < 1000 && access(s->sock, F_OK); i++)
		usleep(10000);
	__CHECK(access(s->sock, F_OK) == 0, true, "server socket never appeared");
}

/* SIGTERM the server; returns its exit status (valgrind's if it found errors). */
static int server_stop(struct server *s)
{
	int status;

	kill(s->pid, SIGTERM);
	if (waitpid(s->pid, &status, 0) != s->pid || !WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status) == VALGRIND_ERROR) {
		TH_LOG("valgrind found errors: see %s", s->log);
	} else if (WEXITSTATUS(status) == 0) {
		unlink(s->log);
		rmdir(s->dir);
	}
	return WEXITSTATUS(status);
}

static bool server_log_has(struct server *s, const char *text)
{
	char buf[65536];
	ssize_t n;
	int fd = open(s->log, O_RDONLY);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return strstr(buf, text) != NULL;
}

static int server_fd_count_now(struct server *s)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)s->pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * The server's open fds once it is idle: a client may hear of an event
 * before the server has closed what that event released.
 */
static int server_fd_count(struct server *s)
{
	int last = -1;

	for (int i = 0; i < 100; i++) {
		usleep(50000);
		int n = server_fd_count_now(s);
		if (n == last)
			return n;
		last = n;
	}
	return last;
}

static int client_connect(struct server *s)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_TRUE(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s->sock);
	__CHECK(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, true,
		"connect: %s", strerror(errno));
	return fd;
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, timeout_ms) == 1;
}

/* Receive one message; the test fails unless it is @value with(out) an fd. */
static int expect_msg(int c, int64_t value, bool with_fd)
{
	int64_t got;
	int fd;

	__CHECK(readable(c, MSG_MS), true, "no message, expected %lld", (long long)value);
	__CHECK(ivshmem_proto_recv(c, &got, &fd) == 0, true, "recv: %s", strerror(errno));
	__CHECK(got == value, true, "got %lld, expected %lld", (long long)got, (long long)value);
	__CHECK((fd >= 0) == with_fd, true, "message %lld: fd %d", (long long)value, fd);
	return fd;
}

static bool is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* Nothing more arrives: no message, and the connection is still open. */
static bool quiet(int c)
{
	return !readable(c, QUIET_MS);
}

/* True once the server has closed @c (buffered messages are skipped). */
static bool closed_by_server(int c, int timeout_ms)
{
	int64_t v;
	int fd;

	while (readable(c, timeout_ms)) {
		if (ivshmem_proto_recv(c, &v, &fd) < 0)
			return errno == ECONNRESET;
		if (fd >= 0)
			close(fd);
	}
	return false;
}

/*
 * The whole greeting of a new client with ID @id, given the IDs of the
 * clients already there; the own eventfds go to @own (may be NULL).
 */
static void expect_greeting(int c, int id, const int *peers, int npeers, int nvec,
			    int *own, int (*peer_fds)[8])
{
	struct stat st;
	int fd;

	expect_msg(c, IVSHMEM_PROTOCOL_VERSION, false);
	expect_msg(c, id, false);
	fd = expect_msg(c, IVSHMEM_PROTO_SHM_MSG, true);
	ASSERT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 1 << 20);
	close(fd);
	for (int p = 0; p < npeers; p++) {
		for (int v = 0; v < nvec; v++) {
			fd = expect_msg(c, peers[p], true);
			EXPECT_TRUE(is_eventfd(fd));
			if (peer_fds)
				peer_fds[p][v] = fd;
			else
				close(fd);
		}
	}
	for (int v = 0; v < nvec; v++) {
		fd = expect_msg(c, id, true);
		EXPECT_TRUE(is_eventfd(fd));
		if (own)
			own[v] = fd;
		else
			close(fd);
	}
}

static void expect_peer_connect(int c, int id, int nvec, int *fds)
{
	for (int v = 0; v < nvec; v++) {
		int fd = expect_msg(c, id, true);

		if (fds)
			fds[v] = fd;
		else
			close(fd);
	}
}

TEST(greeting_order_and_fds)
{
	struct server s = { 0 };
	int c;

	server_start(&s, "-n", "3", (const char *)NULL);
	c = client_connect(&s);
	expect_greeting(c, 0, NULL, 0, 3, NULL, NULL);
	EXPECT_TRUE(quiet(c));
	close(c);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(peers_told_of_connect_and_disconnect)
{
	struct server s = { 0 };
	int a, b, ids[] = { 0 };

	server_start(&s, "-n", "2", (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 2, NULL, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, ids, 1, 2, NULL, NULL);
	expect_peer_connect(a, 1, 2, NULL);
	EXPECT_TRUE(quiet(a));
	close(b);
	expect_msg(a, 1, false);	/* disconnect: the ID alone */
	EXPECT_TRUE(quiet(a));
	close(a);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(eventfd_write_wakes_peer_on_right_vector)
{
	struct server s = { 0 };
	int a, b, ids[] = { 0 }, b_own[8], a_to_b[8];
	uint64_t one = 1;

	server_start(&s, "-n", "4", (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 4, NULL, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, ids, 1, 4, b_own, NULL);
	expect_peer_connect(a, 1, 4, a_to_b);

	ASSERT_EQ(write(a_to_b[2], &one, sizeof(one)), sizeof(one));
	for (int v = 0; v < 4; v++)
		EXPECT_EQ(readable(b_own[v], v == 2 ? MSG_MS : 0), v == 2);
	for (int v = 0; v < 4; v++) {
		close(b_own[v]);
		close(a_to_b[v]);
	}
	close(a);
	close(b);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(ids_reused_only_after_release)
{
	struct server s = { 0 };
	int a, b, c, d, ids01[] = { 0, 1 }, ids1[] = { 1 };

	server_start(&s, (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 1, NULL, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, (int[]){ 0 }, 1, 1, NULL, NULL);
	close(a);
	expect_peer_connect(b, 0, 0, NULL);
	expect_msg(b, 0, false);
	c = client_connect(&s);
	expect_greeting(c, 0, ids1, 1, 1, NULL, NULL);	/* 0 is free again */
	d = client_connect(&s);
	expect_greeting(d, 2, ids01, 2, 1, NULL, NULL);	/* 1 is still taken */
	close(b);
	close(c);
	close(d);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(full_server_refuses_cleanly)
{
	struct server s = { 0 };
	int c[3], extra, ids[] = { 0, 2 };

	server_start(&s, "--max-clients", "3", (const char *)NULL);
	for (int i = 0; i < 3; i++) {
		c[i] = client_connect(&s);
		expect_greeting(c[i], i, (int[]){ 0, 1 }, i, 1, NULL, NULL);
	}
	extra = client_connect(&s);
	EXPECT_TRUE(closed_by_server(extra, MSG_MS));
	EXPECT_TRUE(server_log_has(&s, "all 3 IDs are in use"));
	close(extra);
	/* Once one leaves (and the server has seen it), its ID is free. */
	expect_peer_connect(c[0], 1, 1, NULL);
	expect_peer_connect(c[0], 2, 1, NULL);
	close(c[1]);
	expect_msg(c[0], 1, false);
	extra = client_connect(&s);
	expect_greeting(extra, 1, ids, 2, 1, NULL, NULL);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(extra);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST_TIMEOUT(client_that_never_reads_is_dropped, 120)
{
	struct server s = { 0 };
	int silent, watcher, x;

	server_start(&s, "--queue-limit", "16", (const char *)NULL);
	silent = client_connect(&s);	/* never reads */
	watcher = client_connect(&s);
	expect_greeting(watcher, 1, (int[]){ 0 }, 1, 1, NULL, NULL);

	/* Each cycle queues two notifications for the silent client. */
	for (int i = 0; i < 2000 && !server_log_has(&s, "messages behind"); i++) {
		x = client_connect(&s);
		expect_greeting(x, 2, (int[]){ 0, 1 }, 2, 1, NULL, NULL);
		close(x);
		expect_peer_connect(watcher, 2, 1, NULL);
		expect_msg(watcher, 2, false);
	}
	EXPECT_TRUE(server_log_has(&s, "messages behind; dropping it"));
	EXPECT_TRUE(closed_by_server(silent, MSG_MS));

	/* The others carried on: the watcher hears of the drop, and a
	 * newcomer is greeted in full with the freed ID. */
	expect_msg(watcher, 0, false);
	x = client_connect(&s);
	expect_greeting(x, 0, (int[]){ 1 }, 1, 1, NULL, NULL);
	close(x);
	close(silent);
	close(watcher);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(client_sending_bytes_is_dropped)
{
	struct server s = { 0 };
	int a, b;

	server_start(&s, (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 1, NULL, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, (int[]){ 0 }, 1, 1, NULL, NULL);
	expect_peer_connect(a, 1, 1, NULL);
	ASSERT_EQ(write(a, "hello", 5), 5);
	EXPECT_TRUE(closed_by_server(a, MSG_MS));
	expect_msg(b, 0, false);
	EXPECT_TRUE(server_log_has(&s, "sent data the protocol does not allow"));
	close(a);
	close(b);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST_TIMEOUT(thousand_cycles_leak_no_fd, 300)
{
	struct server s = { 0 };
	int watcher, before, after;

	server_start(&s, "-n", "2", (const char *)NULL);
	watcher = client_connect(&s);
	expect_greeting(watcher, 0, NULL, 0, 2, NULL, NULL);
	before = server_fd_count(&s);
	for (int i = 0; i < 1000; i++) {
		int x = client_connect(&s);

		expect_greeting(x, 1, (int[]){ 0 }, 1, 2, NULL, NULL);
		close(x);
		expect_peer_connect(watcher, 1, 2, NULL);
		expect_msg(watcher, 1, false);
	}
	after = server_fd_count(&s);
	TH_LOG("server fds: %d before, %d after 1000 cycles", before, after);
	EXPECT_EQ(after, before);
	close(watcher);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(sigterm_removes_socket_shm_and_pid_file)
{
	struct server s = { 0 };
	char pid_file[128], shm[96];
	int c;

	snprintf(pid_file, sizeof(pid_file), "/tmp/ivs-test-%d.pid", (int)getpid());
	server_start(&s, "-p", pid_file, (const char *)NULL);
	snprintf(shm, sizeof(shm), "/dev/shm/%s", s.shm);
	c = client_connect(&s);
	expect_greeting(c, 0, NULL, 0, 1, NULL, NULL);
	EXPECT_EQ(access(shm, F_OK), 0);
	EXPECT_EQ(access(pid_file, F_OK), 0);
	EXPECT_EQ(server_stop(&s), 0);
	EXPECT_TRUE(closed_by_server(c, MSG_MS));
	EXPECT_EQ(access(s.sock, F_OK), -1);
	EXPECT_EQ(access(shm, F_OK), -1);
	EXPECT_EQ(access(pid_file, F_OK), -1);
	close(c);
}

TEST(keep_shm_keeps_it)
{
	struct server s = { 0 };
	char shm[96];

	server_start(&s, "--keep-shm", (const char *)NULL);
	snprintf(shm, sizeof(shm), "/dev/shm/%s", s.shm);
	EXPECT_EQ(server_stop(&s), 0);
	EXPECT_EQ(access(shm, F_OK), 0);
	unlink(shm);
}

TEST(socket_permissions_and_credentials)
{
	struct server s = { 0 };
	struct stat st;
	char text[64];
	int c;

	server_start(&s, (const char *)NULL);
	ASSERT_EQ(stat(s.sock, &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0600);
	c = client_connect(&s);
	expect_greeting(c, 0, NULL, 0, 1, NULL, NULL);
	snprintf(text, sizeof(text), "client 0 connected: pid %d uid %u", (int)getpid(),
		 (unsigned int)getuid());
	EXPECT_TRUE(server_log_has(&s, text));
	close(c);
	EXPECT_EQ(server_stop(&s), 0);

	server_start(&s, "--socket-mode", "0660", "--socket-group", "root", (const char *)NULL);
	ASSERT_EQ(stat(s.sock, &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0660);
	EXPECT_EQ(st.st_gid, 0);
	EXPECT_EQ(server_stop(&s), 0);
}

static int run_server_status(const char *const *args)
{
	const char *argv[16] = { server_bin, "-F", "-S", "/tmp/ivs-test-never" };
	int argc = 4, status;
	pid_t pid;

	while (*args)
		argv[argc++] = *args++;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		execv(server_bin, (char **)argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(sizes_and_counts_the_device_cannot_use_are_refused)
{
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "3M", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "1K", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "0", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "4Q", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-n", "0", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-n", "257", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--max-clients", "65537", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--bogus", NULL }), 2);
	EXPECT_EQ(access("/tmp/ivs-test-never", F_OK), -1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: server_test PATH-TO-ivshmem-server\n");
		return 2;
	}
	server_bin = argv[1];
	signal(SIGPIPE, SIG_IGN);
	return harness_main(argc, argv);
}
