// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of ivshmem-server, through a client that speaks QEMU's
 * protocol.  Each test starts its own server in its own temporary
 * directory; with IVT_VALGRIND=1 the server runs under valgrind, and any
 * memory error or leak at shutdown fails the test that stopped it.
 *
 * Every process started here dies with the test that started it
 * (PR_SET_PDEATHSIG) and has a timeout of its own (alarm() survives exec).
 * A server that daemonizes is reparented to this program, a subreaper,
 * which kills what is left when it ends.
 *
 * usage: server_test PATH-TO-ivshmem-server [PATH-TO-ivshmem-server.service]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
#define CHILD_TIMEOUT_S	900	/* no process started here outlives this */

static const char *server_bin;
static const char *unit_file;
/*
 * The server again, where another user can execute it: the checkout may
 * sit in a 0700 home directory.  A 0755 directory of /tmp, which every
 * user can cross; made by main() when root, removed at exit.
 */
static char shared_bin_dir[32] = "/tmp/ivs-srvbin.XXXXXX";
static char shared_bin[64];

struct server {
	pid_t pid;
	char dir[64], sock[96], log[96], shm[48];
};

/* How a server is started, beyond its options. */
struct how {
	bool daemon;		/* no -F: it must daemonize */
	bool bare;		/* none of the default -F -S -M -l */
	rlim_t nofile;		/* RLIMIT_NOFILE, 0 to inherit */
	const char *cwd;
	const char *notify;	/* NOTIFY_SOCKET */
	uid_t uid;		/* run as this user if not 0 (needs root) */
};

static bool use_valgrind(void)
{
	const char *v = getenv("IVT_VALGRIND");

	return v && *v == '1';
}

/* In every child: die with the parent, and after a while regardless. */
static void child_limits(pid_t parent, unsigned int timeout_s)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	alarm(timeout_s);
}

/* A private directory for one test, under @base (TMPDIR if NULL). */
static void make_dir_in(char *dir, size_t len, const char *base)
{
	if (!base)
		base = getenv("TMPDIR");
	snprintf(dir, len, "%s/ivs-srvtest.XXXXXX", base && *base ? base : "/tmp");
	ASSERT_TRUE(mkdtemp(dir));
}

static void make_dir(char *dir, size_t len)
{
	make_dir_in(dir, len, NULL);
}

/* Copy the server to shared_bin (mode 0755); 0 on success. */
static int share_server_bin(void)
{
	char buf[65536];
	int in, out, ret = -1;

	if (!mkdtemp(shared_bin_dir) || chmod(shared_bin_dir, 0755) < 0) {
		shared_bin_dir[0] = 0;
		return -1;
	}
	snprintf(shared_bin, sizeof(shared_bin), "%s/ivshmem-server", shared_bin_dir);
	in = open(server_bin, O_RDONLY | O_CLOEXEC);
	out = open(shared_bin, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (in >= 0 && out >= 0) {
		ssize_t n;

		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, n) != n)
				break;
		ret = n == 0 && fchmod(out, 0755) == 0 ? 0 : -1;
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (ret)
		shared_bin[0] = 0;
	return ret;
}

static void unshare_server_bin(void)
{
	if (!shared_bin_dir[0] || strchr(shared_bin_dir, 'X'))
		return;
	unlink(shared_bin);
	rmdir(shared_bin_dir);
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) < 0)
			rmdir(path);	/* an empty directory of the test's */
	}
	closedir(d);
	rmdir(dir);
}

