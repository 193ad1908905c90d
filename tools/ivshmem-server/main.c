// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-server: hands QEMU ivshmem-doorbell devices their shared memory,
 * peer IDs and interrupt eventfds.  Command line compatible with QEMU's
 * contrib/ivshmem-server where the two overlap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "server.h"
#include "../common/number.h"
#include "server-proto.h"

#define DEFAULT_SOCKET		"/tmp/ivshmem_socket"
#define DEFAULT_SHM_NAME	"ivshmem"
#define DEFAULT_SIZE		(4ULL << 20)
#define DEFAULT_QUEUE_LIMIT	1024

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ivshmem-server [OPTION]...\n"
"Serve shared memory and doorbell eventfds to QEMU ivshmem-doorbell devices.\n"
"\n"
"  -S, --socket PATH        listening socket (default " DEFAULT_SOCKET ")\n"
"      --socket-mode MODE   socket permissions, octal (default 0600)\n"
"      --socket-group GROUP socket group (default: unchanged)\n"
"  -M, --shm NAME           POSIX shared memory object, created anew\n"
"                           (default " DEFAULT_SHM_NAME ")\n"
"      --adopt-shm          use an existing object of ours as it is (its size\n"
"                           must match -l if given); never remove it\n"
"  -m, --shm-path PATH      back the memory with a new file PATH instead; if\n"
"                           PATH is a directory (hugetlbfs, tmpfs), an\n"
"                           unnamed file in it\n"
"  -l, --size SIZE          memory size, power of two >= 4K, suffix K/M/G/T\n"
"                           (default 4M)\n"
"  -n, --vectors N          interrupt vectors per client, 0..256 (default 1)\n"
"      --max-clients N      refuse clients beyond N, 1..65536 (default 65536)\n"
"      --queue-limit N      drop a client that leaves more than N departures\n"
"                           of peers unread (default %d)\n"
"      --keep-shm           leave the shm object or file behind at exit\n"
"  -F, --foreground         do not daemonize; log to stderr\n"
"  -p, --pid-file PATH      write the server's pid to PATH, and lock it\n"
"  -v, --verbose            log every connection and debugging detail\n"
"  -h, --help               show this help\n"
"\n"
"Numbers are decimal or 0x hexadecimal.  All setup is done before the server\n"
"daemonizes or reports readiness to systemd.  SIGHUP logs a status line.\n"
"\n"
"Exit status: 0 after SIGTERM or SIGINT, 1 on failure, 2 on bad usage.\n",
		DEFAULT_QUEUE_LIMIT);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ivshmem-server: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ivshmem-server --help'.\n", stderr);
	exit(2);
}

static unsigned int parse_uint(const char *s, const char *what, unsigned int min,
			       unsigned int max)
{
	uint64_t v;

	if (ivs_parse_u64(s, max, &v) < 0 || v < min)
		usage_error("%s '%s': expected a number from %u to %u", what, s, min, max);
	return (unsigned int)v;
}

/*
 * Open and lock the pid file: a second server with the same file stops
 * here.  Never through a symlink.  The lock lives as long as the server.
 */
static int open_pid_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	char buf[32] = "";
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "ivshmem-server: cannot open pid file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		fprintf(stderr, "ivshmem-server: pid file %s is locked by a running server%s%s%s\n",
			path, *buf ? " (pid " : "", buf, *buf ? ")" : "");
		close(fd);
		return -1;
	}
	return fd;
}

static int write_pid_file(int fd)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len)
		return -1;
	return 0;
}

/* @path made absolute, to be found again after daemonizing. */
static char *absolute(const char *path)
{
	char cwd[4096], *abs;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, path) < 0)
		return NULL;
	return abs;
}

/* Remove the pid file if it is still the one we locked. */
static void remove_pid_file(const char *path, int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		unlink(path);
	close(fd);
}

/* At file scope: the parent of a daemon exits with them still in use. */
static struct ivs_server *srv;
static char *pid_file;

/*
 * Become a daemon once everything is set up.  The parent exits only when the
 * child is ready (pid file written): 0 then, 1 if the child failed.
 */
static int daemonize(int *ready_fd)
{
	int pipefd[2], null;
	char c;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) == 1)
			_exit(0);
		_exit(1);
	}
	close(pipefd[0]);
	*ready_fd = pipefd[1];
	if (setsid() < 0 || chdir("/") < 0)
		return -1;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -1;
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	close(null);
	return 0;
}

