// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness: libivshmem as a host peer of a malicious ivshmem-server.
 *
 * A thread of the harness plays the server on a UNIX socket in a private
 * temporary directory and replays the input as protocol messages, while
 * the main thread joins through ivshmem_open_server() and then drives the
 * handle through the public API between the server's messages.
 *
 * The input is a list of records, each an op byte (kind in bits 0-2, value
 * encoding in bits 3-4, a parameter in bits 5-7) and its operands:
 *   0  a message without an fd
 *   1  a message with an eventfd
 *   2  a message with a memfd of a 16-bit size, shifted by 0, 10 or 20 bits
 *   3  a message with a pipe end, /dev/null or a socket instead
 *   4  a message with 2 to 4 eventfds
 *   5  1 to 8 raw bytes of the input, with an eventfd if bit 7
 *   6  the client calls the API (parameter: which), with one argument byte
 *   7  the server closes its side
 * A value is an int8, a little-endian u16 or int64, or the ID the second
 * message gave.  The first byte of the input holds the vectors stated to
 * ivshmem_open_server() (bits 0-1) and whether the connection is kept open
 * after the greeting (bit 2), which the harness does only when the
 * greeting is complete: a joining peer waits for its vectors otherwise.
 * Every call must come back at once, and the handle must leave no fd open.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libivshmem.h"

#define MAX_RECORDS	64

enum kind { MSG, MSG_EVENTFD, MSG_MEMFD, MSG_OTHER_FD, MSG_FDS, RAW, CALL, CLOSE };

struct record {
	enum kind kind;
	unsigned int param;
	int64_t value;
	uint8_t raw[8];
	unsigned int rawlen;
};

static struct {
	char dir[64], path[128];
	int listener;
	/* One input at a time. */
	struct record rec[MAX_RECORDS];
	unsigned int n, greeting;	/* records, and those before the first call */
	bool keep_open;
	sem_t written, go;		/* server -> client, client -> server */
	bool stop;
} fz;

static void cleanup(void)
{
	unlink(fz.path);
	rmdir(fz.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	(void)argc;
	(void)argv;
	strcpy(fz.dir, "/tmp/ivshmem-fuzz-XXXXXX");
	if (!mkdtemp(fz.dir))
		abort();
	snprintf(fz.path, sizeof(fz.path), "%s/sock", fz.dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fz.path);
	fz.listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fz.listener < 0 || bind(fz.listener, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(fz.listener, 4))
		abort();
	atexit(cleanup);
	sem_init(&fz.written, 0, 0);
	sem_init(&fz.go, 0, 0);
	return 0;
}

static int take(const uint8_t **p, const uint8_t *end, void *out, size_t n)
{
	if ((size_t)(end - *p) < n)
		return -1;
	memcpy(out, *p, n);
	*p += n;
	return 0;
}

static void parse(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1, *end = data + size;
	int64_t id = 0;
	uint8_t op;

	fz.n = 0;
	fz.greeting = MAX_RECORDS;
	while (fz.n < MAX_RECORDS && !take(&p, end, &op, 1)) {
		struct record *r = &fz.rec[fz.n];
		unsigned int enc = (op >> 3) & 3;
		int8_t v8;
		uint16_t v16;
		int64_t v64;

		memset(r, 0, sizeof(*r));
		r->kind = (enum kind)(op & 7);
		r->param = op >> 5;
		if (r->kind == RAW) {
			r->param = op >> 3;
			r->rawlen = 1 + (r->param & 7);
			if (take(&p, end, r->raw, r->rawlen))
				break;
		} else if (r->kind == CALL) {
			r->param = op >> 3;
			if (take(&p, end, &v8, 1))
				break;
			r->value = (uint8_t)v8;
			if (fz.greeting == MAX_RECORDS)
				fz.greeting = fz.n;
		} else if (r->kind != CLOSE) {
			if (enc == 0 && !take(&p, end, &v8, 1))
				r->value = v8;
			else if (enc == 1 && !take(&p, end, &v16, 2))
				r->value = v16;
			else if (enc == 2 && !take(&p, end, &v64, 8))
				r->value = (int64_t)le64toh((uint64_t)v64);
			else if (enc == 3)
				r->value = id;
			else
				break;
			if (fz.n == 1)
				id = r->value;
			if (r->kind == MSG_MEMFD && take(&p, end, &v16, 2))
				break;
			if (r->kind == MSG_MEMFD)
				r->rawlen = v16;	/* the size, before its shift */
		}
		fz.n++;
	}
	if (fz.greeting > fz.n)
		fz.greeting = fz.n;
}

/*
 * Would a peer stating @vectors finish joining on the greeting alone?  Only
 * well-formed greetings are judged; any other is ended by closing.
 */
static bool greeting_complete(unsigned int vectors)
{
	unsigned int own = 0;

	if (fz.greeting < 3)
		return false;
	for (unsigned int i = 0; i < fz.greeting; i++) {
		enum kind k = fz.rec[i].kind;

		if (k != MSG && k != MSG_EVENTFD && k != MSG_MEMFD && k != MSG_OTHER_FD)
			return false;
		if (i >= 3 && k != MSG && fz.rec[i].value == fz.rec[1].value)
			own++;
	}
	return own >= vectors;
}

static int other_fd(unsigned int which, int *extra)
{
	int fds[2], fd;

	*extra = -1;
	switch (which % 4) {
	case 0:		/* either end of a pipe */
	case 1:
		if (pipe2(fds, O_CLOEXEC | O_NONBLOCK))
			abort();
		close(fds[which % 2 ? 0 : 1]);
		return fds[which % 2];
	case 2:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			abort();
		return fd;
	default:	/* a socket whose other end stays with the server */
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds))
			abort();
		*extra = fds[1];
		return fds[0];
	}
}

