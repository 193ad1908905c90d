// SPDX-License-Identifier: GPL-2.0
/*
 * Doorbells on an ivshmem-doorbell device connected to ivshmem-server: the
 * guest rings itself on every vector and checks each way of receiving it.
 *
 * Environment: ivt_vectors, the vector count the device was given.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

#define DELIVERY_MS	5000	/* generous: guests run under emulation */
#define QUIET_MS	300	/* how long "nothing arrives" is watched */

static unsigned int nvec;

static int self_id(int fd)
{
	struct ivshmem_info info;

	dev_get_info(fd, &info);
	ASSERT_GE(info.peer_id, 0);
	return info.peer_id;
}

static uint64_t all_vectors(void)
{
	return nvec >= 64 ? ~0ULL : (1ULL << nvec) - 1;
}

TEST(device_has_msix_vectors)
{
	struct ivshmem_info info;
	int fd = dev_open(O_RDWR);

	dev_get_info(fd, &info);
	EXPECT_EQ(info.irq_mode, IVSHMEM_IRQ_MSIX);
	EXPECT_EQ(info.vectors, nvec);
	EXPECT_GE(nvec, 4);
	EXPECT_TRUE(info.flags & IVSHMEM_INFO_DOORBELL);
	close(fd);
}

TEST(self_ring_every_vector_wakes_wait)
{
	int fd = dev_open(O_RDWR), id = self_id(fd);

	for (unsigned int v = 0; v < nvec; v++) {
		uint64_t mask = all_vectors();

		ASSERT_OK(dev_ring(fd, id, v));
		ASSERT_OK(dev_wait(fd, &mask, DELIVERY_MS));
		EXPECT_EQ(mask, 1ULL << v);
	}
	close(fd);
}

TEST(eventfd_per_vector)
{
	int fd = dev_open(O_RDWR), id = self_id(fd), efd[IVSHMEM_MAX_VECTORS] = { 0 };

	for (unsigned int v = 0; v < nvec; v++) {
		efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_OK(efd[v]);
		ASSERT_OK(dev_set_eventfd(fd, v, efd[v]));
	}
	for (unsigned int v = 0; v < nvec; v++) {
		uint64_t count = 0;

		ASSERT_OK(dev_ring(fd, id, v));
		ASSERT_TRUE(fd_readable(efd[v], DELIVERY_MS));
		ASSERT_EQ(read(efd[v], &count, sizeof(count)), sizeof(count));
		EXPECT_GE(count, 1);
		/* Only the rung vector's eventfd fired. */
		for (unsigned int o = 0; o < nvec; o++)
			EXPECT_TRUE(o == v || !fd_readable(efd[o], 0));
	}
	close(fd);
	for (unsigned int v = 0; v < nvec; v++)
		close(efd[v]);
}

TEST(eventfd_unbind_and_rebind)
{
	int fd = dev_open(O_RDWR), id = self_id(fd);
	int a = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), b = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t mask;

	ASSERT_OK(dev_set_eventfd(fd, 1, a));
	ASSERT_OK(dev_set_eventfd(fd, 1, -1));
	ASSERT_OK(dev_ring(fd, id, 1));
	mask = 1ULL << 1;
	ASSERT_OK(dev_wait(fd, &mask, DELIVERY_MS));
	EXPECT_TRUE(!fd_readable(a, QUIET_MS));

	/* Binding again replaces: only the new eventfd fires. */
	ASSERT_OK(dev_set_eventfd(fd, 1, a));
	ASSERT_OK(dev_set_eventfd(fd, 1, b));
	ASSERT_OK(dev_ring(fd, id, 1));
	EXPECT_TRUE(fd_readable(b, DELIVERY_MS));
	EXPECT_TRUE(!fd_readable(a, QUIET_MS));
	/* Unbinding what is not bound is fine. */
	EXPECT_EQ(dev_set_eventfd(fd, 2, -1), 0);
	close(fd);
	close(a);
	close(b);
}

