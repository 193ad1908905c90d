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
#include <linux/delay.h>
#include <linux/eventfd.h>
#include <linux/interrupt.h>
#include <linux/slab.h>

#include "ivshmem.h"

/* How often revision 0 devices are polled for their peer ID. */
#define IVSHMEM_READY_POLL_MS	20

struct ivshmem_eventfd_binding {
	struct list_head node;
	struct eventfd_ctx *ctx;
	struct ivshmem_file *owner;
};

static void ivshmem_vector_fire(struct ivshmem_vector *vec)
{
	struct ivshmem_eventfd_binding *binding;

	atomic64_inc(&vec->count);
	spin_lock(&vec->lock);
	list_for_each_entry(binding, &vec->eventfds, node)
		ivshmem_eventfd_signal(binding->ctx);
	spin_unlock(&vec->lock);
	wake_up_all(&vec->idev->wq);
}

static irqreturn_t ivshmem_msix_handler(int irq, void *data)
{
	ivshmem_vector_fire(data);
	return IRQ_HANDLED;
}

static irqreturn_t ivshmem_intx_handler(int irq, void *data)
{
	struct ivshmem_dev *idev = data;

	/* Reading IntrStatus clears it and deasserts the line. */
	if (!(ioread32(idev->regs + IVSHMEM_REG_INTR_STATUS) & IVSHMEM_INTR_PEER))
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
	}
	idev->nvectors = n;
	return 0;
}

static int ivshmem_setup_msix(struct ivshmem_dev *idev, int count)
{
	struct pci_dev *pdev = idev->pdev;
	unsigned int n, i;
	int ret;

	/* Vectors past what the Doorbell register addresses are unreachable. */
	n = min_t(unsigned int, count, IVSHMEM_MAX_VECTORS);
	ret = ivshmem_alloc_vectors(idev, n);
	if (ret)
		return ret;

	ret = pci_alloc_irq_vectors(pdev, n, n, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(&pdev->dev, "cannot allocate %u MSI-X vectors: %d\n", n, ret);
		return ret;
	}
	/* MSI-X messages are memory writes: the device must be bus master. */
	pci_set_master(pdev);

	for (i = 0; i < n; i++) {
		ret = request_irq(pci_irq_vector(pdev, i), ivshmem_msix_handler, 0,
				  idev->name, &idev->vectors[i]);
		if (ret) {
			dev_err(&pdev->dev, "cannot request vector %u: %d\n", i, ret);
			goto err_free;
		}
	}
	idev->irq_mode = IVSHMEM_IRQ_MSIX;
	return 0;

err_free:
	while (i--)
		free_irq(pci_irq_vector(pdev, i), &idev->vectors[i]);
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
		dev_err(&pdev->dev, "cannot request INTx %u: %d\n", pdev->irq, ret);
		return ret;
	}
	idev->irq_mode = IVSHMEM_IRQ_INTX;
	iowrite32(IVSHMEM_INTR_PEER, idev->regs + IVSHMEM_REG_INTR_MASK);
	return 0;
}

/*
 * Work out the interrupt mode.  ivshmem-doorbell has MSI-X; a revision 0
 * device without MSI-X signals peers through IntrStatus and INTx (it cannot
 * tell whether it has a server at all, so it is assumed to); anything else
 * is ivshmem-plain and has no interrupts.
 */
int ivshmem_irq_setup(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;
	int count = pci_msix_vec_count(pdev);

	if (count > 0)
		return ivshmem_setup_msix(idev, count);
	if (idev->revision == 0 && pdev->irq)
		return ivshmem_setup_intx(idev);
	idev->irq_mode = IVSHMEM_IRQ_NONE;
	return 0;
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
	if (!idev->dead)
		ready = ivshmem_read_peer_id(idev);
	up_read(&idev->lock);

	if (ready) {
		dev_info(&idev->pdev->dev, "%s: ready, peer ID %d\n",
			 idev->name, idev->peer_id);
		ivshmem_announce_ready(idev);
	} else if (!ivshmem_dead(idev)) {
		schedule_delayed_work(&idev->ready_work,
				      msecs_to_jiffies(IVSHMEM_READY_POLL_MS));
	}
}