static void send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (nfds) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	}
	/* The client may be gone already: its errors are not the server's. */
	(void)sendmsg(sock, &msg, MSG_NOSIGNAL);
}

static void send_record(int sock, const struct record *r)
{
	uint64_t le = htole64((uint64_t)r->value);
	int fds[4], extra = -1;
	unsigned int nfds = 0;
	char name[] = "shm";

	switch (r->kind) {
	case MSG_EVENTFD:
		fds[nfds++] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case MSG_MEMFD:
		fds[nfds++] = memfd_create(name, MFD_CLOEXEC);
		if (fds[0] >= 0 && ftruncate(fds[0], (off_t)r->rawlen << (10 * (r->param % 3))))
			abort();
		break;
	case MSG_OTHER_FD:
		fds[nfds++] = other_fd(r->param, &extra);
		break;
	case MSG_FDS:
		while (nfds < 2 + r->param % 3)
			fds[nfds++] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case RAW:
		if (r->param & 8)
			fds[nfds++] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		send_fds(sock, r->raw, r->rawlen, fds, nfds);
		goto out;
	default:
		break;
	}
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] < 0)
			abort();
	send_fds(sock, &le, sizeof(le), fds, nfds);
out:
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (extra >= 0)
		close(extra);
}

/* The server: the greeting, then a segment after each call of the client. */
static void *server(void *arg)
{
	int sock = accept4(fz.listener, NULL, NULL, SOCK_CLOEXEC);
	bool closed = false;
	unsigned int i;

	(void)arg;
	if (sock < 0)
		abort();
	for (i = 0; i < fz.greeting; i++)
		send_record(sock, &fz.rec[i]);
	if (!fz.keep_open) {
		shutdown(sock, SHUT_WR);
		closed = true;
	}
	sem_post(&fz.written);
	for (; i < fz.n; i++) {
		if (fz.rec[i].kind == CALL) {
			sem_wait(&fz.go);
			if (__atomic_load_n(&fz.stop, __ATOMIC_ACQUIRE))
				break;
			continue;
		}
		if (fz.rec[i].kind == CLOSE && !closed) {
			shutdown(sock, SHUT_WR);
			closed = true;
		} else if (!closed) {
			send_record(sock, &fz.rec[i]);
		}
		/* A segment ends where the next call, or the input, begins. */
		if (i + 1 == fz.n || fz.rec[i + 1].kind == CALL)
			sem_post(&fz.written);
	}
	if (!__atomic_load_n(&fz.stop, __ATOMIC_ACQUIRE))
		sem_wait(&fz.go);
	close(sock);
	return NULL;
}

