// SPDX-License-Identifier: GPL-2.0
/*
 * Revision 0 devices without MSI-X: QEMU's ivshmem-doorbell with the
 * test-only x-intx=on of selftests/qemu/ivshmem-intx.patch.  Doorbells
 * arrive through IntrStatus and the INTx line, IntrMask holds them back,
 * every vector arrives as vector 0, and two devices sharing one line each
 * get their own doorbells, none of the other's, and none is lost.
 *
 * The registers are read and written beside the driver through sysfs
 * (resource0 of the PCI device), which a kernel with IO_STRICT_DEVMEM allows
 * only when booted with iomem=relaxed.
 *
 * Environment: ivt_dev and ivt_dev2, two such devices on one INTx line,
 * both peers of one server; ivt_vectors, the vectors it gives each peer.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/ivshmem_test.h"

#define DELIVERY_MS	5000	/* generous: guests run under emulation */
#define QUIET_MS	300	/* how long "nothing arrives" is watched */
#define ROUNDS		2000	/* round trips per device on the shared line */
#define BURST		200	/* doorbells per device in one burst */

/* BAR0 registers, in 32-bit words. */
#define REG_INTR_MASK	0
#define REG_INTR_STATUS	1
#define REG_IV_POSITION	2

static unsigned int nvec;

struct dev {
	const char *name;
	char pci[32];
	int fd;
	int id;
	void *map;
	volatile uint32_t *regs;
};

static const char *name_b(void)
{
	return env_str("ivt_dev2", "ivshmem1");
}

static void pci_path(const struct dev *d, const char *file, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/bus/pci/devices/%s/%s", d->pci, file);
}

static long long pci_attr(const struct dev *d, const char *file)
{
	char path[PATH_MAX], buf[64] = "";
	FILE *f;

	pci_path(d, file, path, sizeof(path));
	f = fopen(path, "re");
	__CHECK(f, true, "open %s: %s", path, strerror(errno));
	__CHECK(fgets(buf, sizeof(buf), f), true, "read %s", path);
	fclose(f);
	return strtoll(buf, NULL, 0);
}

/* Open @name, wait until it is ready, and map its registers. */
static void dev_setup(struct dev *d, const char *name)
{
	struct ivshmem_wait_ready ready = { .timeout_ms = DELIVERY_MS };
	struct ivshmem_info info;
	char path[PATH_MAX + 16], line[128] = "";
	unsigned long long start;
	FILE *f;
	int fd;

	memset(d, 0, sizeof(*d));
	d->name = name;
	snprintf(path, sizeof(path), "/dev/%s", name);
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	__CHECK(d->fd >= 0, true, "open %s: %s", path, strerror(errno));
	ASSERT_OK(ioctl(d->fd, IVSHMEM_IOCTL_WAIT_READY, &ready));
	dev_get_info(d->fd, &info);
	ASSERT_GE(info.peer_id, 0);
	d->id = info.peer_id;
	ASSERT_OK(dev_pci_addr(name, d->pci, sizeof(d->pci)));

	/* The mapping starts at the page that holds BAR0. */
	pci_path(d, "resource", path, sizeof(path));
	f = fopen(path, "re");
	__CHECK(f && fgets(line, sizeof(line), f), true, "read %s", path);
	fclose(f);
	start = strtoull(line, NULL, 16);
	pci_path(d, "resource0", path, sizeof(path));
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	__CHECK(fd >= 0, true, "open %s: %s", path, strerror(errno));
	d->map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	__CHECK(d->map != MAP_FAILED, true, "mmap %s: %s (booted without iomem=relaxed?)",
		path, strerror(errno));
	close(fd);
	d->regs = (volatile uint32_t *)((char *)d->map + (start & 4095));
	/* Whatever an earlier test left behind: unmasked, nothing pending. */
	d->regs[REG_INTR_MASK] = 1;
}

static void dev_teardown(struct dev *d)
{
	d->regs[REG_INTR_MASK] = 1;
	munmap(d->map, 4096);
	close(d->fd);
}

/* Did vector 0 fire within @timeout_ms?  Only vector 0 may be asked for. */
static bool fired(struct dev *d, int timeout_ms)
{
	uint64_t mask = 1;
	int ret = dev_wait(d->fd, &mask, timeout_ms);

	__CHECK(ret == 0 || errno == ETIMEDOUT, true, "WAIT on %s: %s", d->name,
		strerror(errno));
	if (ret == 0)
		EXPECT_EQ(mask, 1);
	return ret == 0;
}

