// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem interrupts: doorbells from peers arrive on MSI-X vectors
 * (ivshmem-doorbell) or on the legacy INTx line (revision 0 without MSI-X).
 *
 * Each vector counts its interrupts.  An open file remembers, per vector,
 * the count it has consumed, so every file sees every interrupt without the
 * handler knowing about files; eventfds bound to a vector are signalled from
 * the handler directly.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/eventfd.h>
#include <linux/interrupt.h>
#include <linux/slab.h>

#include "ivshmem.h"

/*
 * Revision 0 devices are polled for their peer ID, first every 20 ms, then
 * less and less often: a device whose server never speaks costs little.
 */
#define IVSHMEM_READY_POLL_MIN_MS	20
#define IVSHMEM_READY_POLL_MAX_MS	1000

struct ivshmem_eventfd_binding {
	struct list_head node;
	struct eventfd_ctx *ctx;
	struct ivshmem_file *owner;
};

static void ivshmem_vector_fire(struct ivshmem_vector *vec)
{
	struct ivshmem_eventfd_binding *binding;

	spin_lock(&vec->lock);
	atomic64_inc(&vec->count);
	list_for_each_entry(binding, &vec->eventfds, node)
		ivshmem_eventfd_signal(binding->ctx);
	spin_unlock(&vec->lock);
	wake_up_poll(&vec->wq, EPOLLIN | EPOLLRDNORM);
	wake_up_poll(&vec->idev->poll_wq, EPOLLIN | EPOLLRDNORM);
}

static irqreturn_t ivshmem_msix_handler(int irq, void *data)
{
	ivshmem_vector_fire(data);
	return IRQ_HANDLED;
}

static irqreturn_t ivshmem_intx_handler(int irq, void *data)
{
	struct ivshmem_dev *idev = data;
	u32 mask, status;

	/*
	 * A masked device does not raise the line.  Its IntrStatus is left
	 * alone when another device on a shared line does: reading it would
	 * consume a doorbell that IntrMask holds back.
	 */
	mask = ioread32(idev->regs + IVSHMEM_REG_INTR_MASK);
	if (!(mask & IVSHMEM_INTR_PEER))
		return IRQ_NONE;
	/* Reading IntrStatus clears it and deasserts the line. */
	status = ioread32(idev->regs + IVSHMEM_REG_INTR_STATUS);
	/* All ones: the device is gone (surprise removal), not a doorbell. */
	if (status == ~0U || !(status & IVSHMEM_INTR_PEER))
		return IRQ_NONE;
	ivshmem_vector_fire(&idev->vectors[0]);
	return IRQ_HANDLED;
}

static int ivshmem_alloc_vectors(struct ivshmem_dev *idev, unsigned int n)
{
	unsigned int i;

	idev->vectors = kcalloc(n, sizeof(*idev->vectors), GFP_KERNEL);
	if (!idev->vectors)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		idev->vectors[i].idev = idev;
		atomic64_set(&idev->vectors[i].count, 0);
		atomic64_set(&idev->vectors[i].stats_base, 0);
		spin_lock_init(&idev->vectors[i].lock);
		INIT_LIST_HEAD(&idev->vectors[i].eventfds);
		init_waitqueue_head(&idev->vectors[i].wq);
	}
	idev->nvectors = n;
	return 0;
}

static void ivshmem_free_vectors(struct ivshmem_dev *idev)
{
	kfree(idev->vectors);
	idev->vectors = NULL;
	idev->nvectors = 0;
}

/*
 * Take as many MSI-X vectors as the system grants, up to what the device
 * offers.  Returns 0 with irq_mode MSIX, 0 with irq_mode NONE when no vector
 * could be had (the shared memory stays usable), or -ENOMEM.
 */
