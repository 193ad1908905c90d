/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private state of the ivshmem driver.
 *
 * Lifetime: struct ivshmem_dev is created at probe and reference counted.
 * The PCI binding holds one reference and every open file holds one, so the
 * structure outlives the PCI device.  Removal revokes every user mapping and
 * marks it dead, both under @lock (written), after which nothing touches the
 * hardware or the shared memory again; everything that does holds @lock for
 * reading and checks @dead first.  Because @dead is only ever set after the
 * revocation, whoever sees it (even without @lock) can no longer reach the
 * old memory; only then are waiters woken.  A PCI reset (reset_prepare to
 * reset_done) and AER recovery (error_detected to resume) revoke every
 * mapping and set @resetting or @frozen under @lock, and readers that
 * reach the hardware wait in ivshmem_lock_hw() until both are clear, so
 * that none reaches a device that decodes nothing.  Neither holds @lock
 * across: the PCI core takes pci_bus_sem and the device locks of the bus
 * in between, and AER calls error_detected with pci_bus_sem held.
 *
 * The interrupt handlers and their teardown touch the hardware without
 * @lock: interrupts are freed before the registers are unmapped.
 *
 * Lock order: device_lock (probe, remove, reset, resume) -> mmap_lock or
 * the VMA lock (faults, debugger access) -> ivshmem_dev.lock -> i_mmap_rwsem
 * (removal revokes under ivshmem_dev.lock).  ivshmem_vector.lock and
 * ivshmem_file.lock are innermost.  Nothing copies to or from user space
 * while holding ivshmem_dev.lock.
 */
#ifndef IVSHMEM_PRIV_H
#define IVSHMEM_PRIV_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/ivshmem.h>

#include "compat.h"

/* BAR0 registers */
#define IVSHMEM_REG_INTR_MASK	0x00
#define IVSHMEM_REG_INTR_STATUS	0x04
#define IVSHMEM_REG_IV_POSITION	0x08
#define IVSHMEM_REG_DOORBELL	0x0c
#define IVSHMEM_REG_SIZE	0x100

#define IVSHMEM_BAR_REGS	0
#define IVSHMEM_BAR_SHM		2

/* IntrMask / IntrStatus bit of revision 0 devices */
#define IVSHMEM_INTR_PEER	BIT(0)

struct ivshmem_dev;

/* ivshmem_dev.flags */
#define IVSHMEM_FLAG_REGISTERED		0	/* netlink lookups find it */
#define IVSHMEM_FLAG_READY_ANNOUNCED	1
#define IVSHMEM_FLAG_ADDED_SENT		2	/* ADDED is out: READY may follow */
#define IVSHMEM_FLAG_PUD_MAPPED		3	/* a PUD entry was ever inserted */

/* One interrupt vector of the device. */
struct ivshmem_vector {
	struct ivshmem_dev *idev;
	/* Interrupts received; open files remember how many they consumed. */
	atomic64_t count;
	/* @count when statistics were last reset (IVSHMEM_CMD_RESET_STATS). */
	atomic64_t stats_base;
	spinlock_t lock;		/* protects @eventfds, taken in hardirq */
	struct list_head eventfds;	/* struct ivshmem_eventfd_binding */
	/* WAIT and poll() sleepers interested in this vector. */
	wait_queue_head_t wq;
};

struct ivshmem_dev {
	struct kref kref;
	struct pci_dev *pdev;		/* valid while !dead */
	struct miscdevice misc;
	char name[24];
	char pci_addr[16];		/* kept for events after removal */
	int index;			/* N of /dev/ivshmemN */
	unsigned long flags;		/* IVSHMEM_FLAG_* */

	/*
	 * All mappings of the shared memory live in this inode's address
	 * space, whatever device node they were opened through, so removal
	 * can revoke them with one unmap_mapping_range().
	 */
	struct inode *inode;

	/* Writers: removal, the start and end of a PCI reset or AER recovery. */
	struct rw_semaphore lock;
	struct lock_class_key lock_key;
	bool dead;
	bool resetting;			/* a PCI reset under way; see @wq */
	bool frozen;			/* AER recovery under way; see @wq */
	struct delayed_work aer_watchdog; /* a recovery that never ends */
	struct pci_saved_state *pci_state; /* what AER recovery restores */

	void __iomem *regs;
	/* Write-back kernel mapping, see ivshmem_map_bars(); NULL if uncached. */
	void *shm;
	phys_addr_t shm_phys;
	u64 shm_size;
	u8 revision;