/* Interrupts the kernel counted on @irq (/proc/interrupts, all CPUs). */
static unsigned long long irq_count(int irq)
{
	unsigned long long sum = 0;
	char line[1024], *p, *end;
	bool found = false;
	FILE *f = fopen("/proc/interrupts", "re");

	ASSERT_TRUE(f);
	while (!found && fgets(line, sizeof(line), f)) {
		if (strtol(line, &p, 10) != irq || *p != ':')
			continue;
		found = true;
		for (p++;; p = end) {
			unsigned long long n = strtoull(p, &end, 10);

			if (end == p)
				break;
			sum += n;
		}
	}
	fclose(f);
	__CHECK(found, true, "irq %d not in /proc/interrupts", irq);
	return sum;
}

/* Interrupts on @irq that no handler claimed (/proc/irq/N/spurious). */
static long long irq_unhandled(int irq)
{
	char path[64], line[128];
	long long unhandled = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/irq/%d/spurious", irq);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "unhandled ", 10))
			unhandled = strtoll(line + 10, NULL, 10);
	fclose(f);
	return unhandled;
}

TEST(device_is_revision_0_with_intx)
{
	struct ivshmem_info info;
	struct dev a;
	char path[PATH_MAX];

	dev_setup(&a, dev_name());
	dev_get_info(a.fd, &info);
	EXPECT_EQ(info.revision, 0);
	EXPECT_EQ(info.irq_mode, IVSHMEM_IRQ_INTX);
	EXPECT_EQ(info.vectors, 1);
	EXPECT_EQ(info.device_vectors, 1);
	EXPECT_TRUE(info.flags & IVSHMEM_INFO_DOORBELL);
	EXPECT_TRUE(info.flags & IVSHMEM_INFO_READY);
	EXPECT_EQ(sysfs_attr_long(a.name, "revision"), 0);
	EXPECT_EQ(pci_attr(&a, "revision"), 0);
	EXPECT_GE(pci_attr(&a, "irq"), 1);
	/* No MSI-X: the PCI core lists no message interrupts. */
	pci_path(&a, "msi_irqs", path, sizeof(path));
	EXPECT_TRUE(access(path, F_OK) != 0);
	TH_LOG("%s at %s: peer %d, irq %lld", a.name, a.pci, a.id, pci_attr(&a, "irq"));
	dev_teardown(&a);
}

TEST(wait_ready_is_ivposition)
{
	struct ivshmem_wait_ready now = { .timeout_ms = 0 };
	struct dev a, b;

	dev_setup(&a, dev_name());
	dev_setup(&b, name_b());
	/* Ready already: a zero timeout only checks. */
	EXPECT_EQ(ioctl(a.fd, IVSHMEM_IOCTL_WAIT_READY, &now), 0);
	EXPECT_EQ(sysfs_attr_long(a.name, "ready"), 1);
	EXPECT_EQ((int32_t)a.regs[REG_IV_POSITION], a.id);
	EXPECT_EQ((int32_t)b.regs[REG_IV_POSITION], b.id);
	EXPECT_NE(a.id, b.id);
	dev_teardown(&a);
	dev_teardown(&b);
}

TEST(self_ring_arrives_through_intx)
{
	struct dev a;
	unsigned long long before;
	int irq;

	dev_setup(&a, dev_name());
	irq = (int)pci_attr(&a, "irq");
	EXPECT_EQ(a.regs[REG_INTR_MASK], 1);
	before = irq_count(irq);
	ASSERT_OK(dev_ring(a.fd, a.id, 0));
	ASSERT_TRUE(fired(&a, DELIVERY_MS));
	/* It came on the INTx line, and the handler's read cleared IntrStatus. */
	EXPECT_GE(irq_count(irq), before + 1);
	EXPECT_EQ(a.regs[REG_INTR_STATUS], 0);
	EXPECT_TRUE(!fired(&a, QUIET_MS));
	dev_teardown(&a);
}

TEST(doorbell_latches_in_intrstatus)
{
	struct dev a;

	dev_setup(&a, dev_name());
	a.regs[REG_INTR_MASK] = 0;
	ASSERT_OK(dev_ring(a.fd, a.id, 0));
	EXPECT_TRUE(!fired(&a, QUIET_MS));
	/* Latched in IntrStatus; reading it clears it. */
	EXPECT_EQ(a.regs[REG_INTR_STATUS], 1);
	EXPECT_EQ(a.regs[REG_INTR_STATUS], 0);
	/* Consumed here, so unmasking brings nothing. */
	a.regs[REG_INTR_MASK] = 1;
	EXPECT_TRUE(!fired(&a, QUIET_MS));
	ASSERT_OK(dev_ring(a.fd, a.id, 0));
	EXPECT_TRUE(fired(&a, DELIVERY_MS));
	dev_teardown(&a);
}

