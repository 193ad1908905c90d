// SPDX-License-Identifier: LGPL-2.1-or-later
/* QEMU's ivshmem client-server protocol: one message at a time. */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server-proto.h"

int ivshmem_proto_send(int sock, int64_t value, int fd)
{
	uint64_t le = htole64((uint64_t)value);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}

	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	/*
	 * 8 bytes always fit once sendmsg() accepts anything on a stream
	 * socket with room, but never report a partial message as sent.
	 */
	if (n != sizeof(le)) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/*
 * The fds of a received message into *fd: -1 if none came, and -1 with
 * every fd closed if more than one did (or did not fit): one message
 * carries at most one.  Returns 0, or -1 for more than one.
 */
static int take_fd(struct msghdr *msg, int *fd)
{
	unsigned int count = 0;
	struct cmsghdr *cmsg;
	int one;

	*fd = -1;
	for (cmsg = CMSG_FIRSTHDR(msg); cmsg; cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t off = 0; off + sizeof(int) <= cmsg->cmsg_len - CMSG_LEN(0);
		     off += sizeof(int)) {
			memcpy(&one, CMSG_DATA(cmsg) + off, sizeof(int));
			if (count++)
				close(one);
			else
				*fd = one;
		}
	}
	if (count > 1 || (msg->msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

int ivshmem_proto_recv(int sock, int64_t *value, int *fd)
{
	uint64_t le;
	/* Room for two fds, to see (and close) more than one. */
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = &le, .iov_len = sizeof(le) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;

	if (take_fd(&msg, fd) < 0) {
		errno = EPROTO;
		return -1;
	}
	if (n == 0) {
		errno = ECONNRESET;
		goto fail;
	}
	if (n != sizeof(le)) {
		errno = EPROTO;
		goto fail;
	}
	*value = (int64_t)le64toh(le);
	return 0;

fail:
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		*fd = -1;
		errno = saved;
	}
	return -1;
}

ssize_t ivshmem_proto_recv_part(int sock, void *buf, size_t len, int *fd)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	*fd = -1;
	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return -1;
	if (take_fd(&msg, fd) < 0) {
		errno = EPROTO;
		return -1;
	}
	return n;
}