	enum ivshmem_irq_mode irq_mode;
	unsigned int nvectors;		/* in use */
	unsigned int device_vectors;	/* offered by the device */
	struct ivshmem_vector *vectors;
	atomic64_t doorbells_sent;

	int peer_id;			/* -1 until ready */
	struct delayed_work ready_work;	/* polls IVPosition on revision 0 */
	unsigned int ready_poll_ms;	/* grows while the peer ID is unknown */

	/* Woken on readiness and removal; interrupts wake the vectors' queues. */
	wait_queue_head_t wq;
	/* poll() sleepers, woken by any interrupt, readiness and removal. */
	wait_queue_head_t poll_wq;
};

/* What an open file has taken of one vector's interrupt count. */
struct ivshmem_file_vector {
	u64 seen;		/* consumed up to here; under ivshmem_file.lock */
	u64 bound_from;		/* its eventfd bound here; under ivshmem_vector.lock */
};

/* One open file of /dev/ivshmemN. */
struct ivshmem_file {
	struct ivshmem_dev *idev;
	/* Vectors with an eventfd of this file: they do not make poll() readable. */
	DECLARE_BITMAP(bound, IVSHMEM_MAX_VECTORS);
	spinlock_t lock;		/* protects @vec[].seen */
	struct ivshmem_file_vector vec[];
};

/* core.c */
void ivshmem_dev_get(struct ivshmem_dev *idev);
void ivshmem_dev_put(struct ivshmem_dev *idev);
struct ivshmem_dev *ivshmem_dev_find(unsigned long index);
struct ivshmem_dev *ivshmem_dev_find_from(unsigned long *index);
void ivshmem_announce_ready(struct ivshmem_dev *idev);
int __must_check ivshmem_lock_hw(struct ivshmem_dev *idev);
extern const struct attribute_group *ivshmem_groups[];

/* cdev.c */
extern const struct file_operations ivshmem_fops;

/* irq.c */
int ivshmem_irq_setup(struct ivshmem_dev *idev);
void ivshmem_irq_teardown(struct ivshmem_dev *idev);
void ivshmem_ready_start(struct ivshmem_dev *idev);
void ivshmem_ready_stop(struct ivshmem_dev *idev);
void ivshmem_irq_restore(struct ivshmem_dev *idev);
void ivshmem_irq_notify_removal(struct ivshmem_dev *idev);
bool ivshmem_is_ready(struct ivshmem_dev *idev);
int ivshmem_wait_ready(struct ivshmem_dev *idev, int *timeout_ms);
int ivshmem_wait_vectors(struct ivshmem_file *file, unsigned long *vectors,
			 int *timeout_ms);
bool ivshmem_file_pending(struct ivshmem_file *file);
int ivshmem_set_eventfd(struct ivshmem_file *file, unsigned int vector, int fd);
void ivshmem_file_release_eventfds(struct ivshmem_file *file);

u64 ivshmem_vector_stat(struct ivshmem_vector *vec);
void ivshmem_reset_stats(struct ivshmem_dev *idev);

/* genl.c */
int ivshmem_genl_init(void);
void ivshmem_genl_exit(void);
void ivshmem_genl_notify(struct ivshmem_dev *idev, u8 cmd);

/* mmap.c */
struct vm_area_desc;
int ivshmem_fs_init(void);
void ivshmem_fs_exit(void);
struct inode *ivshmem_inode_new(void);
int ivshmem_mmap(struct file *filp, struct vm_area_struct *vma);
int ivshmem_mmap_prepare(struct vm_area_desc *desc);
#ifdef HAVE_HUGE_PFNMAP
unsigned long ivshmem_get_unmapped_area(struct file *filp, unsigned long addr,
					unsigned long len, unsigned long pgoff,
					unsigned long flags);
#else
#define ivshmem_get_unmapped_area NULL	/* the default placement */
#endif
void ivshmem_revoke_mappings(struct ivshmem_dev *idev);

/* Without its write-back kernel mapping, the memory is mapped uncached. */
static inline bool ivshmem_uncached(struct ivshmem_dev *idev)
{
	return !idev->shm;
}

/* Whether the device is gone, for checks made without @lock. */
static inline bool ivshmem_dead(struct ivshmem_dev *idev)
{
	/* Pairs with the release in ivshmem_remove(): true only once revoked. */
	return smp_load_acquire(&idev->dead);
}

/* A PCI reset or AER recovery keeps the hardware out of reach. */
static inline bool ivshmem_hw_held(struct ivshmem_dev *idev)
{
	return READ_ONCE(idev->resetting) || READ_ONCE(idev->frozen);
}

#endif /* IVSHMEM_PRIV_H */