TEST(intrmask_holds_back_until_set)
{
	struct dev a;
	unsigned long long before;
	int irq;

	dev_setup(&a, dev_name());
	irq = (int)pci_attr(&a, "irq");
	a.regs[REG_INTR_MASK] = 0;
	before = irq_count(irq);
	ASSERT_OK(dev_ring(a.fd, a.id, 0));
	EXPECT_TRUE(!fired(&a, QUIET_MS));
	EXPECT_EQ(irq_count(irq), before);
	/* The pending doorbell arrives once the mask lets it through. */
	a.regs[REG_INTR_MASK] = 1;
	EXPECT_TRUE(fired(&a, DELIVERY_MS));
	EXPECT_GE(irq_count(irq), before + 1);
	EXPECT_TRUE(!fired(&a, QUIET_MS));
	dev_teardown(&a);
}

TEST(every_vector_arrives_as_vector_0)
{
	struct ivshmem_wait req = { .timeout_ms = 0 };
	struct dev a;
	uint64_t count;
	int efd;

	dev_setup(&a, dev_name());
	ASSERT_GE(nvec, 2);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_OK(efd);
	/* Vector 0 is the only one there is to wait on or bind. */
	req.vectors[0] = 1ULL << 1;
	EXPECT_ERRNO(ioctl(a.fd, IVSHMEM_IOCTL_WAIT, &req), EINVAL);
	EXPECT_ERRNO(dev_set_eventfd(a.fd, 1, efd), EINVAL);
	for (unsigned int v = 0; v < nvec; v++) {
		ASSERT_OK(dev_ring(a.fd, a.id, v));
		EXPECT_TRUE(fired(&a, DELIVERY_MS));
	}
	/* Through an eventfd too. */
	ASSERT_OK(dev_set_eventfd(a.fd, 0, efd));
	for (unsigned int v = 0; v < nvec; v++) {
		ASSERT_OK(dev_ring(a.fd, a.id, v));
		ASSERT_TRUE(fd_readable(efd, DELIVERY_MS));
		ASSERT_EQ(read(efd, &count, sizeof(count)), sizeof(count));
		EXPECT_GE(count, 1);
	}
	/* A vector the server did not give is dropped by the device. */
	ASSERT_OK(dev_ring(a.fd, a.id, nvec));
	EXPECT_TRUE(!fd_readable(efd, QUIET_MS));
	close(efd);
	dev_teardown(&a);
}

TEST(shared_line)
{
	struct dev a, b;

	dev_setup(&a, dev_name());
	dev_setup(&b, name_b());
	ASSERT_EQ(pci_attr(&a, "irq"), pci_attr(&b, "irq"));
	TH_LOG("%s (%s) and %s (%s) share irq %lld", a.name, a.pci, b.name, b.pci,
	       pci_attr(&a, "irq"));
	dev_teardown(&a);
	dev_teardown(&b);
}

/* Each device gets the doorbells for its own peer ID, whoever rings. */
TEST(shared_line_only_the_rung_device)
{
	struct dev a, b;

	dev_setup(&a, dev_name());
	dev_setup(&b, name_b());
	for (int ringer = 0; ringer < 2; ringer++) {
		struct dev *from = ringer ? &b : &a;

		ASSERT_OK(dev_ring(from->fd, a.id, 0));
		EXPECT_TRUE(fired(&a, DELIVERY_MS));
		EXPECT_TRUE(!fired(&b, QUIET_MS));
		ASSERT_OK(dev_ring(from->fd, b.id, 1));
		EXPECT_TRUE(fired(&b, DELIVERY_MS));
		EXPECT_TRUE(!fired(&a, QUIET_MS));
	}
	dev_teardown(&a);
	dev_teardown(&b);
}

/*
 * A doorbell held back by one device's IntrMask stays held back while the
 * other device raises the shared line and both handlers run.
 */
TEST(shared_line_masked_device_stays_quiet)
{
	struct dev a, b;

	dev_setup(&a, dev_name());
	dev_setup(&b, name_b());
	a.regs[REG_INTR_MASK] = 0;
	ASSERT_OK(dev_ring(a.fd, a.id, 0));
	ASSERT_OK(dev_ring(b.fd, b.id, 0));
	EXPECT_TRUE(fired(&b, DELIVERY_MS));
	EXPECT_TRUE(!fired(&a, QUIET_MS));
	a.regs[REG_INTR_MASK] = 1;
	EXPECT_TRUE(fired(&a, DELIVERY_MS));
	dev_teardown(&a);
	dev_teardown(&b);
}