TEST(several_openers_each_see_every_interrupt)
{
	int fd1 = dev_open(O_RDWR), fd2 = dev_open(O_RDWR), id = self_id(fd1);
	int e1 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), e2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t mask;

	ASSERT_OK(dev_set_eventfd(fd1, 2, e1));
	ASSERT_OK(dev_set_eventfd(fd2, 2, e2));
	ASSERT_OK(dev_ring(fd1, id, 2));
	EXPECT_TRUE(fd_readable(e1, DELIVERY_MS));
	EXPECT_TRUE(fd_readable(e2, DELIVERY_MS));
	mask = 1ULL << 2;
	EXPECT_EQ(dev_wait(fd1, &mask, DELIVERY_MS), 0);
	mask = 1ULL << 2;
	EXPECT_EQ(dev_wait(fd2, &mask, DELIVERY_MS), 0);

	/* Closing one file ends its bindings only. */
	close(fd1);
	ASSERT_EQ(read(e2, &mask, sizeof(mask)), sizeof(mask));
	ASSERT_EQ(read(e1, &mask, sizeof(mask)), sizeof(mask));
	ASSERT_OK(dev_ring(fd2, id, 2));
	EXPECT_TRUE(fd_readable(e2, DELIVERY_MS));
	EXPECT_TRUE(!fd_readable(e1, QUIET_MS));
	close(fd2);
	close(e1);
	close(e2);
}

TEST(wait_times_out_without_interrupt)
{
	int fd = dev_open(O_RDWR);
	uint64_t mask = all_vectors();

	EXPECT_ERRNO(dev_wait(fd, &mask, 100), ETIMEDOUT);
	EXPECT_EQ(mask, 0);
	mask = all_vectors();
	EXPECT_ERRNO(dev_wait(fd, &mask, 0), ETIMEDOUT);
	close(fd);
}

TEST(wait_blocks_until_peer_rings)
{
	int fd = dev_open(O_RDWR), id = self_id(fd), status;
	uint64_t mask = 1ULL << 3;
	pid_t pid = fork();

	ASSERT_OK(pid);
	if (pid == 0) {
		int rfd = dev_open(O_RDWR);

		usleep(200 * 1000);
		_exit(dev_ring(rfd, id, 3) ? 1 : 0);
	}
	EXPECT_EQ(dev_wait(fd, &mask, -1), 0);
	EXPECT_EQ(mask, 1ULL << 3);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_EQ(WEXITSTATUS(status), 0);
	close(fd);
}

TEST(wait_only_returns_requested_vectors)
{
	int fd = dev_open(O_RDWR), id = self_id(fd);
	uint64_t mask = 1ULL << 0;

	ASSERT_OK(dev_ring(fd, id, 1));
	EXPECT_ERRNO(dev_wait(fd, &mask, QUIET_MS), ETIMEDOUT);
	/* Vector 1 stayed pending for this file. */
	mask = 1ULL << 1;
	EXPECT_EQ(dev_wait(fd, &mask, 0), 0);
	EXPECT_EQ(mask, 1ULL << 1);
	close(fd);
}

TEST(poll_reports_pending_interrupts)
{
	int fd = dev_open(O_RDWR), id = self_id(fd);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t mask = all_vectors();

	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	ASSERT_OK(dev_ring(fd, id, 0));
	EXPECT_EQ(poll(&pfd, 1, DELIVERY_MS), 1);
	EXPECT_EQ(pfd.revents, POLLIN);
	ASSERT_OK(dev_wait(fd, &mask, 0));
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	close(fd);
}

TEST(ring_rejects_out_of_range)
{
	int fd = dev_open(O_RDWR), id = self_id(fd);

	EXPECT_ERRNO(dev_ring(fd, IVSHMEM_MAX_PEER_ID + 1, 0), EINVAL);
	EXPECT_ERRNO(dev_ring(fd, 0xffffffff, 0), EINVAL);
	/* The device decodes 8 vector bits: 256 would alias vector 0. */
	EXPECT_ERRNO(dev_ring(fd, id, IVSHMEM_MAX_VECTORS), EINVAL);
	EXPECT_ERRNO(dev_ring(fd, id, 0x10000), EINVAL);
	/* In range but not set up at the peer: accepted, dropped by the device. */
	EXPECT_EQ(dev_ring(fd, id, IVSHMEM_MAX_VECTORS - 1), 0);
	EXPECT_EQ(dev_ring(fd, IVSHMEM_MAX_PEER_ID, 0), 0);
	close(fd);
}

