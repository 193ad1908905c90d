// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ivshmem-server: hands QEMU ivshmem-doorbell devices their shared memory,
 * peer IDs and interrupt eventfds.  Command line compatible with QEMU's
 * contrib/ivshmem-server where the two overlap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
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
"  -M, --shm NAME           POSIX shared memory object (default " DEFAULT_SHM_NAME ")\n"
"  -m, --shm-path PATH      back the memory with file PATH instead; if PATH is a\n"
"                           directory (hugetlbfs, tmpfs), an unnamed file in it\n"
"  -l, --size SIZE          memory size, power of two >= 4K, suffix K/M/G/T\n"
"                           (default 4M)\n"
"  -n, --vectors N          interrupt vectors per client, 1..256 (default 1)\n"
"      --max-clients N      refuse clients beyond N, 1..65536 (default 65536)\n"
"      --queue-limit N      drop a client more than N messages behind\n"
"                           (default %d)\n"
"      --keep-shm           leave the shm object or file behind at exit\n"
"  -F, --foreground         do not daemonize; log to stderr\n"
"  -p, --pid-file PATH      write the server's pid to PATH\n"
"  -v, --verbose            log debugging detail\n"
"  -h, --help               show this help\n"
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

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f);
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
	       OPT_QUEUE_LIMIT, OPT_KEEP_SHM };
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
	const char *pid_file = NULL;
	bool foreground = false;
	struct ivs_server *srv;
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

			if (!*optarg || *end || mode > 0777)
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
			if (ivs_parse_size(optarg, &cfg.shm_size) < 0)
				usage_error("size '%s': expected a number with an optional K, M, G or T suffix",
					    optarg);
			/* BAR2 is a PCI BAR: a power of two, and at least a page. */
			if (cfg.shm_size < 4096 || (cfg.shm_size & (cfg.shm_size - 1)))
				usage_error("size '%s': the device can only expose a power of two of at least 4K",
					    optarg);
			break;
		case 'n':
			cfg.vectors = parse_uint(optarg, "vectors", 1, IVSHMEM_PROTO_MAX_VECTORS);
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
		case 'F':
			foreground = true;
			break;
		case 'p':
			pid_file = optarg;
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

	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	if (!foreground) {
		cfg.use_syslog = true;
		openlog("ivshmem-server", LOG_PID, LOG_DAEMON);
		if (daemon(0, 0) < 0) {
			perror("ivshmem-server: daemon");
			return 1;
		}
	}

	srv = ivs_server_new(&cfg);
	if (!srv)
		return 1;
	if (pid_file && write_pid_file(pid_file) < 0) {
		ivs_log(&cfg, LOG_ERR, "cannot write pid file %s: %s", pid_file, strerror(errno));
		ivs_server_free(srv);
		return 1;
	}

	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	ret = sfd < 0 ? -1 : ivs_server_run(srv, sfd);
	if (sfd >= 0)
		close(sfd);
	ivs_server_free(srv);
	if (pid_file)
		unlink(pid_file);
	return ret ? 1 : 0;
}