/*
 * Unbinding masks the device and frees the shared line; binding again
 * unmasks it: a doorbell rung in between arrives then, and later ones too.
 * The other device on the line carries on throughout.
 */
TEST_TIMEOUT(rebind_restores_intrmask, 60)
{
	char dev_path_a[PATH_MAX];
	struct dev a, b;
	int id_a;

	dev_setup(&a, dev_name());
	dev_setup(&b, name_b());
	id_a = a.id;
	snprintf(dev_path_a, sizeof(dev_path_a), "/dev/%s", a.name);
	close(a.fd);
	ASSERT_OK(sysfs_write("/sys/bus/pci/drivers/ivshmem/unbind", a.pci));
	ASSERT_OK(wait_path(dev_path_a, false, DELIVERY_MS));
	EXPECT_EQ(a.regs[REG_INTR_MASK], 0);
	ASSERT_OK(dev_ring(b.fd, id_a, 0));
	ASSERT_OK(dev_ring(b.fd, b.id, 0));
	EXPECT_TRUE(fired(&b, DELIVERY_MS));

	ASSERT_OK(sysfs_write("/sys/bus/pci/drivers/ivshmem/bind", a.pci));
	ASSERT_OK(wait_path(dev_path_a, true, DELIVERY_MS));
	a.fd = open(dev_path_a, O_RDWR | O_CLOEXEC);
	ASSERT_OK(a.fd);
	EXPECT_EQ(a.regs[REG_INTR_MASK], 1);
	/* The doorbell from while it was unbound was delivered at bind. */
	EXPECT_EQ(a.regs[REG_INTR_STATUS], 0);
	ASSERT_OK(dev_ring(b.fd, id_a, 0));
	EXPECT_TRUE(fired(&a, DELIVERY_MS));
	EXPECT_TRUE(!fired(&b, QUIET_MS));
	ASSERT_OK(dev_ring(b.fd, b.id, 0));
	EXPECT_TRUE(fired(&b, DELIVERY_MS));
	dev_teardown(&a);
	dev_teardown(&b);
}

/* Round trips on both devices at once: a lost interrupt times out. */
static int round_trips(struct dev *d)
{
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t mask = 1;

		if (dev_ring(d->fd, d->id, i % nvec) ||
		    dev_wait(d->fd, &mask, DELIVERY_MS)) {
			TH_LOG("%s: round %d of %d: %s", d->name, i, ROUNDS, strerror(errno));
			return 1;
		}
	}
	return 0;
}

TEST_TIMEOUT(shared_line_loses_nothing, 300)
{
	struct dev a, b;
	struct timespec t0, t1;
	long long unhandled;
	pid_t pid;
	int status, irq;

	dev_setup(&a, dev_name());
	dev_setup(&b, name_b());
	irq = (int)pci_attr(&a, "irq");
	unhandled = irq_unhandled(irq);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	ASSERT_OK(pid);
	if (pid == 0) {
		status = round_trips(&b);
		fflush(stdout);
		_exit(status);
	}
	EXPECT_EQ(round_trips(&a), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TH_LOG("%d round trips on each device at once in %lld ms", ROUNDS,
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);

	/* Bursts: doorbells may coalesce, but each device wakes after its last. */
	for (int i = 0; i < BURST; i++) {
		ASSERT_OK(dev_ring(a.fd, a.id, i % nvec));
		ASSERT_OK(dev_ring(b.fd, b.id, i % nvec));
		ASSERT_OK(dev_ring(a.fd, b.id, i % nvec));
		ASSERT_OK(dev_ring(b.fd, a.id, i % nvec));
	}
	EXPECT_TRUE(fired(&a, DELIVERY_MS));
	EXPECT_TRUE(fired(&b, DELIVERY_MS));
	while (fired(&a, QUIET_MS) || fired(&b, QUIET_MS))
		;
	/* Quiet now, with nothing latched that was not delivered. */
	EXPECT_EQ(a.regs[REG_INTR_STATUS], 0);
	EXPECT_EQ(b.regs[REG_INTR_STATUS], 0);
	/* Every interrupt on the line had a device that claimed it. */
	if (unhandled >= 0)
		EXPECT_EQ(irq_unhandled(irq), unhandled);
	dev_teardown(&a);
	dev_teardown(&b);
}

int main(int argc, char **argv)
{
	nvec = (unsigned int)env_long("ivt_vectors", 0);
	return harness_main(argc, argv);
}