static unsigned int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Checks that hold whatever the server sent. */
static void check_info(struct ivshmem *dev, unsigned int vectors)
{
	struct ivshmem_dev_info *info;
	void *addr;
	uint64_t size;

	if (ivshmem_get_info(dev, &info))
		abort();
	if (!ivshmem_dev_info_is_host_peer(info) ||
	    ivshmem_dev_info_get_vectors(info) > vectors ||
	    ivshmem_dev_info_get_peer_id(info) > 65535 ||
	    ivshmem_dev_info_is_ready(info) != (ivshmem_dev_info_get_peer_id(info) >= 0))
		abort();
	size = ivshmem_dev_info_get_size(info);
	ivshmem_dev_info_free(info);
	/* Shared memory of any size maps, or fails cleanly. */
	if (!ivshmem_map(dev, 0, 0, PROT_READ, &addr)) {
		if (!size)
			abort();
		ivshmem_unmap(addr, size);
	}
}

static void call(struct ivshmem *dev, unsigned int which, unsigned int arg,
		 unsigned int vectors)
{
	uint64_t set[IVSHMEM_VECTOR_WORDS] = { 0 };
	struct pollfd pfd = { .events = POLLIN };
	unsigned int peer;
	int ret;

	switch (which % 8) {
	case 0:
		check_info(dev, vectors);
		break;
	case 1:
		for (int i = 0; i < 2 * 1024 + 2; i++) {
			ret = ivshmem_read_peer_event(dev, &peer, 0);
			if (ret == -ETIMEDOUT || ret == -ECONNRESET)
				break;
			if (ret != -ENOBUFS && (ret < IVSHMEM_PEER_JOINED ||
						ret > IVSHMEM_PEER_DISCONNECTED || peer > 65535))
				abort();
		}
		break;
	case 2:
	case 3:
		set[0] = (which % 8) == 2 ? 1ULL << (arg % 4) : 0xf;
		ret = ivshmem_wait(dev, set, 0);
		if (!ret && (!set[0] || (set[0] & ~0xfULL)))
			abort();
		if (ret > 0)
			abort();
		break;
	case 4:
		ret = ivshmem_ring(dev, arg & 0x7f, arg >> 7);
		if (ret > 0)
			abort();
		break;
	case 5:
		ret = ivshmem_vector_fd(dev, arg % 5);
		if (ret >= 0 && arg % 5 >= vectors)
			abort();
		break;
	case 6:
		pfd.fd = ivshmem_peer_fd(dev);
		if (pfd.fd < 0 || poll(&pfd, 1, 0) < 0)
			abort();
		break;
	default:
		ret = ivshmem_wait_ready(dev, 0);
		if (ret && ret != -ECONNRESET && ret != -ETIMEDOUT)
			abort();
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ivshmem_server_opts *opts;
	struct ivshmem *dev = NULL;
	unsigned int fds, vectors;
	pthread_t thread;
	int ret;

	if (!size)
		return 0;
	fds = count_fds();
	parse(data, size);
	vectors = data[0] & 3;
	fz.keep_open = (data[0] & 4) && greeting_complete(vectors);
	fz.stop = false;
	if (pthread_create(&thread, NULL, server, NULL))
		abort();

	if (ivshmem_server_opts_new(&opts) || ivshmem_server_opts_set_vectors(opts, vectors) ||
	    ivshmem_server_opts_set_timeout(opts, 5000))
		abort();
	ret = ivshmem_open_server(fz.path, opts, &dev);
	ivshmem_server_opts_free(opts);
	if (ret > 0 || ret == -ETIMEDOUT)
		abort();
	sem_wait(&fz.written);
	if (!ret) {
		for (unsigned int i = fz.greeting; i < fz.n; i++) {
			if (fz.rec[i].kind != CALL)
				continue;
			call(dev, fz.rec[i].param, (unsigned int)fz.rec[i].value, vectors);
			sem_post(&fz.go);
			/* The next segment, if any, is there before the next call. */
			for (unsigned int j = i + 1; j < fz.n && fz.rec[j].kind != CALL; j++) {
				sem_wait(&fz.written);
				break;
			}
		}
		check_info(dev, vectors);
		call(dev, 1, 0, vectors);
		ivshmem_close(dev);
	}
	__atomic_store_n(&fz.stop, true, __ATOMIC_RELEASE);
	sem_post(&fz.go);
	pthread_join(thread, NULL);
	while (!sem_trywait(&fz.go) || !sem_trywait(&fz.written))
		;
	if (count_fds() != fds)
		abort();
	return 0;
}