static int ivshmem_setup_msix(struct ivshmem_dev *idev, int count)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int want, i;
	int got, ret;

	/* Vectors past what the Doorbell register addresses are unreachable. */
	want = min_t(unsigned int, count, IVSHMEM_MAX_VECTORS);
	if (count > IVSHMEM_MAX_VECTORS)
		dev_warn(&pdev->dev, "device offers %d vectors; doorbells reach only %u, using those\n",
			 count, want);

	got = pci_alloc_irq_vectors(pdev, 1, want, PCI_IRQ_MSIX);
	if (got < 0) {
		dev_warn(&pdev->dev, "no MSI-X vectors (%d): doorbells disabled, shared memory only\n",
			 got);
		return 0;
	}
	if (got < want)
		dev_warn(&pdev->dev, "only %d of %u MSI-X vectors granted\n", got, want);

	ret = ivshmem_alloc_vectors(idev, got);
	if (ret)
		goto err_irq_vectors;
	/* MSI-X messages are memory writes: the device must be bus master. */
	pci_set_master(pdev);

	for (i = 0; i < idev->nvectors; i++) {
		ret = request_irq(pci_irq_vector(pdev, i), ivshmem_msix_handler, 0,
				  idev->name, &idev->vectors[i]);
		if (ret) {
			dev_warn(&pdev->dev, "cannot request vector %u (%d): doorbells disabled, shared memory only\n",
				 i, ret);
			goto err_free;
		}
	}
	idev->irq_mode = IVSHMEM_IRQ_MSIX;
	return 0;

err_free:
	while (i--)
		free_irq(pci_irq_vector(pdev, i), &idev->vectors[i]);
	pci_clear_master(pdev);
	ivshmem_free_vectors(idev);
	ret = ret == -ENOMEM ? ret : 0;
err_irq_vectors:
	pci_free_irq_vectors(pdev);
	return ret;
}

static int ivshmem_setup_intx(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	int ret;

	ret = ivshmem_alloc_vectors(idev, 1);
	if (ret)
		return ret;
	ret = request_irq(pdev->irq, ivshmem_intx_handler, IRQF_SHARED,
			  idev->name, idev);
	if (ret) {
		dev_warn(&pdev->dev, "cannot request INTx %u (%d): doorbells disabled, shared memory only\n",
			 pdev->irq, ret);
		ivshmem_free_vectors(idev);
		return ret == -ENOMEM ? ret : 0;
	}
	idev->irq_mode = IVSHMEM_IRQ_INTX;
	iowrite32(IVSHMEM_INTR_PEER, idev->regs + IVSHMEM_REG_INTR_MASK);
	return 0;
}

/*
 * Work out the interrupt mode.  ivshmem-doorbell has MSI-X; a revision 0
 * device without MSI-X signals peers through IntrStatus and INTx (it cannot
 * tell whether it has a server at all, so it is assumed to); anything else
 * is ivshmem-plain and has no interrupts.  Failing to get interrupts is not
 * fatal: the device is then bound without them.  Only -ENOMEM fails.
 */
int ivshmem_irq_setup(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	int count = pci_msix_vec_count(pdev);

	idev->irq_mode = IVSHMEM_IRQ_NONE;
	if (count > 0) {
		idev->device_vectors = count;
		return ivshmem_setup_msix(idev, count);
	}
	if (idev->revision == 0 && pdev->irq) {
		idev->device_vectors = 1;
		return ivshmem_setup_intx(idev);
	}
	return 0;
}

/*
 * A PCI reset or a resume clears IntrMask; without it, a revision 0 device
 * never raises its line again.
 */
void ivshmem_irq_restore(struct ivshmem_dev *idev)
{
	down_read(&idev->lock);
	if (!idev->dead && idev->irq_mode == IVSHMEM_IRQ_INTX)
		iowrite32(IVSHMEM_INTR_PEER, idev->regs + IVSHMEM_REG_INTR_MASK);
	up_read(&idev->lock);
}

/*
 * Tell everyone who waits that the device is gone; called once the mappings
 * are revoked.  Every bound eventfd is signalled once, so that a program
 * blocked in read() on it wakes and finds the device dead (ENODEV).
 */
void ivshmem_irq_notify_removal(struct ivshmem_dev *idev)
{
	struct ivshmem_eventfd_binding *binding;
	unsigned long flags;
	unsigned int v;

	for (v = 0; v < idev->nvectors; v++) {
		struct ivshmem_vector *vec = &idev->vectors[v];

		spin_lock_irqsave(&vec->lock, flags);
		list_for_each_entry(binding, &vec->eventfds, node)
			ivshmem_eventfd_signal(binding->ctx);
		spin_unlock_irqrestore(&vec->lock, flags);
		wake_up_all(&vec->wq);
	}
	wake_up_all(&idev->wq);
	wake_up_poll(&idev->poll_wq, EPOLLHUP | EPOLLERR);
}