void ivshmem_ready_start(struct ivshmem_dev *idev)
{
	INIT_DELAYED_WORK(&idev->ready_work, ivshmem_ready_work);
	if (!ivshmem_read_peer_id(idev))
		schedule_delayed_work(&idev->ready_work,
				      msecs_to_jiffies(IVSHMEM_READY_POLL_MS));
}

void ivshmem_ready_stop(struct ivshmem_dev *idev)
{
	cancel_delayed_work_sync(&idev->ready_work);
}

/* Interrupts on @vec since statistics were last reset. */
u64 ivshmem_vector_stat(struct ivshmem_vector *vec)
{
	return atomic64_read(&vec->count) - atomic64_read(&vec->stats_base);
}

/*
 * Statistics restart from zero by moving their base: the counts themselves
 * must keep growing, since open files compare them with what they consumed.
 */
void ivshmem_reset_stats(struct ivshmem_dev *idev)
{
	unsigned int v;

	for (v = 0; v < idev->nvectors; v++)
		atomic64_set(&idev->vectors[v].stats_base,
			     atomic64_read(&idev->vectors[v].count));
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
 * Turn the result of wait_event_interruptible_timeout() into an errno.  A
 * signal ends the wait with EINTR rather than a restart, because the
 * restarted call would wait its whole timeout again.
 */
static int ivshmem_wait_result(struct ivshmem_dev *idev, long ret)
{
	if (ivshmem_dead(idev))
		return -ENODEV;
	if (ret < 0)
		return -EINTR;
	return ret ? 0 : -ETIMEDOUT;
}

int ivshmem_wait_ready(struct ivshmem_dev *idev, int timeout_ms)
{
	long ret;

	ret = wait_event_interruptible_timeout(idev->wq,
					       ivshmem_is_ready(idev) || ivshmem_dead(idev),
					       ivshmem_timeout(timeout_ms));
	return ivshmem_wait_result(idev, ret);
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
		if (count != file->seen[v]) {
			file->seen[v] = count;
			__set_bit(v, fired);
			any = true;
		}
	}
	spin_unlock(&file->lock);
	return any;
}

int ivshmem_wait_vectors(struct ivshmem_file *file, unsigned long *vectors,
			 int timeout_ms)
{
	struct ivshmem_dev *idev = file->idev;
	DECLARE_BITMAP(fired, IVSHMEM_MAX_VECTORS);
	long ret;

	bitmap_zero(fired, IVSHMEM_MAX_VECTORS);
	ret = wait_event_interruptible_timeout(idev->wq,
					       ivshmem_consume(file, vectors, fired) ||
					       ivshmem_dead(idev),
					       ivshmem_timeout(timeout_ms));
	bitmap_copy(vectors, fired, IVSHMEM_MAX_VECTORS);
	if (!bitmap_empty(fired, IVSHMEM_MAX_VECTORS))
		return 0;
	return ivshmem_wait_result(idev, ret);
}

bool ivshmem_file_pending(struct ivshmem_file *file)
{
	struct ivshmem_dev *idev = file->idev;
	bool pending = false;
	unsigned int v;

	spin_lock(&file->lock);
	for (v = 0; v < idev->nvectors && !pending; v++)
		pending = atomic64_read(&idev->vectors[v].count) != file->seen[v];
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

/* Bind @fd to @vector for @file, replacing its old binding; -1 unbinds. */
int ivshmem_set_eventfd(struct ivshmem_file *file, unsigned int vector, int fd)
{
	struct ivshmem_vector *vec = &file->idev->vectors[vector];
	struct ivshmem_eventfd_binding *binding = NULL, *old;
	struct eventfd_ctx *old_ctx = NULL;
	unsigned long flags;

	if (fd >= 0) {
		binding = kzalloc(sizeof(*binding), GFP_KERNEL);
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
	if (binding)
		list_add_tail(&binding->node, &vec->eventfds);
	spin_unlock_irqrestore(&vec->lock, flags);

	if (old) {
		old_ctx = old->ctx;
		kfree(old);
		eventfd_ctx_put(old_ctx);
	}
	return 0;
}

void ivshmem_file_release_eventfds(struct ivshmem_file *file)
{
	unsigned int v;

	for (v = 0; v < file->idev->nvectors; v++)
		ivshmem_set_eventfd(file, v, -1);
}