/* The socket, log and shm name of a server in the directory s->dir. */
static void server_paths(struct server *s)
{
	static int n;

	snprintf(s->sock, sizeof(s->sock), "%s/sock", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/log", s->dir);
	snprintf(s->shm, sizeof(s->shm), "ivs-test-%d-%d", (int)getpid(), n++);
}

/* A directory, socket path and shm name of its own; kept if already made. */
static void server_init(struct server *s)
{
	if (s->dir[0])
		return;
	make_dir(s->dir, sizeof(s->dir));
	server_paths(s);
}

static pid_t server_exec(struct server *s, const struct how *how, va_list ap)
{
	const char *argv[48];
	pid_t pid, parent = getpid();
	const char *arg;
	int argc = 0;

	if (use_valgrind()) {
		argv[argc++] = "valgrind";
		argv[argc++] = "-q";
		argv[argc++] = "--error-exitcode=" "99";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--errors-for-leak-kinds=definite,indirect,possible";
	}
	argv[argc++] = how->uid && shared_bin[0] ? shared_bin : server_bin;
	if (!how->bare) {
		if (!how->daemon)
			argv[argc++] = "-F";
		argv[argc++] = "-S";
		argv[argc++] = s->sock;
		argv[argc++] = "-M";
		argv[argc++] = s->shm;
		argv[argc++] = "-l";
		argv[argc++] = "1M";
	}
	while ((arg = va_arg(ap, const char *)) && argc < 46)
		argv[argc++] = arg;
	argv[argc] = NULL;

	pid = fork();
	if (pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		child_limits(parent, CHILD_TIMEOUT_S);
		dup2(fd, 1);
		dup2(fd, 2);
		if (how->nofile) {
			struct rlimit rl = { how->nofile, how->nofile };

			setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (how->uid && (setgid(how->uid) < 0 || setuid(how->uid) < 0))
			_exit(127);
		if (how->uid)
			child_limits(parent, CHILD_TIMEOUT_S);	/* setuid cleared it */
		if (how->cwd && chdir(how->cwd) < 0)
			_exit(127);
		if (how->notify)
			setenv("NOTIFY_SOCKET", how->notify, 1);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

static pid_t server_spawn(struct server *s, const struct how *how, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, how);
	pid = server_exec(s, how, ap);
	va_end(ap);
	return pid;
}

/* Start a foreground server with the default options plus NULL-terminated extras. */
static void server_start_how(struct server *s, const struct how *how, ...)
{
	va_list ap;

	server_init(s);
	va_start(ap, how);
	s->pid = server_exec(s, how, ap);
	va_end(ap);
	ASSERT_TRUE(s->pid > 0);
	for (int i = 0; i < 1000 && access(s->sock, F_OK); i++)
		usleep(10000);
	__CHECK(access(s->sock, F_OK) == 0, true, "server socket never appeared");
}

#define server_start(s, ...) server_start_how(s, &(struct how){ 0 }, __VA_ARGS__)

/* Run a server to its end (at most @timeout_s); its status, -1 if killed. */
static int server_run(struct server *s, const struct how *how, unsigned int timeout_s, ...)
{
	int status;
	va_list ap;
	pid_t pid;

	va_start(ap, timeout_s);
	pid = server_exec(s, how, ap);
	va_end(ap);
	if (pid < 0)
		return -2;
	/* A server that should have refused to start gets this long. */
	for (unsigned int i = 0; i < timeout_s * 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	TH_LOG("server still running after %u s: killed", timeout_s);
	return -1;
}

/* SIGTERM the server; returns its exit status (valgrind's if it found errors). */
static int server_stop(struct server *s)
{
	int status;

	kill(s->pid, SIGTERM);
	if (waitpid(s->pid, &status, 0) != s->pid || !WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status))
		shm_unlink(s->shm);	/* the log stays, for a failure */
	if (WEXITSTATUS(status) == VALGRIND_ERROR) {
		TH_LOG("valgrind found errors: see %s", s->log);
	} else if (WEXITSTATUS(status) == 0) {
		remove_dir(s->dir);
		s->dir[0] = 0;
	}
	return WEXITSTATUS(status);
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0 ? (int)n : 0;
}

static bool server_log_has(struct server *s, const char *text)
{
	static char buf[1 << 20];

	read_text(s->log, buf, sizeof(buf));
	return strstr(buf, text) != NULL;
}

static int server_log_count(struct server *s, const char *text)
{
	static char buf[1 << 22];
	int n = 0;

	read_text(s->log, buf, sizeof(buf));
	for (char *p = buf; (p = strstr(p, text)); p++)
		n++;
	return n;
}

static int server_log_lines(struct server *s)
{
	static char buf[1 << 22];
	int n = 0;

	read_text(s->log, buf, sizeof(buf));
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		n++;
	return n;
}

static int fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
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
		int n = fd_count(s->pid);
		if (n == last)
			return n;
		last = n;
	}
	return last;
}

/* User plus system CPU time of @pid, in milliseconds. */
static long cpu_ms(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return -1;
	/* After the command: state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt, then utime and stime. */
	for (int field = 0; field < 12; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	utime = strtoul(p + 1, &p, 10);
	stime = strtoul(p, NULL, 10);
	return (long)((utime + stime) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static void raise_own_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int connect_path(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_TRUE(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int client_connect(struct server *s)
{
	int fd = connect_path(s->sock);

	__CHECK(fd >= 0, true, "connect: %s", strerror(errno));
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
static void expect_greeting_size(int c, int id, const int *peers, int npeers, int nvec,
				 int *own, off_t size)
{
	struct stat st;
	int fd;

	expect_msg(c, IVSHMEM_PROTOCOL_VERSION, false);
	expect_msg(c, id, false);
	fd = expect_msg(c, IVSHMEM_PROTO_SHM_MSG, true);
	ASSERT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, size);
	close(fd);
	for (int p = 0; p < npeers; p++) {
		for (int v = 0; v < nvec; v++) {
			fd = expect_msg(c, peers[p], true);
			EXPECT_TRUE(is_eventfd(fd));
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

static void expect_greeting(int c, int id, const int *peers, int npeers, int nvec, int *own)
{
	expect_greeting_size(c, id, peers, npeers, nvec, own, 1 << 20);
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

/* Read and forget whatever is waiting on @c. */
static void drain(int c)
{
	int64_t v;
	int fd;

	while (readable(c, 0) && ivshmem_proto_recv(c, &v, &fd) == 0)
		if (fd >= 0)
			close(fd);
}

/* Read a greeting of any ID: returns the ID, the rest is skipped. */
static int read_greeting_id(int c, int npeers, int nvec)
{
	int64_t id;
	int fd;

	expect_msg(c, IVSHMEM_PROTOCOL_VERSION, false);
	__CHECK(readable(c, MSG_MS) && ivshmem_proto_recv(c, &id, &fd) == 0, true, "no ID");
	close(expect_msg(c, IVSHMEM_PROTO_SHM_MSG, true));
	for (int i = 0; i < (npeers + 1) * nvec; i++) {
		int64_t v;

		__CHECK(readable(c, MSG_MS) && ivshmem_proto_recv(c, &v, &fd) == 0 && fd >= 0,
			true, "greeting vector %d missing", i);
		close(fd);
	}
	return (int)id;
}

TEST(greeting_order_and_fds)
{
	struct server s = { 0 };
	int c;

	server_start(&s, "-n", "3", (const char *)NULL);
	c = client_connect(&s);
	expect_greeting(c, 0, NULL, 0, 3, NULL);
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
	expect_greeting(a, 0, NULL, 0, 2, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, ids, 1, 2, NULL);
	expect_peer_connect(a, 1, 2, NULL);
	EXPECT_TRUE(quiet(a));
	close(b);
	expect_msg(a, 1, false);	/* disconnect: the ID alone */
	EXPECT_TRUE(quiet(a));
	close(a);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(no_vectors_still_gives_ids_and_memory)
{
	struct server s = { 0 };
	int a, b;

	server_start(&s, "-n", "0", (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 0, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, NULL, 0, 0, NULL);
	close(b);
	expect_msg(a, 1, false);
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
	expect_greeting(a, 0, NULL, 0, 4, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, ids, 1, 4, b_own);
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

/* A doorbell meant for a departed peer must not reach a newcomer. */
TEST(ids_count_up_and_are_not_reused_at_once)
{
	struct server s = { 0 };
	int a, b, c, d;

	server_start(&s, (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 1, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, (int[]){ 0 }, 1, 1, NULL);
	close(a);
	expect_msg(b, 0, false);
	c = client_connect(&s);
	expect_greeting(c, 2, (int[]){ 1 }, 1, 1, NULL);	/* not 0 */
	close(b);
	expect_peer_connect(c, 2, 0, NULL);
	expect_msg(c, 1, false);
	d = client_connect(&s);
	expect_greeting(d, 3, (int[]){ 2 }, 1, 1, NULL);	/* not 0 or 1 */
	close(c);
	close(d);
	EXPECT_EQ(server_stop(&s), 0);
}

/* 16-bit IDs: after 65535 comes 0, skipping those still in use. */
TEST_TIMEOUT(ids_wrap_within_16_bits_skipping_live_ones, 600)
{
	struct server s = { 0 };
	int a, b, x, batch[64];
	int next = 2;

	server_start(&s, (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 1, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, (int[]){ 0 }, 1, 1, NULL);
	expect_peer_connect(a, 1, 1, NULL);
	/* Every connection takes the next ID: hand out 2..65535. */
	while (next <= IVSHMEM_PROTO_MAX_ID) {
		int n = IVSHMEM_PROTO_MAX_ID + 1 - next < 64 ? IVSHMEM_PROTO_MAX_ID + 1 - next : 64;

		for (int i = 0; i < n; i++)
			batch[i] = client_connect(&s);
		for (int i = 0; i < n; i++)
			close(batch[i]);
		drain(a);
		drain(b);
		next += n;
	}
	/* 0 and 1 are live: the next is 2 again. */
	x = client_connect(&s);
	expect_msg(x, IVSHMEM_PROTOCOL_VERSION, false);
	expect_msg(x, 2, false);
	close(x);
	close(a);
	close(b);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(full_server_refuses_cleanly)
{
	struct server s = { 0 };
	int c[3], extra;

	server_start(&s, "--max-clients", "3", (const char *)NULL);
	for (int i = 0; i < 3; i++) {
		c[i] = client_connect(&s);
		expect_greeting(c[i], i, (int[]){ 0, 1 }, i, 1, NULL);
	}
	extra = client_connect(&s);
	EXPECT_TRUE(closed_by_server(extra, MSG_MS));
	EXPECT_TRUE(server_log_has(&s, "all 3 client slots are in use"));
	close(extra);
	/* Once one leaves (and the server has seen it), there is room. */
	expect_peer_connect(c[0], 1, 1, NULL);
	expect_peer_connect(c[0], 2, 1, NULL);
	close(c[1]);
	expect_msg(c[0], 1, false);
	extra = client_connect(&s);
	expect_greeting(extra, 3, (int[]){ 0, 2 }, 2, 1, NULL);
	for (int i = 0; i < 3; i++)
		close(c[i]);
	close(extra);
	EXPECT_EQ(server_stop(&s), 0);
}

/* Read departures from @c until @id's has come; joins are not expected. */
static void await_departure(int c, unsigned char *gone, int id)
{
	while (!gone[id]) {
		int64_t v;
		int fd;

		__CHECK(readable(c, MSG_MS), true, "no departure of %d", id);
		ASSERT_EQ(ivshmem_proto_recv(c, &v, &fd), 0);
		ASSERT_TRUE(fd < 0 && v >= 0 && v <= IVSHMEM_PROTO_MAX_ID);
		gone[v] = 1;
	}
}

/*
 * A client that reads nothing while peers it was told of leave has their
 * departures queued; past --queue-limit it is dropped, and those that read
 * are not.
 */
TEST_TIMEOUT(client_with_too_many_departures_unread_is_dropped, 120)
{
	enum { PEERS = 100 };
	static unsigned char gone[IVSHMEM_PROTO_MAX_ID + 1];
	static int peers[PEERS];
	struct server s = { 0 };
	int silent, watcher, x, id;

	raise_own_fd_limit();
	server_start(&s, "--queue-limit", "16", (const char *)NULL);
	silent = client_connect(&s);	/* never reads */
	watcher = client_connect(&s);
	expect_greeting(watcher, 1, (int[]){ 0 }, 1, 1, NULL);
	/* Enough joins to fill the silent client's socket... */
	for (int i = 0; i < PEERS; i++) {
		peers[i] = client_connect(&s);
		EXPECT_EQ(read_greeting_id(peers[i], 2 + i, 1), 2 + i);
		expect_peer_connect(watcher, 2 + i, 1, NULL);
		for (int j = 0; j < i; j++)
			drain(peers[j]);
	}
	/* ...and as many departures, of which it knows the first. */
	for (int i = 0; i < PEERS; i++) {
		close(peers[i]);
		await_departure(watcher, gone, 2 + i);
		for (int j = i + 1; j < PEERS; j++)
			drain(peers[j]);
	}
	EXPECT_TRUE(server_log_has(&s, "client 0 (pid"));
	EXPECT_EQ(server_log_count(&s, "departures unread; dropping it"), 1);
	EXPECT_TRUE(closed_by_server(silent, MSG_MS));
	/* The watcher carried on: it hears of the drop, and of a newcomer. */
	await_departure(watcher, gone, 0);
	EXPECT_TRUE(!server_log_has(&s, "client 1 (pid"));
	x = client_connect(&s);
	id = read_greeting_id(x, 1, 1);
	EXPECT_EQ(id, 2 + PEERS);
	expect_peer_connect(watcher, id, 1, NULL);
	EXPECT_TRUE(quiet(watcher));
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
	expect_greeting(a, 0, NULL, 0, 1, NULL);
	b = client_connect(&s);
	expect_greeting(b, 1, (int[]){ 0 }, 1, 1, NULL);
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
	expect_greeting(watcher, 0, NULL, 0, 2, NULL);
	before = server_fd_count(&s);
	for (int i = 0; i < 1000; i++) {
		int x = client_connect(&s);

		expect_greeting(x, 1 + i, (int[]){ 0 }, 1, 2, NULL);
		close(x);
		expect_peer_connect(watcher, 1 + i, 2, NULL);
		expect_msg(watcher, 1 + i, false);
	}
	after = server_fd_count(&s);
	TH_LOG("server fds: %d before, %d after 1000 cycles", before, after);
	EXPECT_EQ(after, before);
	close(watcher);
	EXPECT_EQ(server_stop(&s), 0);
}

/*
 * Many clients that all read: each must get everything, on a descriptor
 * budget of one socket and one eventfd per vector per client plus a few.
 */
struct crowd {
	int sock;
	int id;
	long msgs, fds;
	bool closed;
};

static int crowd_read(struct crowd *cl, int n, int timeout_ms, long want)
{
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	int done = 0;

	ASSERT_TRUE(pfd);
	for (int i = 0; i < n; i++) {
		pfd[i].fd = cl[i].closed || cl[i].msgs >= want ? -1 : cl[i].sock;
		pfd[i].events = POLLIN;
	}
	if (poll(pfd, (nfds_t)n, timeout_ms) > 0) {
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* A few at a time, so that nobody starves. */
			for (int k = 0; k < 64 && cl[i].msgs < want; k++) {
				int64_t v;
				int fd;

				if (ivshmem_proto_recv(cl[i].sock, &v, &fd) < 0) {
					cl[i].closed = true;
					break;
				}
				if (cl[i].msgs == 1)
					cl[i].id = (int)v;
				cl[i].msgs++;
				if (fd >= 0) {
					cl[i].fds++;
					close(fd);
				}
				if (!readable(cl[i].sock, 0))
					break;
			}
		}
	}
	for (int i = 0; i < n; i++)
		done += cl[i].msgs >= want;
	free(pfd);
	return done;
}

/*
 * Descriptors the server may hold besides one socket and the eventfds per
 * client: a dozen of its own and a reserve; valgrind holds some more.
 */
#define FD_SLACK	(use_valgrind() ? 64 : 32)

TEST_TIMEOUT(five_hundred_peers_of_eight_vectors_all_complete, 600)
{
	/* Under valgrind each of the n^2 * 8 messages is slow: fewer peers
	 * there; the ASan run takes all 500. */
	const int n = use_valgrind() ? 60 : 500, vec = 8;
	const long want = 3 + (long)n * vec;
	struct crowd *cl = calloc((size_t)n, sizeof(*cl));
	struct how how = { .nofile = (rlim_t)n * (vec + 1) + FD_SLACK };
	int done = 0, peak = 0, bound = n * (vec + 1) + FD_SLACK, short_fds = 0, closed = 0;
	struct server s = { 0 };
	time_t deadline;

	ASSERT_TRUE(cl);
	raise_own_fd_limit();
	server_start_how(&s, &how, "-n", "8", (const char *)NULL);
	/* All at once: a join storm. */
	for (int i = 0; i < n; i++)
		cl[i].sock = client_connect(&s);
	deadline = time(NULL) + 400;
	for (int round = 0; done < n && time(NULL) < deadline; round++) {
		done = crowd_read(cl, n, 1000, want);
		if (round % 16 == 0) {
			int f = fd_count(s.pid);

			peak = f > peak ? f : peak;
		}
	}
	TH_LOG("%d of %d peers complete; server fds: peak %d, bound %d", done, n, peak, bound);
	EXPECT_EQ(done, n);
	EXPECT_TRUE(peak <= bound);
	for (int i = 0; i < n; i++) {
		short_fds += cl[i].fds != 1 + (long)n * vec;
		closed += cl[i].closed;
	}
	TH_LOG("%d peers short of descriptors, %d closed by the server", short_fds, closed);
	EXPECT_EQ(short_fds, 0);
	EXPECT_EQ(closed, 0);
	EXPECT_TRUE(!server_log_has(&s, "dropping"));
	EXPECT_TRUE(!server_log_has(&s, "refusing"));
	for (int i = 0; i < n; i++)
		close(cl[i].sock);
	free(cl);
	EXPECT_EQ(server_stop(&s), 0);
}

/* Clients that read nothing must not cost one that reads. */
TEST_TIMEOUT(idle_clients_do_not_drop_a_reader, 300)
{
	enum { IDLE = 150, VEC = 4 };
	struct how how = { .nofile = (IDLE + 2) * (VEC + 1) + FD_SLACK };
	struct server s = { 0 };
	int reader, idle[IDLE], x, id;

	raise_own_fd_limit();
	server_start_how(&s, &how, "-n", "4", (const char *)NULL);
	reader = client_connect(&s);
	expect_greeting(reader, 0, NULL, 0, VEC, NULL);
	for (int i = 0; i < IDLE; i++) {
		idle[i] = client_connect(&s);
		expect_peer_connect(reader, 1 + i, VEC, NULL);
	}
	x = client_connect(&s);
	id = read_greeting_id(x, IDLE + 1, VEC);
	EXPECT_EQ(id, IDLE + 1);
	expect_peer_connect(reader, id, VEC, NULL);
	close(x);
	expect_msg(reader, id, false);
	EXPECT_TRUE(quiet(reader));
	EXPECT_TRUE(!server_log_has(&s, "dropping"));
	TH_LOG("server fds with %d clients of %d vectors: %d", IDLE + 1, VEC,
	       fd_count(s.pid));
	for (int i = 0; i < IDLE; i++)
		close(idle[i]);
	close(reader);
	EXPECT_EQ(server_stop(&s), 0);
}

/*
 * Once a server can afford no more clients, newcomers are refused at once;
 * those already there are never dropped for it.
 */
TEST(newcomers_refused_when_descriptors_run_out)
{
	struct how how = { .nofile = 128 };
	struct server s = { 0 };
	int c[32], n = 0, x;

	server_start_how(&s, &how, "-n", "8", (const char *)NULL);
	for (; n < 32; n++) {
		char byte;

		c[n] = client_connect(&s);
		if (!readable(c[n], MSG_MS) || recv(c[n], &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
			close(c[n]);
			break;
		}
		expect_greeting(c[n], n, (int[]){ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 },
				n, 8, NULL);
		for (int i = 0; i < n; i++)
			expect_peer_connect(c[i], n, 8, NULL);
	}
	TH_LOG("%d clients of 8 vectors fit in 128 descriptors", n);
	EXPECT_TRUE(n >= 5 && n < 32);
	EXPECT_TRUE(server_log_has(&s, "file descriptors"));
	for (int i = 0; i < n; i++)
		EXPECT_TRUE(quiet(c[i]));
	/* Room again once one leaves. */
	close(c[0]);
	for (int i = 1; i < n; i++)
		expect_msg(c[i], 0, false);
	x = client_connect(&s);
	EXPECT_EQ(read_greeting_id(x, n - 1, 8), n);
	for (int i = 1; i < n; i++)
		expect_peer_connect(c[i], n, 8, NULL);
	close(x);
	for (int i = 1; i < n; i++)
		close(c[i]);
	EXPECT_EQ(server_stop(&s), 0);
}

/*
 * Unprivileged, the server may have only RLIMIT_NOFILE descriptors in
 * flight to clients that have not read them (ETOOMANYREFS).  Clients that
 * never read must then cost the others a wait, not their connection, and
 * the wait must not spin.
 */
TEST_TIMEOUT(descriptors_in_flight_beyond_the_limit_are_waited_for, 120)
{
	enum { IDLE = 4 };
	struct how how = { .nofile = 80 + (use_valgrind() ? 32 : 0), .uid = 65534 };
	unsigned char known[IDLE + 1] = { 0 };
	struct server s = { 0 };
	int idle[IDLE], reader, vec = 0, bad = 0;
	long before, used;
	int64_t v;
	int fd;

	if (getuid() != 0)
		SKIP("needs root to run the server as another user");
	ASSERT_TRUE(shared_bin[0]);
	/* Where that user can reach it, wherever TMPDIR is. */
	make_dir_in(s.dir, sizeof(s.dir), "/tmp");
	server_paths(&s);
	ASSERT_EQ(chown(s.dir, how.uid, how.uid), 0);
	server_start_how(&s, &how, "-n", "8", (const char *)NULL);
	for (int i = 0; i < IDLE; i++) {
		idle[i] = client_connect(&s);
		usleep(20000);
	}
	/* Their greetings and news alone exceed the 80 in flight. */
	reader = client_connect(&s);
	usleep(300000);
	before = cpu_ms(s.pid);
	usleep(1000000);
	used = cpu_ms(s.pid) - before;
	TH_LOG("waiting for descriptors in flight: %ld ms of CPU in 1 s", used);
	EXPECT_TRUE(used < 200);
	expect_msg(reader, IVSHMEM_PROTOCOL_VERSION, false);
	expect_msg(reader, IDLE, false);
	/* Not all of it yet: the limit is reached. */
	while (readable(reader, 0) && ivshmem_proto_recv(reader, &v, &fd) == 0) {
		if (fd >= 0)
			close(fd);
		vec += v == IDLE && fd >= 0;
	}
	EXPECT_TRUE(vec < 8);
	/* Once the idle ones go, the reader gets all it is owed; of the peers
	 * it was not told of before they left, it hears nothing. */
	for (int i = 0; i < IDLE; i++)
		close(idle[i]);
	while (vec < 8) {
		__CHECK(readable(reader, MSG_MS), true, "%d own vectors", vec);
		ASSERT_EQ(ivshmem_proto_recv(reader, &v, &fd), 0);
		ASSERT_TRUE(v >= IVSHMEM_PROTO_SHM_MSG && v <= IDLE);
		if (v == IVSHMEM_PROTO_SHM_MSG) {
			close(fd);	/* the memory: delayed like the rest */
		} else if (fd >= 0) {
			close(fd);
			vec += v == IDLE;
			known[v] = 1;
		} else {
			bad += !known[v];
			known[v] = 0;
		}
	}
	EXPECT_EQ(bad, 0);
	EXPECT_TRUE(!server_log_has(&s, "dropping"));
	close(reader);
	EXPECT_EQ(server_stop(&s), 0);
}

/* A storm of peers that connect and close at once, as fast as they can. */
static pid_t storm_start(struct server *s, unsigned int seconds)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		time_t end = time(NULL) + seconds;

		child_limits(parent, seconds + 60);
		while (time(NULL) < end) {
			int fd = connect_path(s->sock);

			if (fd >= 0)
				close(fd);
		}
		_exit(0);
	}
	return pid;
}

/*
 * Through a 10 s connect/close storm, a reader that stalls 200 ms every
 * 1000 messages keeps up and is never dropped; what it hears is
 * consistent: no departure of a peer it was not told of, no peer twice.
 */
TEST_TIMEOUT(reader_survives_a_connect_storm, 300)
{
	static unsigned char known[IVSHMEM_PROTO_MAX_ID + 1];
	struct server s = { 0 };
	long msgs = 0, bad = 0;
	int reader, x, id, status;
	pid_t storm;

	server_start(&s, "-n", "2", (const char *)NULL);
	reader = client_connect(&s);
	expect_greeting(reader, 0, NULL, 0, 2, NULL);
	storm = storm_start(&s, 10);
	ASSERT_TRUE(storm > 0);
	for (;;) {
		int64_t v;
		int fd;

		if (waitpid(storm, &status, WNOHANG) == storm)
			break;
		if (!readable(reader, 100))
			continue;
		ASSERT_EQ(ivshmem_proto_recv(reader, &v, &fd), 0);
		ASSERT_TRUE(v >= 0 && v <= IVSHMEM_PROTO_MAX_ID);
		if (fd >= 0) {
			close(fd);
			bad += known[v] >= 2;
			known[v]++;
		} else {
			bad += known[v] == 0;
			known[v] = 0;
		}
		if (++msgs % 1000 == 0)
			usleep(200000);
	}
	TH_LOG("the reader got %ld messages, %ld inconsistent", msgs, bad);
	EXPECT_EQ(bad, 0);
	/* Still connected: it hears of the next peer. */
	x = client_connect(&s);
	expect_msg(x, IVSHMEM_PROTOCOL_VERSION, false);
	{
		int64_t v;
		int fd;

		ASSERT_TRUE(readable(x, MSG_MS));
		ASSERT_EQ(ivshmem_proto_recv(x, &v, &fd), 0);
		id = (int)v;
	}
	for (;;) {
		int64_t v;
		int fd;

		__CHECK(readable(reader, MSG_MS), true, "the reader never heard of peer %d", id);
		ASSERT_EQ(ivshmem_proto_recv(reader, &v, &fd), 0);
		if (fd >= 0)
			close(fd);
		if (v == id && fd >= 0)
			break;
	}
	EXPECT_TRUE(!server_log_has(&s, "client 0 (pid"));
	close(x);
	close(reader);
	EXPECT_EQ(server_stop(&s), 0);
}

/* Out of descriptors with a connection pending, the server does not spin. */
TEST_TIMEOUT(accept_out_of_descriptors_does_not_spin, 120)
{
	struct rlimit low, saved;
	struct server s = { 0 };
	long before, used;
	int c0, c, lines;

	server_start(&s, (const char *)NULL);
	/* Serving, not just listening. */
	c0 = client_connect(&s);
	expect_greeting(c0, 0, NULL, 0, 1, NULL);
	ASSERT_EQ(prlimit(s.pid, RLIMIT_NOFILE, NULL, &saved), 0);
	low = saved;
	low.rlim_cur = 3;	/* below every descriptor it has */
	ASSERT_EQ(prlimit(s.pid, RLIMIT_NOFILE, &low, NULL), 0);
	c = client_connect(&s);	/* queued in the backlog */
	usleep(100000);
	lines = server_log_lines(&s);
	before = cpu_ms(s.pid);
	sleep(2);
	used = cpu_ms(s.pid) - before;
	lines = server_log_lines(&s) - lines;
	TH_LOG("out of descriptors for 2 s: %ld ms of CPU, %d log lines", used, lines);
	EXPECT_TRUE(used >= 0 && used < 200);
	EXPECT_TRUE(lines <= 5);
	/* Given descriptors again, it takes the waiting client. */
	ASSERT_EQ(prlimit(s.pid, RLIMIT_NOFILE, &saved, NULL), 0);
	expect_greeting(c, 1, (int[]){ 0 }, 1, 1, NULL);
	close(c);
	close(c0);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST_TIMEOUT(connection_log_lines_are_rate_limited, 120)
{
	struct server s = { 0 };
	int lines;

	server_start(&s, (const char *)NULL);
	for (int i = 0; i < 500; i++) {
		int x = client_connect(&s);

		read_greeting_id(x, 0, 1);
		close(x);
	}
	lines = server_log_lines(&s);
	TH_LOG("500 connections logged in %d lines", lines);
	EXPECT_TRUE(lines < 60);
	EXPECT_EQ(server_stop(&s), 0);

	/* -v shows every one. */
	server_start(&s, "-v", (const char *)NULL);
	for (int i = 0; i < 30; i++) {
		int x = client_connect(&s);

		read_greeting_id(x, 0, 1);
		close(x);
	}
	usleep(200000);
	EXPECT_TRUE(server_log_has(&s, "client 29 connected"));
	EXPECT_TRUE(server_log_has(&s, "client 28 (pid"));
	EXPECT_EQ(server_stop(&s), 0);
}

static long own_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/*
 * Accepting and dropping costs the server in proportion to live peers
 * only: about what the client side of each cycle costs this test.
 */
TEST_TIMEOUT(connect_cycles_cost_little_cpu, 300)
{
	enum { CYCLES = 3000 };
	struct server s = { 0 };
	long used, own;
	int watcher;

	server_start(&s, (const char *)NULL);
	watcher = client_connect(&s);
	expect_greeting(watcher, 0, NULL, 0, 1, NULL);
	used = cpu_ms(s.pid);
	own = own_cpu_us();
	for (int i = 0; i < CYCLES; i++) {
		int x = client_connect(&s);

		expect_greeting(x, 1 + i, (int[]){ 0 }, 1, 1, NULL);
		close(x);
		expect_peer_connect(watcher, 1 + i, 1, NULL);
		expect_msg(watcher, 1 + i, false);
	}
	used = cpu_ms(s.pid) - used;
	own = own_cpu_us() - own;
	TH_LOG("%d connect/close cycles: %ld us of server CPU each, %ld us of the client's",
	       CYCLES, used * 1000 / CYCLES, own / CYCLES);
	/* Scanning all 65,536 ID slots three times per cycle costs several
	 * times the client's work.  Valgrind's time says nothing. */
	if (!use_valgrind())
		EXPECT_TRUE(used * 1000 < 2 * own + 10L * CYCLES);
	close(watcher);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(sigterm_removes_socket_shm_and_pid_file)
{
	struct server s = { 0 };
	char pid_file[160], shm[96];
	int c;

	server_init(&s);
	snprintf(pid_file, sizeof(pid_file), "%s/pid", s.dir);
	server_start(&s, "-p", pid_file, (const char *)NULL);
	snprintf(shm, sizeof(shm), "/dev/shm/%s", s.shm);
	c = client_connect(&s);
	expect_greeting(c, 0, NULL, 0, 1, NULL);
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
	shm_unlink(s.shm);
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
	expect_greeting(c, 0, NULL, 0, 1, NULL);
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

/* Exit status of a server given only @args (its socket in a private directory). */
static int run_server_status(const char *const *args)
{
	const char *argv[16];
	struct server s = { 0 };
	pid_t pid, parent = getpid();
	int argc = 0, status;

	server_init(&s);
	argv[argc++] = server_bin;
	argv[argc++] = "-F";
	argv[argc++] = "-S";
	argv[argc++] = s.sock;
	argv[argc++] = "-M";
	argv[argc++] = s.shm;
	while (*args && argc < 15)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		child_limits(parent, 5);
		dup2(null, 2);
		execv(server_bin, (char **)argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	EXPECT_EQ(access(s.sock, F_OK), -1);
	shm_unlink(s.shm);
	remove_dir(s.dir);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(sizes_and_counts_the_device_cannot_use_are_refused)
{
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "3M", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "1K", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "0", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "4Q", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-n", "257", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--max-clients", "0", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--max-clients", "65537", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--bogus", NULL }), 2);
}

/* Whitespace, signs and junk are errors, not numbers. */
TEST(numbers_are_strict)
{
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "4 ", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", " 4M", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", " -1", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "1MB", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-l", "16777216T", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-n", " 1", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-n", "+1", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "-n", "1 ", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--max-clients", "-1", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--queue-limit", "1k", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--socket-mode", " 0660", NULL }), 2);
	EXPECT_EQ(run_server_status((const char *[]){ "--socket-mode", "-0660", NULL }), 2);
}

TEST(hex_and_leading_zero_numbers)
{
	struct server s = { 0 };
	int c;

	/* 010 is ten, never eight. */
	server_start(&s, "-n", "010", "--max-clients", "0x2", (const char *)NULL);
	c = client_connect(&s);
	expect_greeting(c, 0, NULL, 0, 10, NULL);
	close(c);
	EXPECT_EQ(server_stop(&s), 0);
}

/* --- Never clobber what is not ours: the socket --- */

TEST(second_server_on_a_live_socket_is_refused)
{
	struct server a = { 0 }, b = { 0 };
	struct stat before, after;
	int c;

	server_start(&a, (const char *)NULL);
	ASSERT_EQ(stat(a.sock, &before), 0);
	server_init(&b);
	snprintf(b.sock, sizeof(b.sock), "%s", a.sock);
	EXPECT_EQ(server_run(&b, &(struct how){ 0 }, 5, (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&b, "already listening"));
	ASSERT_EQ(stat(a.sock, &after), 0);
	EXPECT_EQ(after.st_ino, before.st_ino);
	/* (Its probes were clients for a moment.) */
	c = client_connect(&a);
	read_greeting_id(c, 0, 1);
	close(c);
	EXPECT_EQ(access(a.sock, F_OK), 0);
	/* Nor did it leave its memory behind. */
	EXPECT_EQ(shm_unlink(b.shm), -1);
	remove_dir(b.dir);
	EXPECT_EQ(server_stop(&a), 0);
}

TEST(socket_path_that_is_not_a_socket_is_refused)
{
	struct server s = { 0 };
	char text[32];
	int fd;

	server_init(&s);
	fd = open(s.sock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(write(fd, "precious", 8), 8);
	close(fd);
	EXPECT_EQ(server_run(&s, &(struct how){ 0 }, 5, (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&s, "not a socket"));
	read_text(s.sock, text, sizeof(text));
	EXPECT_TRUE(strcmp(text, "precious") == 0);
	shm_unlink(s.shm);
	remove_dir(s.dir);
}

TEST(stale_socket_is_replaced)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct server s = { 0 };
	int fd, c;

	server_init(&s);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s.sock);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);	/* left behind, as by a crash */
	s.pid = server_spawn(&s, &(struct how){ 0 }, (const char *)NULL);
	for (int i = 0; i < 1000 && (c = connect_path(s.sock)) < 0; i++)
		usleep(10000);
	ASSERT_TRUE(c >= 0);
	expect_greeting(c, 0, NULL, 0, 1, NULL);
	close(c);
	EXPECT_EQ(server_stop(&s), 0);
}

TEST(exit_leaves_a_socket_that_is_no_longer_ours)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct server s = { 0 };
	struct stat mine, after;
	char dir[64];
	int fd;

	server_start(&s, (const char *)NULL);
	/* Someone else now owns the path. */
	ASSERT_EQ(unlink(s.sock), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s.sock);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ASSERT_EQ(listen(fd, 1), 0);
	ASSERT_EQ(stat(s.sock, &mine), 0);
	snprintf(dir, sizeof(dir), "%s", s.dir);
	kill(s.pid, SIGTERM);
	ASSERT_EQ(waitpid(s.pid, NULL, 0), s.pid);
	ASSERT_EQ(stat(s.sock, &after), 0);
	EXPECT_EQ(after.st_ino, mine.st_ino);
	close(fd);
	remove_dir(dir);
}

/* --- Never clobber what is not ours: the memory --- */

static off_t shm_size(const char *name)
{
	struct stat st;
	int fd = shm_open(name, O_RDONLY, 0);

	if (fd < 0)
		return -1;
	fstat(fd, &st);
	close(fd);
	return st.st_size;
}

TEST(second_server_on_a_live_shm_object_is_refused)
{
	struct server a = { 0 }, b = { 0 };
	int c;

	server_start(&a, (const char *)NULL);
	server_init(&b);
	EXPECT_EQ(server_run(&b, &(struct how){ .bare = true }, 5, "-F", "-S", b.sock, "-M",
			     a.shm, "-l", "4K", (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&b, "exists"));
	EXPECT_EQ(shm_size(a.shm), 1 << 20);
	EXPECT_EQ(access(b.sock, F_OK), -1);
	remove_dir(b.dir);
	c = client_connect(&a);
	expect_greeting(c, 0, NULL, 0, 1, NULL);
	close(c);
	EXPECT_EQ(server_stop(&a), 0);
	EXPECT_EQ(shm_size(a.shm), -1);
}

static void make_shm(const char *name, off_t size, mode_t mode, uid_t uid)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, mode);
	char *p;

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(fchmod(fd, mode), 0);
	ASSERT_EQ(ftruncate(fd, size), 0);
	p = mmap(NULL, (size_t)size, PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	memcpy(p, "kept", sizeof("kept"));
	munmap(p, (size_t)size);
	if (uid != getuid())
		ASSERT_EQ(fchown(fd, uid, uid), 0);
	close(fd);
}

TEST(existing_shm_object_is_used_only_when_adopted)
{
	struct server s = { 0 };
	char *p;
	int c, fd;

	server_init(&s);
	make_shm(s.shm, 64 << 10, 0600, getuid());
	/* Not without asking. */
	EXPECT_EQ(server_run(&s, &(struct how){ .bare = true }, 5, "-F", "-S", s.sock, "-M",
			     s.shm, (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&s, "--adopt-shm"));
	/* Nor at another size. */
	EXPECT_EQ(server_run(&s, &(struct how){ .bare = true }, 5, "-F", "-S", s.sock, "-M",
			     s.shm, "-l", "1M", "--adopt-shm", (const char *)NULL), 1);
	EXPECT_EQ(shm_size(s.shm), 64 << 10);

	/* As it is: its size, its contents, and it stays. */
	server_start_how(&s, &(struct how){ .bare = true }, "-F", "-S", s.sock, "-M", s.shm,
			 "--adopt-shm", (const char *)NULL);
	c = client_connect(&s);
	expect_msg(c, IVSHMEM_PROTOCOL_VERSION, false);
	expect_msg(c, 0, false);
	fd = expect_msg(c, IVSHMEM_PROTO_SHM_MSG, true);
	p = mmap(NULL, 64 << 10, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	EXPECT_TRUE(strcmp(p, "kept") == 0);
	munmap(p, 64 << 10);
	close(fd);
	close(c);
	EXPECT_EQ(server_stop(&s), 0);
	EXPECT_EQ(shm_size(s.shm), 64 << 10);
	shm_unlink(s.shm);
}

TEST(shm_object_of_another_user_is_never_used)
{
	struct server s = { 0 };

	if (getuid() != 0)
		SKIP("needs root to make an object of another user");
	server_init(&s);
	make_shm(s.shm, 1 << 20, 0666, 65534);
	EXPECT_EQ(server_run(&s, &(struct how){ 0 }, 5, (const char *)NULL), 1);
	EXPECT_EQ(server_run(&s, &(struct how){ 0 }, 5, "--adopt-shm", (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&s, "not ours"));
	EXPECT_EQ(shm_size(s.shm), 1 << 20);
	shm_unlink(s.shm);
	remove_dir(s.dir);
}

TEST(shm_path_file_is_created_only_anew)
{
	struct server s = { 0 };
	char file[128], text[32];
	int fd;

	server_init(&s);
	snprintf(file, sizeof(file), "%s/precious", s.dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ASSERT_EQ(write(fd, "fourteen bytes", 14), 14);
	close(fd);
	EXPECT_EQ(server_run(&s, &(struct how){ .bare = true }, 5, "-F", "-S", s.sock, "-m",
			     file, "-l", "1M", (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&s, "exists"));
	read_text(file, text, sizeof(text));
	EXPECT_TRUE(strcmp(text, "fourteen bytes") == 0);
	remove_dir(s.dir);
}

TEST(shm_path_file_removed_at_exit_only_if_still_ours)
{
	struct server s = { 0 };
	char file[128], moved[128], text[32];
	struct stat st;
	int fd;

	server_init(&s);
	snprintf(file, sizeof(file), "%s/mem", s.dir);
	snprintf(moved, sizeof(moved), "%s/moved", s.dir);
	server_start_how(&s, &(struct how){ .bare = true }, "-F", "-S", s.sock, "-m", file,
			 "-l", "1M", (const char *)NULL);
	ASSERT_EQ(stat(file, &st), 0);
	EXPECT_EQ(st.st_size, 1 << 20);
	/* Its file is replaced by someone else's. */
	ASSERT_EQ(rename(file, moved), 0);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ASSERT_EQ(write(fd, "theirs", 6), 6);
	close(fd);
	kill(s.pid, SIGTERM);
	ASSERT_EQ(waitpid(s.pid, NULL, 0), s.pid);
	read_text(file, text, sizeof(text));
	EXPECT_TRUE(strcmp(text, "theirs") == 0);
	remove_dir(s.dir);

	/* Left alone, it is removed. */
	s.dir[0] = 0;
	server_init(&s);
	snprintf(file, sizeof(file), "%s/mem", s.dir);
	server_start_how(&s, &(struct how){ .bare = true }, "-F", "-S", s.sock, "-m", file,
			 "-l", "1M", (const char *)NULL);
	EXPECT_EQ(access(file, F_OK), 0);
	EXPECT_EQ(server_stop(&s), 0);
	EXPECT_EQ(access(file, F_OK), -1);
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

TEST(shm_path_directory_gives_an_unnamed_file)
{
	struct server s = { 0 };
	char memdir[128];
	int c;

	server_init(&s);
	snprintf(memdir, sizeof(memdir), "%s/mem", s.dir);
	ASSERT_EQ(mkdir(memdir, 0700), 0);
	server_start_how(&s, &(struct how){ .bare = true }, "-F", "-S", s.sock, "-m", memdir,
			 "-l", "1M", (const char *)NULL);
	c = client_connect(&s);
	expect_greeting(c, 0, NULL, 0, 1, NULL);
	EXPECT_EQ(dir_entries(memdir), 0);
	close(c);
	EXPECT_EQ(server_stop(&s), 0);
}

/* --- Start-up that tells the truth --- */

/* Run a daemonizing server; its status, and what it wrote to stderr. */
static int daemon_run(struct server *s, const struct how *how, ...)
{
	int status;
	va_list ap;
	pid_t pid;

	va_start(ap, how);
	pid = server_exec(s, how, ap);
	va_end(ap);
	if (pid < 0)
		return -2;
	/* It returns once set up: no polling. */
	for (int i = 0; i < 3000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static pid_t read_pid(const char *path)
{
	char text[32];

	if (read_text(path, text, sizeof(text)) <= 0)
		return -1;
	return (pid_t)strtol(text, NULL, 10);
}

/* The daemon is our child (we are a subreaper): stop it and reap it. */
static int daemon_stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status) == VALGRIND_ERROR)
		TH_LOG("valgrind found errors in the daemon");
	return WEXITSTATUS(status);
}

TEST(daemon_fails_loudly_on_a_bad_socket_path)
{
	struct server s = { 0 };

	server_init(&s);
	snprintf(s.sock, sizeof(s.sock), "%s/no/such/dir/sock", s.dir);
	EXPECT_EQ(daemon_run(&s, &(struct how){ .daemon = true }, (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&s, "no/such/dir/sock"));
	EXPECT_EQ(shm_size(s.shm), -1);
	remove_dir(s.dir);
}

TEST(daemon_is_ready_when_it_returns_with_relative_paths)
{
	struct server s = { 0 };
	char sock[128], pid_file[128];
	pid_t pid;
	int c;

	/* The daemon is reparented to this test, which can reap it. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	server_init(&s);
	snprintf(sock, sizeof(sock), "%s/sock", s.dir);
	snprintf(pid_file, sizeof(pid_file), "%s/pid", s.dir);
	ASSERT_EQ(daemon_run(&s, &(struct how){ .daemon = true, .bare = true, .cwd = s.dir },
			     "-S", "sock", "-M", s.shm, "-l", "1M", "-p", "pid",
			     (const char *)NULL), 0);
	/* At once, where asked, and answering. */
	EXPECT_EQ(access(sock, F_OK), 0);
	pid = read_pid(pid_file);
	ASSERT_TRUE(pid > 0);
	c = connect_path(sock);
	ASSERT_TRUE(c >= 0);
	expect_greeting(c, 0, NULL, 0, 1, NULL);
	close(c);
	EXPECT_EQ(daemon_stop(pid), 0);
	/* Removed where they were made, though the daemon changed directory. */
	EXPECT_EQ(access(sock, F_OK), -1);
	EXPECT_EQ(access(pid_file, F_OK), -1);
	remove_dir(s.dir);
}

TEST(readiness_is_announced_to_systemd)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct server s = { 0 };
	char notify[96], buf[256];
	bool sock_there;
	ssize_t n;
	int fd;

	server_init(&s);
	snprintf(notify, sizeof(notify), "%s/notify", s.dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", notify);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	s.pid = server_spawn(&s, &(struct how){ .notify = notify }, (const char *)NULL);
	ASSERT_TRUE(s.pid > 0);
	ASSERT_TRUE(readable(fd, 30000));
	sock_there = access(s.sock, F_OK) == 0;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	ASSERT_TRUE(n > 0);
	buf[n] = 0;
	EXPECT_TRUE(strstr(buf, "READY=1") != NULL);
	EXPECT_TRUE(sock_there);
	EXPECT_EQ(server_stop(&s), 0);
	close(fd);
}

TEST(pid_file_is_locked_against_a_second_server)
{
	struct server a = { 0 }, b = { 0 };
	char pid_file[128];

	server_init(&a);
	snprintf(pid_file, sizeof(pid_file), "%s/pid", a.dir);
	server_start(&a, "-p", pid_file, (const char *)NULL);
	for (int i = 0; i < 500 && read_pid(pid_file) <= 0; i++)
		usleep(10000);
	server_init(&b);
	EXPECT_EQ(server_run(&b, &(struct how){ 0 }, 5, "-p", pid_file, (const char *)NULL), 1);
	EXPECT_TRUE(server_log_has(&b, "locked"));
	/* Still the first one's: valgrind runs the server in its own process. */
	EXPECT_EQ(read_pid(pid_file), a.pid);
	EXPECT_EQ(shm_size(b.shm), -1);
	remove_dir(b.dir);
	EXPECT_EQ(server_stop(&a), 0);
}

TEST(pid_file_is_not_written_through_a_symlink)
{
	struct server s = { 0 };
	char pid_file[128], target[128], text[32];
	int fd;

	server_init(&s);
	snprintf(pid_file, sizeof(pid_file), "%s/pid", s.dir);
	snprintf(target, sizeof(target), "%s/target", s.dir);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ASSERT_EQ(write(fd, "untouched", 9), 9);
	close(fd);
	ASSERT_EQ(symlink(target, pid_file), 0);
	EXPECT_EQ(server_run(&s, &(struct how){ 0 }, 5, "-p", pid_file, (const char *)NULL), 1);
	read_text(target, text, sizeof(text));
	EXPECT_TRUE(strcmp(text, "untouched") == 0);
	EXPECT_EQ(shm_size(s.shm), -1);
	remove_dir(s.dir);
}

TEST(sighup_logs_a_status_line_and_serving_goes_on)
{
	struct server s = { 0 };
	int a, b;

	server_start(&s, (const char *)NULL);
	a = client_connect(&s);
	expect_greeting(a, 0, NULL, 0, 1, NULL);
	ASSERT_EQ(kill(s.pid, SIGHUP), 0);
	for (int i = 0; i < 500 && !server_log_has(&s, "1 client(s)"); i++)
		usleep(10000);
	EXPECT_TRUE(server_log_has(&s, "1 client(s)"));
	b = client_connect(&s);
	expect_greeting(b, 1, (int[]){ 0 }, 1, 1, NULL);
	expect_peer_connect(a, 1, 1, NULL);
	close(a);
	close(b);
	EXPECT_EQ(server_stop(&s), 0);
}

/* --- The systemd unit --- */

/* The value of the first "KEY=" line of @unit, or NULL. */
static const char *unit_value(const char *unit, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);

	for (const char *p = unit; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, "\n");

			snprintf(out, len, "%.*s", (int)n, p + klen + 1);
			return out;
		}
	}
	return NULL;
}

/* "--name N" in the unit's command line, or @def. */
static long unit_option(const char *unit, const char *name, long def)
{
	const char *p = strstr(unit, name);

	return p ? strtol(p + strlen(name), NULL, 0) : def;
}

TEST(systemd_unit_is_unprivileged_notify_and_sandboxed)
{
	static char unit[16384];
	char v[256];
	long clients, vectors, nofile;

	if (!unit_file)
		SKIP("no unit file given");
	ASSERT_TRUE(read_text(unit_file, unit, sizeof(unit)) > 0);
	EXPECT_TRUE(unit_value(unit, "Type", v, sizeof(v)) && strcmp(v, "notify") == 0);
	EXPECT_TRUE((unit_value(unit, "DynamicUser", v, sizeof(v)) && strcmp(v, "yes") == 0) ||
		    (unit_value(unit, "User", v, sizeof(v)) && strcmp(v, "root") != 0));
	/* QEMU connects through the socket's group. */
	EXPECT_TRUE(strstr(unit, "--socket-mode 0660") != NULL);
	EXPECT_TRUE(strstr(unit, "--socket-group ") != NULL);
	EXPECT_TRUE(unit_value(unit, "SupplementaryGroups", v, sizeof(v)) ||
		    unit_value(unit, "Group", v, sizeof(v)));
	/* Descriptors for every client: a socket and its eventfds. */
	clients = unit_option(unit, "--max-clients ", -1);
	vectors = unit_option(unit, "--vectors ", 1);
	EXPECT_TRUE(clients > 0);
	ASSERT_TRUE(unit_value(unit, "LimitNOFILE", v, sizeof(v)));
	nofile = strtol(v, NULL, 10);
	TH_LOG("LimitNOFILE=%ld for %ld clients of %ld vectors", nofile, clients, vectors);
	/* Plus eventfds in flight: some 40 per client. */
	EXPECT_TRUE(clients > 0 && nofile >= clients * (vectors + 41) + 32);
	EXPECT_TRUE(unit_value(unit, "ProtectSystem", v, sizeof(v)) && strcmp(v, "strict") == 0);
	EXPECT_TRUE(unit_value(unit, "ProtectHome", v, sizeof(v)) && strcmp(v, "yes") == 0);
	EXPECT_TRUE(unit_value(unit, "PrivateTmp", v, sizeof(v)) && strcmp(v, "yes") == 0);
	EXPECT_TRUE(unit_value(unit, "NoNewPrivileges", v, sizeof(v)) && strcmp(v, "yes") == 0);
	EXPECT_TRUE(unit_value(unit, "RestrictAddressFamilies", v, sizeof(v)) &&
		    strcmp(v, "AF_UNIX") == 0);
	EXPECT_TRUE(unit_value(unit, "CapabilityBoundingSet", v, sizeof(v)) && !*v);
	EXPECT_TRUE(unit_value(unit, "SystemCallFilter", v, sizeof(v)) != NULL);
	EXPECT_TRUE(strstr(unit, "--foreground") != NULL);
}

/* Kill and reap whatever this program still has running (daemons reparented to it). */
static void kill_leftovers(void)
{
	char path[64], buf[4096];
	int status;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	if (read_text(path, buf, sizeof(buf)) > 0) {
		for (char *p = buf, *end; *p; p = end) {
			long pid = strtol(p, &end, 10);

			if (end == p)
				break;
			kill((pid_t)pid, SIGKILL);
		}
	}
	while (waitpid(-1, &status, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	int ret;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: server_test PATH-TO-ivshmem-server [UNIT-FILE]\n");
		return 2;
	}
	server_bin = realpath(argv[1], NULL);
	if (!server_bin) {
		perror(argv[1]);
		return 2;
	}
	unit_file = argc > 2 ? argv[2] : NULL;
	signal(SIGPIPE, SIG_IGN);
	/* Daemonized servers are reparented here rather than to init. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (getuid() == 0 && share_server_bin())
		fprintf(stderr, "server_test: cannot copy %s for another user\n", server_bin);
	ret = harness_main(argc, argv);
	kill_leftovers();
	unshare_server_bin();
	return ret;
}