void ivshmem_irq_teardown(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int i;

	switch (idev->irq_mode) {
	case IVSHMEM_IRQ_MSIX:
		for (i = 0; i < idev->nvectors; i++)
			free_irq(pci_irq_vector(pdev, i), &idev->vectors[i]);
		pci_free_irq_vectors(pdev);
		pci_clear_master(pdev);
		break;
	case IVSHMEM_IRQ_INTX:
		iowrite32(0, idev->regs + IVSHMEM_REG_INTR_MASK);
		free_irq(pdev->irq, idev);
		break;
	case IVSHMEM_IRQ_NONE:
		break;
	}
}

/* Called with idev->lock held or before the device is visible. */
static bool ivshmem_read_peer_id(struct ivshmem_dev *idev)
{
	s32 pos = (s32)ioread32(idev->regs + IVSHMEM_REG_IV_POSITION);

	/* Revision 0 reads -1 until the server has sent the peer ID. */
	if (pos < 0 || pos > IVSHMEM_MAX_PEER_ID)
		return false;
	WRITE_ONCE(idev->peer_id, pos);
	wake_up_all(&idev->wq);
	return true;
}

static void ivshmem_ready_work(struct work_struct *work)
{
	struct ivshmem_dev *idev = container_of(to_delayed_work(work),
						struct ivshmem_dev, ready_work);
	bool ready = false;

	down_read(&idev->lock);
	if (!idev->dead && !ivshmem_hw_held(idev))
		ready = ivshmem_read_peer_id(idev);
	up_read(&idev->lock);

	if (ready) {
		dev_info(&idev->pdev->dev, "%s: ready, peer ID %d\n",
			 idev->name, idev->peer_id);
		ivshmem_announce_ready(idev);
	} else if (!ivshmem_dead(idev)) {
		idev->ready_poll_ms = min(idev->ready_poll_ms * 2,
					  IVSHMEM_READY_POLL_MAX_MS);
		schedule_delayed_work(&idev->ready_work,
				      msecs_to_jiffies(idev->ready_poll_ms));
	}
}

void ivshmem_ready_start(struct ivshmem_dev *idev)
{
	INIT_DELAYED_WORK(&idev->ready_work, ivshmem_ready_work);
	idev->ready_poll_ms = IVSHMEM_READY_POLL_MIN_MS;
	if (!ivshmem_read_peer_id(idev))
		schedule_delayed_work(&idev->ready_work,
				      msecs_to_jiffies(idev->ready_poll_ms));
}

void ivshmem_ready_stop(struct ivshmem_dev *idev)
{
	cancel_delayed_work_sync(&idev->ready_work);
}

/*
 * Interrupts on @vec since statistics were last reset.  The base is read
 * before the count, which only grows, so a reset in between cannot make the
 * difference negative; the clamp covers what the memory model leaves open.
 */
u64 ivshmem_vector_stat(struct ivshmem_vector *vec)
{
	u64 base = atomic64_read(&vec->stats_base);
	u64 count;

	smp_rmb();	/* pairs with smp_mb() in ivshmem_reset_stats() */
	count = atomic64_read(&vec->count);
	return count > base ? count - base : 0;
}

/*
 * Statistics restart from zero by moving their base: the counts themselves
 * must keep growing, since open files compare them with what they consumed.
 */
void ivshmem_reset_stats(struct ivshmem_dev *idev)
{
	unsigned int v;
	u64 count;

	for (v = 0; v < idev->nvectors; v++) {
		count = atomic64_read(&idev->vectors[v].count);
		smp_mb();	/* the count read before the base written */
		atomic64_set(&idev->vectors[v].stats_base, count);
	}
	atomic64_set(&idev->doorbells_sent, 0);
}

bool ivshmem_is_ready(struct ivshmem_dev *idev)
{
	return READ_ONCE(idev->peer_id) >= 0;
}

static long ivshmem_timeout(int timeout_ms)
{
	return timeout_ms < 0 ? MAX_SCHEDULE_TIMEOUT : msecs_to_jiffies(timeout_ms);
}

/*
 * A wait ended by a signal restarts unless a handler ran (-ERESTARTNOHAND,
 * as the kernel's own sleeps do): a stop and continue, the freezer or a
 * ptrace attach is not an error.  The caller writes the time left back to
 * user space first, so the restarted call waits only for the rest.
 */