TEST(eventfd_rejects_bad_input)
{
	int fd = dev_open(O_RDWR), efd = eventfd(0, EFD_CLOEXEC);
	int notev = open("/dev/null", O_RDONLY | O_CLOEXEC);

	EXPECT_ERRNO(dev_set_eventfd(fd, nvec, efd), EINVAL);
	EXPECT_ERRNO(dev_set_eventfd(fd, 0, notev), EINVAL);
	EXPECT_ERRNO(dev_set_eventfd(fd, 0, 9999), EBADF);
	EXPECT_ERRNO(dev_set_eventfd(fd, 0, -2), EINVAL);
	close(notev);
	close(efd);
	close(fd);
}

TEST(wait_rejects_bad_masks)
{
	int fd = dev_open(O_RDWR);
	struct ivshmem_wait req = { .timeout_ms = 0 };
	uint64_t mask = 0;

	EXPECT_ERRNO(dev_wait(fd, &mask, 0), EINVAL);
	if (nvec < 64) {
		mask = 1ULL << nvec;
		EXPECT_ERRNO(dev_wait(fd, &mask, 0), EINVAL);
	}
	req.vectors[IVSHMEM_VECTOR_WORDS - 1] = 1ULL << 63;
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT, &req), EINVAL);
	mask = 1;
	EXPECT_ERRNO(dev_wait(fd, &mask, -2), EINVAL);
	close(fd);
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST(wait_is_interrupted_by_signal)
{
	int fd = dev_open(O_RDWR);
	struct sigaction sa = { .sa_handler = on_alarm };
	uint64_t mask = 1;

	sigaction(SIGUSR1, &sa, NULL);
	if (fork() == 0) {
		usleep(200 * 1000);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	EXPECT_ERRNO(dev_wait(fd, &mask, -1), EINTR);
	wait(NULL);
	close(fd);
}

TEST(ring_needs_write_access)
{
	int rw = dev_open(O_RDWR), ro = dev_open(O_RDONLY), id = self_id(rw);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t mask = 1ULL << 1;

	/* A read-only open may watch, never interrupt anybody. */
	EXPECT_ERRNO(dev_ring(ro, id, 1), EBADF);
	EXPECT_ERRNO(dev_ring(ro, IVSHMEM_MAX_PEER_ID, 0), EBADF);
	/* ... but it receives: WAIT and eventfds work on it. */
	ASSERT_OK(dev_set_eventfd(ro, 0, efd));
	ASSERT_OK(dev_ring(rw, id, 1));
	EXPECT_EQ(dev_wait(ro, &mask, DELIVERY_MS), 0);
	EXPECT_EQ(mask, 1ULL << 1);
	ASSERT_OK(dev_ring(rw, id, 0));
	EXPECT_TRUE(fd_readable(efd, DELIVERY_MS));
	close(efd);
	close(ro);
	close(rw);
}

TEST(poll_ignores_vectors_delivered_by_eventfd)
{
	int fd = dev_open(O_RDWR), id = self_id(fd);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t count;

	ASSERT_OK(dev_set_eventfd(fd, 0, efd));
	ASSERT_OK(dev_ring(fd, id, 0));
	ASSERT_TRUE(fd_readable(efd, DELIVERY_MS));
	ASSERT_EQ(read(efd, &count, sizeof(count)), sizeof(count));
	/* Delivered through the eventfd: the file must not stay readable. */
	EXPECT_EQ(poll(&pfd, 1, QUIET_MS), 0);
	/* A vector without an eventfd still makes it readable. */
	ASSERT_OK(dev_ring(fd, id, 1));
	EXPECT_EQ(poll(&pfd, 1, DELIVERY_MS), 1);
	EXPECT_EQ(pfd.revents, POLLIN);
	/* Unbound again, vector 0 counts for poll() once more. */
	ASSERT_OK(dev_set_eventfd(fd, 0, -1));
	count = 3;
	ASSERT_OK(dev_wait(fd, &count, 0));
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	ASSERT_OK(dev_ring(fd, id, 0));
	EXPECT_EQ(poll(&pfd, 1, DELIVERY_MS), 1);
	close(efd);
	close(fd);
}

/*
 * Unbinding consumes what the eventfd delivered, and nothing else: not an
 * interrupt pending on a vector that had no eventfd, nor one that was
 * pending when the eventfd was bound; for WAIT and poll() alike.
 */
TEST(unbind_consumes_only_what_the_eventfd_delivered)
{
	int fd = dev_open(O_RDWR), id = self_id(fd);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t mask;

	/* Nothing bound to vector 2: ring it, "unbind" it, it is still pending. */
	ASSERT_OK(dev_ring(fd, id, 2));
	ASSERT_EQ(poll(&pfd, 1, DELIVERY_MS), 1);
	ASSERT_OK(dev_set_eventfd(fd, 2, -1));
	EXPECT_EQ(poll(&pfd, 1, 0), 1);
	mask = 1ULL << 2;
	EXPECT_EQ(dev_wait(fd, &mask, 0), 0);
	EXPECT_EQ(mask, 1ULL << 2);
	EXPECT_EQ(poll(&pfd, 1, 0), 0);

	/* Pending on vector 3 before its eventfd is bound: still pending after. */
	ASSERT_OK(dev_ring(fd, id, 3));
	ASSERT_EQ(poll(&pfd, 1, DELIVERY_MS), 1);
	ASSERT_OK(dev_set_eventfd(fd, 3, efd));
	ASSERT_OK(dev_set_eventfd(fd, 3, -1));
	EXPECT_EQ(poll(&pfd, 1, 0), 1);
	mask = 1ULL << 3;
	EXPECT_EQ(dev_wait(fd, &mask, 0), 0);
	EXPECT_EQ(mask, 1ULL << 3);

	/* Delivered by the eventfd: after the unbind, neither WAIT nor poll() has it. */
	ASSERT_OK(dev_set_eventfd(fd, 3, efd));
	ASSERT_OK(dev_ring(fd, id, 3));
	ASSERT_TRUE(fd_readable(efd, DELIVERY_MS));
	ASSERT_OK(dev_set_eventfd(fd, 3, -1));
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	mask = 1ULL << 3;
	EXPECT_EQ(dev_wait(fd, &mask, 0), -1);
	EXPECT_EQ(errno, ETIMEDOUT);
	/* And the vector counts for both again. */
	ASSERT_OK(dev_ring(fd, id, 3));
	EXPECT_EQ(poll(&pfd, 1, DELIVERY_MS), 1);
	mask = 1ULL << 3;
	EXPECT_EQ(dev_wait(fd, &mask, 0), 0);
	close(efd);
	close(fd);
}

/* Is @pid still running (not exited, not stopped) after @ms? */
static bool still_blocked(pid_t pid, int ms)
{
	int status;

	usleep(ms * 1000);
	return waitpid(pid, &status, WNOHANG | WUNTRACED) == 0;
}

TEST(stop_and_continue_is_not_an_error)
{
	int fd = dev_open(O_RDWR), id = self_id(fd), status;
	pid_t pid = fork();

	ASSERT_OK(pid);
	if (pid == 0) {
		uint64_t mask = 1ULL << 2;

		_exit(dev_wait(fd, &mask, -1) == 0 && mask == 1ULL << 2 ? 0 : 1);
	}
	ASSERT_TRUE(still_blocked(pid, 200));
	ASSERT_OK(kill(pid, SIGSTOP));
	ASSERT_EQ(waitpid(pid, &status, WUNTRACED), pid);
	EXPECT_TRUE(WIFSTOPPED(status));
	ASSERT_OK(kill(pid, SIGCONT));
	/* Continued, the child is back in WAIT, not out with EINTR. */
	EXPECT_TRUE(still_blocked(pid, QUIET_MS));
	ASSERT_OK(dev_ring(fd, id, 2));
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

TEST(interrupted_wait_reports_time_left)
{
	int fd = dev_open(O_RDWR);
	struct sigaction sa = { .sa_handler = on_alarm };
	struct ivshmem_wait req = { .timeout_ms = 20000 };

	req.vectors[0] = 1ULL << 3;
	sigaction(SIGUSR1, &sa, NULL);
	if (fork() == 0) {
		usleep(500 * 1000);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	EXPECT_ERRNO(ioctl(fd, IVSHMEM_IOCTL_WAIT, &req), EINTR);
	wait(NULL);
	/* The request is as it was, but for the time that was left. */
	EXPECT_EQ(req.vectors[0], 1ULL << 3);
	EXPECT_TRUE(req.timeout_ms > 0 && req.timeout_ms < 20000);
	TH_LOG("time left: %d ms of 20000", req.timeout_ms);
	close(fd);
}

int main(int argc, char **argv)
{
	nvec = (unsigned int)env_long("ivt_vectors", 0);
	return harness_main(argc, argv);
}
