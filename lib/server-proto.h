/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's ivshmem client-server protocol (docs/specs/ivshmem-spec.txt):
 * a one-way stream of 8-byte little-endian signed numbers from the server,
 * each optionally carrying one file descriptor (SCM_RIGHTS).
 *
 * On connect the server sends, in order: the protocol version (0); the
 * client's ID; -1 with the shared-memory fd; for each other client, its ID
 * once per vector with the eventfd that interrupts it on that vector; and
 * the client's own ID once per vector with the eventfd it is interrupted
 * through.  Later, a peer ID with an fd announces a vector of a new peer,
 * and a peer ID without an fd announces that the peer left.
 *
 * Internal to the project: not part of libivshmem's ABI.
 */
#ifndef IVSHMEM_SERVER_PROTO_H
#define IVSHMEM_SERVER_PROTO_H

#include <stdint.h>
#include <sys/types.h>

#define IVSHMEM_PROTOCOL_VERSION	0
#define IVSHMEM_PROTO_SHM_MSG		(-1)
#define IVSHMEM_PROTO_MAX_ID		65535
/* The device decodes 8 bits of the doorbell vector. */
#define IVSHMEM_PROTO_MAX_VECTORS	256

/*
 * Send one message with @fd attached (or none if @fd < 0) on a stream
 * socket.  Returns 0, or -1 with errno set (EAGAIN on a full non-blocking
 * socket: nothing was sent).
 */
int ivshmem_proto_send(int sock, int64_t value, int fd);

/*
 * Receive one message.  On success returns 0 and sets *value and *fd (-1 when
 * none came; the caller owns a received fd).  Returns -1 with errno set on
 * error, ECONNRESET on end of stream, EPROTO on a short or malformed message
 * or one with several fds (which are closed).
 */
int ivshmem_proto_recv(int sock, int64_t *value, int *fd);

/*
 * Receive what is there of a message, without waiting: up to @len bytes
 * into @buf, and the fd that came with them in *fd (-1 if none; the caller
 * owns it).  Returns the bytes received, 0 at the end of the stream, or -1
 * with errno set: EAGAIN if nothing is there, EPROTO if several fds came.
 */
ssize_t ivshmem_proto_recv_part(int sock, void *buf, size_t len, int *fd);

#endif /* IVSHMEM_SERVER_PROTO_H */