static int ivshmem_interrupted(int *timeout_ms, unsigned long deadline)
{
	/* Never more than was asked: jiffies_to_msecs() rounds up. */
	if (*timeout_ms > 0)
		*timeout_ms = time_before(jiffies, deadline) ?
			      min_t(unsigned int, *timeout_ms,
				    jiffies_to_msecs(deadline - jiffies)) : 0;
	return -ERESTARTNOHAND;
}

int ivshmem_wait_ready(struct ivshmem_dev *idev, int *timeout_ms)
{
	long timeout = ivshmem_timeout(*timeout_ms);
	unsigned long deadline = jiffies + timeout;
	long ret;

	ret = wait_event_interruptible_timeout(idev->wq,
					       ivshmem_is_ready(idev) || ivshmem_dead(idev),
					       timeout);
	if (ivshmem_dead(idev))
		return -ENODEV;
	if (ivshmem_is_ready(idev))
		return 0;
	if (ret < 0)
		return ivshmem_interrupted(timeout_ms, deadline);
	return -ETIMEDOUT;
}

/*
 * Consume the interrupts pending for @file on the vectors in @want and
 * return them in @fired.  Returns whether any was pending.
 */
static bool ivshmem_consume(struct ivshmem_file *file, const unsigned long *want,
			    unsigned long *fired)
{
	struct ivshmem_dev *idev = file->idev;
	unsigned int v;
	bool any = false;
	u64 count;

	spin_lock(&file->lock);
	for_each_set_bit(v, want, idev->nvectors) {
		count = atomic64_read(&idev->vectors[v].count);
		if (count != file->vec[v].seen) {
			file->vec[v].seen = count;
			__set_bit(v, fired);
			any = true;
		}
	}
	spin_unlock(&file->lock);
	return any;
}

/*
 * Sleep on the wait queue of every vector in @vectors, and on the device's
 * for removal, so that an interrupt wakes only those waiting for it.  On
 * return @vectors holds the vectors that fired, unless the wait was
 * interrupted (-ERESTARTNOHAND), when it is left alone for the restart.
 */
int ivshmem_wait_vectors(struct ivshmem_file *file, unsigned long *vectors,
			 int *timeout_ms)
{
	struct ivshmem_dev *idev = file->idev;
	unsigned int n = bitmap_weight(vectors, idev->nvectors) + 1;
	long timeout = ivshmem_timeout(*timeout_ms);
	unsigned long deadline = jiffies + timeout;
	DECLARE_BITMAP(fired, IVSHMEM_MAX_VECTORS);
	struct wait_queue_entry onstack[4], *entries = onstack;
	unsigned int v, i = 0;
	int ret;

	if (n > ARRAY_SIZE(onstack)) {
		entries = kcalloc(n, sizeof(*entries), GFP_KERNEL_ACCOUNT);
		if (!entries)
			return -ENOMEM;
	}
	for_each_set_bit(v, vectors, idev->nvectors) {
		init_waitqueue_entry(&entries[i], current);
		add_wait_queue(&idev->vectors[v].wq, &entries[i++]);
	}
	init_waitqueue_entry(&entries[i], current);
	add_wait_queue(&idev->wq, &entries[i]);

	bitmap_zero(fired, IVSHMEM_MAX_VECTORS);
	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (ivshmem_consume(file, vectors, fired)) {
			ret = 0;
			break;
		}
		if (ivshmem_dead(idev)) {
			ret = -ENODEV;
			break;
		}
		if (!timeout) {
			ret = -ETIMEDOUT;
			break;
		}
		if (signal_pending(current)) {
			ret = ivshmem_interrupted(timeout_ms, deadline);
			break;
		}
		timeout = schedule_timeout(timeout);
	}
	__set_current_state(TASK_RUNNING);

	i = 0;
	for_each_set_bit(v, vectors, idev->nvectors)
		remove_wait_queue(&idev->vectors[v].wq, &entries[i++]);
	remove_wait_queue(&idev->wq, &entries[i]);
	if (entries != onstack)
		kfree(entries);

	if (ret != -ERESTARTNOHAND)
		bitmap_copy(vectors, fired, IVSHMEM_MAX_VECTORS);
	return ret;
}

