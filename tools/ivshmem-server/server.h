/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ivshmem-server: the event loop that serves QEMU's ivshmem-doorbell devices. */
#ifndef IVSHMEM_SERVER_H
#define IVSHMEM_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ivs_config {
	const char *socket_path;
	mode_t socket_mode;
	gid_t socket_gid;		/* (gid_t)-1: leave the group alone */
	const char *shm_name;		/* POSIX shm object, or NULL */
	const char *shm_path;		/* new file, or directory for an unnamed file */
	uint64_t shm_size;
	bool size_given;		/* -l was given: an adopted object must match */
	unsigned int vectors;
	unsigned int max_clients;	/* at most IVSHMEM_PROTO_MAX_ID + 1 */
	unsigned int queue_limit;	/* departures a client may leave unread */
	bool adopt_shm;			/* use an existing shm object of ours */
	bool keep_shm;
	bool verbose;
	bool use_syslog;
};

struct ivs_server;

/*
 * Set up the shared memory and the listening socket, all before returning:
 * NULL and a log on error, with nothing left behind.
 */
struct ivs_server *ivs_server_new(const struct ivs_config *cfg);
/* Log to syslog from now on (after daemonizing). */
void ivs_server_use_syslog(struct ivs_server *srv);
/*
 * Serve until SIGTERM or SIGINT arrive on @signal_fd (a signalfd for them
 * and SIGHUP, which logs a status line); 0, or -1 on error.
 */
int ivs_server_run(struct ivs_server *srv, int signal_fd);
/* Disconnect everyone, remove the socket and (unless kept) the memory. */
void ivs_server_free(struct ivs_server *srv);

void ivs_log(const struct ivs_config *cfg, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* IVSHMEM_SERVER_H */
