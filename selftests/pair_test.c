// SPDX-License-Identifier: GPL-2.0
/*
 * Two guests on one ivshmem-server ring each other on every vector.  They
 * find each other through a mailbox at the start of the shared memory.
 *
 * Environment: ivt_role ("a" or "b"), ivt_vectors, ivt_seed (the same in
 * both guests, so a stale mailbox is never mistaken for this run's),
 * ivt_doorbells (how many doorbells a sends b in the flood, default 100000).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"
#include "lib/latency.h"

#define MEET_MS		120000	/* the other guest may still be booting */
#define DELIVERY_MS	10000

struct mailbox {
	uint32_t seed[2];	/* per role: ivt_seed once id is valid */
	int32_t id[2];
	uint32_t stage[2];	/* per role: the last barrier reached */
	/* The flood: per vector, the burst a last announced and b last saw. */
	uint32_t burst[IVSHMEM_MAX_VECTORS];
	uint32_t seen[IVSHMEM_MAX_VECTORS];
	uint32_t wakeups[IVSHMEM_MAX_VECTORS];	/* b's, for a's report */
	uint32_t flood_done;
};

static unsigned int nvec, me, peer;
static uint32_t seed;

static struct mailbox *mailbox(int fd)
{
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	__CHECK(p != MAP_FAILED, true, "mmap: %s", strerror(errno));
	return p;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Both guests reach @stage before either goes on. */
static void barrier(struct mailbox *mb, uint32_t stage)
{
	long deadline = now_ms() + MEET_MS;

	__atomic_store_n(&mb->stage[me], stage, __ATOMIC_RELEASE);
	while (__atomic_load_n(&mb->stage[peer], __ATOMIC_ACQUIRE) < stage) {
		__CHECK(now_ms() < deadline, true, "peer never reached stage %u", stage);
		usleep(1000);
	}
}

static int32_t meet(int fd, struct mailbox *mb)
{
	struct ivshmem_info info;
	long deadline = now_ms() + MEET_MS;

	dev_get_info(fd, &info);
	mb->id[me] = info.peer_id;
	__atomic_store_n(&mb->seed[me], seed, __ATOMIC_RELEASE);
	while (__atomic_load_n(&mb->seed[peer], __ATOMIC_ACQUIRE) != seed) {
		__CHECK(now_ms() < deadline, true, "the other guest never showed up");
		usleep(1000);
	}
	return mb->id[peer];
}

TEST_TIMEOUT(peers_have_distinct_ids, 150)
{
	int fd = dev_open(O_RDWR);
	struct mailbox *mb = mailbox(fd);
	int32_t other = meet(fd, mb);

	TH_LOG("own ID %d, peer ID %d", mb->id[me], other);
	EXPECT_GE(other, 0);
	EXPECT_NE(other, mb->id[me]);
	barrier(mb, 1);
	close(fd);
}

/*
 * For each vector in turn, guest a rings b and b answers on the same vector;
 * each side checks that exactly that vector's eventfd fired.
 */
TEST_TIMEOUT(ping_pong_every_vector, 150)
{
	int fd = dev_open(O_RDWR), efd[IVSHMEM_MAX_VECTORS] = { 0 };
	struct mailbox *mb = mailbox(fd);
	int32_t other = meet(fd, mb);

	for (unsigned int v = 0; v < nvec; v++) {
		efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_OK(efd[v]);
		ASSERT_OK(dev_set_eventfd(fd, v, efd[v]));
	}
	barrier(mb, 2);		/* both are listening */

	for (unsigned int v = 0; v < nvec; v++) {
		uint64_t count;

		if (me == 0)
			ASSERT_OK(dev_ring(fd, (uint32_t)other, v));
		__CHECK(fd_readable(efd[v], DELIVERY_MS), true, "vector %u never arrived", v);
		ASSERT_EQ(read(efd[v], &count, sizeof(count)), sizeof(count));
		for (unsigned int o = 0; o < nvec; o++)
			__CHECK(o == v || !fd_readable(efd[o], 0), false,
				"vector %u fired for a ring on %u", o, v);
		TH_LOG("vector %u: received from peer %d", v, other);
		if (me == 1)
			ASSERT_OK(dev_ring(fd, (uint32_t)other, v));
	}
	barrier(mb, 3);
	close(fd);
}

/*
 * The flood: a rings b in bursts of 1 to 8 doorbells, vector after vector,
 * announcing each burst in the mailbox just before its last doorbell; b
 * waits for any vector and records the burst it finds.  Doorbells may
 * coalesce, but b must wake after the last one of every burst: a waits for
 * that before the next burst on the vector, and a lost wakeup stalls it.
 */
static uint32_t sent[IVSHMEM_MAX_VECTORS];

static void flood_send(int fd, struct mailbox *mb, int32_t other, long total)
{
	long rung = 0;
	uint32_t b;

	for (b = 1; rung < total; b++) {
		unsigned int v = b % nvec, k = 1 + (b * 7) % 8;
		long deadline = now_ms() + DELIVERY_MS;

		for (unsigned int i = 0; i < k; i++) {
			if (i == k - 1)
				__atomic_store_n(&mb->burst[v], b, __ATOMIC_RELEASE);
			ASSERT_OK(dev_ring(fd, (uint32_t)other, v));
		}
		rung += k;
		sent[v] += k;
		while (__atomic_load_n(&mb->seen[v], __ATOMIC_ACQUIRE) != b) {
			__CHECK(now_ms() < deadline, true,
				"burst %u on vector %u: b never woke after its last doorbell", b, v);
			sched_yield();
		}
	}
	__atomic_store_n(&mb->flood_done, seed, __ATOMIC_RELEASE);
	TH_LOG("sent %ld doorbells in %u bursts, and b woke after every burst",
	       rung, b - 1);
}

static void flood_receive(int fd, struct mailbox *mb)
{
	uint64_t wakeups[IVSHMEM_MAX_VECTORS] = { 0 }, all = 0, total = 0;
	long deadline = now_ms() + 600000;

	for (unsigned int v = 0; v < nvec && v < 64; v++)
		all |= 1ULL << v;
	while (__atomic_load_n(&mb->flood_done, __ATOMIC_ACQUIRE) != seed) {
		uint64_t mask = all;

		__CHECK(now_ms() < deadline, true, "the flood never ended");
		if (dev_wait(fd, &mask, 100) && errno == ETIMEDOUT)
			continue;
		for (unsigned int v = 0; v < nvec && v < 64; v++) {
			if (!(mask & (1ULL << v)))
				continue;
			wakeups[v]++;
			total++;
			__atomic_store_n(&mb->seen[v],
					 __atomic_load_n(&mb->burst[v], __ATOMIC_ACQUIRE),
					 __ATOMIC_RELEASE);
		}
	}
	TH_LOG("woke %llu times", (unsigned long long)total);
	for (unsigned int v = 0; v < nvec && v < 64; v++)
		mb->wakeups[v] = (uint32_t)wakeups[v];
}

TEST_TIMEOUT(doorbells_are_never_lost, 900)
{
	int fd = dev_open(O_RDWR);
	struct mailbox *mb = mailbox(fd);
	int32_t other = meet(fd, mb);
	long total = env_long("ivt_doorbells", 100000);
	long start;

	barrier(mb, 4);
	start = now_ms();
	if (me == 0)
		flood_send(fd, mb, other, total);
	else
		flood_receive(fd, mb);
	start = now_ms() - start;
	TH_LOG("flood took %ld ms", start);
	barrier(mb, 5);
	if (me == 0) {
		uint64_t all = 0, woke = 0;

		for (unsigned int v = 0; v < nvec && v < 64; v++) {
			all += sent[v];
			woke += mb->wakeups[v];
		}
		printf("# bench: doorbells one way, a to b in bursts of 1-8: %.0f/s, "
		       "%.1f%% coalesced into %llu wakeups\n", 1000.0 * (double)all / (double)(start ? start : 1),
		       all ? 100.0 * (double)(all - woke) / (double)all : 0.0,
		       (unsigned long long)woke);
	}
	for (unsigned int v = 0; me == 0 && v < nvec && v < 64; v++)
		TH_LOG("vector %u: %u doorbells, %u wakeups, %u coalesced (%.1f%%)", v,
		       sent[v], mb->wakeups[v], sent[v] - mb->wakeups[v],
		       sent[v] ? 100.0 * (sent[v] - mb->wakeups[v]) / sent[v] : 0.0);
	close(fd);
}

#define LAT_ROUNDS	1000

/*
 * Doorbell latency between the two guests, for each way of waiting: a
 * rings b, b wakes and rings back, a wakes.  a prints percentiles of half
 * the round trip against ringing itself in the same run.  Every doorbell
 * must arrive; the numbers are only printed.
 */
TEST_TIMEOUT(doorbell_latency_between_guests, 600)
{
	static double us[LAT_ROUNDS];
	int fd = dev_open(O_RDWR), efd = eventfd(0, EFD_CLOEXEC);
	struct mailbox *mb = mailbox(fd);
	int32_t other = meet(fd, mb), self;
	struct percentiles base = { 0 }, pc;
	struct ivshmem_info info;

	ASSERT_OK(efd);
	dev_get_info(fd, &info);
	self = info.peer_id;
	if (me == 0) {
		for (int i = 0; i < LAT_ROUNDS; i++) {
			double t = latency_now_us();

			ASSERT_OK(dev_ring(fd, (uint32_t)self, 0));
			ASSERT_OK(wait_vector0(WAIT_IOCTL, fd, efd, DELIVERY_MS));
			us[i] = latency_now_us() - t;
		}
		base = percentiles(us, LAT_ROUNDS);
		printf("# bench: ring oneself, wake by WAIT ioctl: p50 %.1f us, p99 %.1f us, "
		       "p99.9 %.1f us (baseline)\n", base.p50, base.p99, base.p999);
	}
	for (enum wait_way way = 0; way < WAIT_WAYS; way++) {
		ASSERT_OK(dev_set_eventfd(fd, 0, way == WAIT_EVENTFD ? efd : -1));
		barrier(mb, 10 + 2 * way);
		for (int i = 0; i < LAT_ROUNDS; i++) {
			double t = latency_now_us();

			if (me == 0)
				ASSERT_OK(dev_ring(fd, (uint32_t)other, 0));
			__CHECK(!wait_vector0(way, fd, efd, DELIVERY_MS), true,
				"round %d by %s: no doorbell", i, wait_way_name[way]);
			if (me == 1)
				ASSERT_OK(dev_ring(fd, (uint32_t)other, 0));
			us[i] = (latency_now_us() - t) / 2;
		}
		barrier(mb, 11 + 2 * way);
		if (me == 0) {
			pc = percentiles(us, LAT_ROUNDS);
			printf("# bench: guest to guest, wake by %s: p50 %.1f us, p99 %.1f us, "
			       "p99.9 %.1f us (half a round trip), p50 ratio %.1f\n",
			       wait_way_name[way], pc.p50, pc.p99, pc.p999, pc.p50 / base.p50);
		}
	}
	dev_set_eventfd(fd, 0, -1);
	close(efd);
	close(fd);
}

int main(int argc, char **argv)
{
	nvec = (unsigned int)env_long("ivt_vectors", 0);
	me = strcmp(env_str("ivt_role", "a"), "a") == 0 ? 0 : 1;
	peer = 1 - me;
	seed = (uint32_t)env_long("ivt_seed", 1);
	return harness_main(argc, argv);
}