/* Is an interrupt pending on a vector that this file has no eventfd on? */
bool ivshmem_file_pending(struct ivshmem_file *file)
{
	struct ivshmem_dev *idev = file->idev;
	bool pending = false;
	unsigned int v;
	u64 count;

	spin_lock(&file->lock);
	for (v = 0; v < idev->nvectors && !pending; v++) {
		if (test_bit(v, file->bound))
			continue;
		count = atomic64_read(&idev->vectors[v].count);
		pending = count != file->vec[v].seen;
	}
	spin_unlock(&file->lock);
	return pending;
}

static struct ivshmem_eventfd_binding *
ivshmem_find_binding(struct ivshmem_vector *vec, struct ivshmem_file *file)
{
	struct ivshmem_eventfd_binding *binding;

	list_for_each_entry(binding, &vec->eventfds, node)
		if (binding->owner == file)
			return binding;
	return NULL;
}

/*
 * The eventfd of @vector is gone.  What it delivered, the interrupts
 * counted from @bound_from (when it was bound) to @count (when it went),
 * is consumed for WAIT and poll(); one that was pending when it was bound
 * stays pending.  Only then does poll() count the vector again, unless it
 * has been bound anew meanwhile.
 */
static void ivshmem_eventfd_gone(struct ivshmem_file *file, unsigned int vector,
				 u64 bound_from, u64 count)
{
	struct ivshmem_vector *vec = &file->idev->vectors[vector];
	u64 *seen = &file->vec[vector].seen;
	unsigned long flags;

	spin_lock(&file->lock);
	if (*seen < bound_from)
		count--;	/* still one pending: count != seen */
	*seen = max(*seen, count);
	spin_unlock(&file->lock);

	spin_lock_irqsave(&vec->lock, flags);
	if (!ivshmem_find_binding(vec, file))
		clear_bit(vector, file->bound);
	spin_unlock_irqrestore(&vec->lock, flags);
}

/*
 * Bind @fd to @vector for @file, replacing its old binding; -1 unbinds.  A
 * file has at most one binding per vector, so at most IVSHMEM_MAX_VECTORS.
 */
int ivshmem_set_eventfd(struct ivshmem_file *file, unsigned int vector, int fd)
{
	struct ivshmem_vector *vec = &file->idev->vectors[vector];
	struct ivshmem_eventfd_binding *binding = NULL, *old;
	u64 bound_from, count;
	unsigned long flags;
	bool dead = false;

	if (fd >= 0) {
		binding = kzalloc(sizeof(*binding), GFP_KERNEL_ACCOUNT);
		if (!binding)
			return -ENOMEM;
		binding->ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(binding->ctx)) {
			int ret = PTR_ERR(binding->ctx);

			kfree(binding);
			return ret;
		}
		binding->owner = file;
	}

	spin_lock_irqsave(&vec->lock, flags);
	old = ivshmem_find_binding(vec, file);
	if (old)
		list_del(&old->node);
	/*
	 * Removal signals the bindings it finds under this lock once the
	 * device is dead: a binding made after that would never be signalled,
	 * so it is refused instead.
	 */
	if (binding && ivshmem_dead(file->idev)) {
		dead = true;
	} else if (binding) {
		list_add_tail(&binding->node, &vec->eventfds);
		/* A rebind goes on with the bound period of the old binding. */
		if (!old)
			file->vec[vector].bound_from = atomic64_read(&vec->count);
		/* What the eventfd delivers no longer makes poll() readable. */
		set_bit(vector, file->bound);
	}
	/*
	 * Interrupts are counted and signalled under this lock, so every one
	 * counted by now went to the eventfds bound at the time.
	 */
	bound_from = file->vec[vector].bound_from;
	count = atomic64_read(&vec->count);
	spin_unlock_irqrestore(&vec->lock, flags);

	if (old && (!binding || dead))
		ivshmem_eventfd_gone(file, vector, bound_from, count);
	if (old) {
		eventfd_ctx_put(old->ctx);
		kfree(old);
	}
	if (dead) {
		eventfd_ctx_put(binding->ctx);
		kfree(binding);
		return -ENODEV;
	}
	return 0;
}

void ivshmem_file_release_eventfds(struct ivshmem_file *file)
{
	unsigned int v;

	for (v = 0; v < file->idev->nvectors; v++)
		ivshmem_set_eventfd(file, v, -1);
}