/* Use every fd the hard limit allows: each client costs 1 + vectors. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	enum { OPT_SOCKET_MODE = 256, OPT_SOCKET_GROUP, OPT_MAX_CLIENTS,
	       OPT_QUEUE_LIMIT, OPT_KEEP_SHM, OPT_ADOPT_SHM };
	static const struct option options[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
		{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
		{ "shm", required_argument, NULL, 'M' },
		{ "shm-path", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 'l' },
		{ "vectors", required_argument, NULL, 'n' },
		{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
		{ "queue-limit", required_argument, NULL, OPT_QUEUE_LIMIT },
		{ "keep-shm", no_argument, NULL, OPT_KEEP_SHM },
		{ "adopt-shm", no_argument, NULL, OPT_ADOPT_SHM },
		{ "foreground", no_argument, NULL, 'F' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ivs_config cfg = {
		.socket_path = DEFAULT_SOCKET,
		.socket_mode = 0600,
		.socket_gid = (gid_t)-1,
		.shm_name = DEFAULT_SHM_NAME,
		.shm_size = DEFAULT_SIZE,
		.vectors = 1,
		.max_clients = IVSHMEM_PROTO_MAX_ID + 1,
		.queue_limit = DEFAULT_QUEUE_LIMIT,
	};
	int pid_fd = -1, ready_fd = -1;
	bool foreground = false;
	sigset_t sigs;
	int opt, sfd, ret;

	while ((opt = getopt_long(argc, argv, "S:M:m:l:n:Fp:vh", options, NULL)) != -1) {
		switch (opt) {
		case 'S':
			cfg.socket_path = optarg;
			break;
		case OPT_SOCKET_MODE: {
			char *end;
			unsigned long mode = strtoul(optarg, &end, 8);

			/* Octal digits only: no sign, no whitespace. */
			if (!*optarg || *end || optarg[strspn(optarg, "01234567")] || mode > 0777)
				usage_error("socket mode '%s': expected octal permissions such as 0660",
					    optarg);
			cfg.socket_mode = (mode_t)mode;
			break;
		}
		case OPT_SOCKET_GROUP: {
			struct group *gr = getgrnam(optarg);

			if (!gr)
				usage_error("socket group '%s': no such group", optarg);
			cfg.socket_gid = gr->gr_gid;
			break;
		}
		case 'M':
			cfg.shm_name = optarg;
			break;
		case 'm':
			cfg.shm_path = optarg;
			break;
		case 'l':
			cfg.size_given = true;
			if (ivs_parse_size(optarg, &cfg.shm_size) < 0)
				usage_error("size '%s': expected a number with an optional K, M, G or T suffix",
					    optarg);
			/* BAR2 is a PCI BAR: a power of two, and at least a page. */
			if (cfg.shm_size < 4096 || (cfg.shm_size & (cfg.shm_size - 1)))
				usage_error("size '%s': the device can only expose a power of two of at least 4K",
					    optarg);
			break;
		case 'n':
			cfg.vectors = parse_uint(optarg, "vectors", 0, IVSHMEM_PROTO_MAX_VECTORS);
			break;
		case OPT_MAX_CLIENTS:
			cfg.max_clients = parse_uint(optarg, "max clients", 1,
						     IVSHMEM_PROTO_MAX_ID + 1);
			break;
		case OPT_QUEUE_LIMIT:
			cfg.queue_limit = parse_uint(optarg, "queue limit", 1, 1u << 20);
			break;
		case OPT_KEEP_SHM:
			cfg.keep_shm = true;
			break;
		case OPT_ADOPT_SHM:
			cfg.adopt_shm = true;
			break;
		case 'F':
			foreground = true;
			break;
		case 'p':
			free(pid_file);
			pid_file = absolute(optarg);
			if (!pid_file) {
				perror("ivshmem-server: pid file");
				return 1;
			}
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fputs("Try 'ivshmem-server --help'.\n", stderr);
			return 2;
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);

	if (cfg.adopt_shm && cfg.shm_path)
		usage_error("--adopt-shm is for shm objects (-M); a file (-m) is always created anew");

	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	/* Everything that can fail is done here, reported on stderr. */
	if (pid_file) {
		pid_fd = open_pid_file(pid_file);
		if (pid_fd < 0) {
			free(pid_file);
			return 1;
		}
	}
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("ivshmem-server: signalfd");
		srv = NULL;
	} else {
		srv = ivs_server_new(&cfg);
		if (!srv) {
			close(sfd);
			sfd = -1;
		}
	}
	if (sfd >= 0 && !foreground && daemonize(&ready_fd) < 0) {
		perror("ivshmem-server: daemon");
		close(sfd);
		sfd = -1;
	}
	if (sfd >= 0 && pid_fd >= 0 && write_pid_file(pid_fd) < 0) {
		ivs_log(&cfg, LOG_ERR, "cannot write pid file %s: %s", pid_file, strerror(errno));
		close(sfd);
		sfd = -1;
	}
	if (sfd < 0) {
		ivs_server_free(srv);
		if (pid_fd >= 0)
			remove_pid_file(pid_file, pid_fd);
		free(pid_file);
		return 1;
	}
	if (!foreground) {
		openlog("ivshmem-server", LOG_PID, LOG_DAEMON);
		ivs_server_use_syslog(srv);
		cfg.use_syslog = true;
		if (write(ready_fd, "", 1) != 1)
			ivs_log(&cfg, LOG_WARNING, "cannot tell the parent we are ready");
		close(ready_fd);
	}
	sd_notifyf(0, "READY=1\nMAINPID=%d", (int)getpid());

	ret = ivs_server_run(srv, sfd);
	sd_notify(0, "STOPPING=1");
	close(sfd);
	ivs_server_free(srv);
	if (pid_fd >= 0)
		remove_pid_file(pid_file, pid_fd);
	free(pid_file);
	return ret ? 1 : 0;
}
