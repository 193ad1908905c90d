// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem character device: /dev/ivshmemN, its ioctls and poll().
 *
 * Arguments are copied in and out with the device lock dropped (see the
 * lock order in ivshmem.h); the lock is held only around the hardware.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ivshmem.h"

static int ivshmem_open(struct inode *inode, struct file *filp)
{
	/* misc_open() hands us the miscdevice, which holds the PCI binding. */
	struct miscdevice *misc = filp->private_data;
	struct ivshmem_dev *idev = container_of(misc, struct ivshmem_dev, misc);
	struct ivshmem_file *file;
	unsigned int v;

	file = kzalloc(struct_size(file, vec, idev->nvectors), GFP_KERNEL_ACCOUNT);
	if (!file)
		return -ENOMEM;
	spin_lock_init(&file->lock);
	/* A new file waits for interrupts that arrive from now on. */
	for (v = 0; v < idev->nvectors; v++)
		file->vec[v].seen = atomic64_read(&idev->vectors[v].count);

	ivshmem_dev_get(idev);
	file->idev = idev;
	filp->private_data = file;
	filp->f_mapping = idev->inode->i_mapping;
	return nonseekable_open(inode, filp);
}

static int ivshmem_release(struct inode *inode, struct file *filp)
{
	struct ivshmem_file *file = filp->private_data;
	struct ivshmem_dev *idev = file->idev;

	ivshmem_file_release_eventfds(file);
	kfree(file);
	ivshmem_dev_put(idev);
	return 0;
}

static long ivshmem_get_info(struct ivshmem_file *file, void __user *arg)
{
	struct ivshmem_dev *idev = file->idev;
	struct ivshmem_info info = {
		.size = idev->shm_size,
		.peer_id = READ_ONCE(idev->peer_id),
		.vectors = idev->nvectors,
		.irq_mode = idev->irq_mode,
		.revision = idev->revision,
		.index = idev->index,
		.device_vectors = idev->device_vectors,
	};

	if (ivshmem_dead(idev))
		return -ENODEV;
	if (info.peer_id >= 0)
		info.flags |= IVSHMEM_INFO_READY;
	if (idev->irq_mode != IVSHMEM_IRQ_NONE)
		info.flags |= IVSHMEM_INFO_DOORBELL;
	if (ivshmem_uncached(idev))
		info.flags |= IVSHMEM_INFO_UNCACHED;

	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long ivshmem_ring(struct file *filp, void __user *arg)
{
	struct ivshmem_file *file = filp->private_data;
	struct ivshmem_dev *idev = file->idev;
	struct ivshmem_ring ring;
	long ret = 0;

	/* Interrupting other machines is writing: a read-only open may not. */
	if (!(filp->f_mode & FMODE_WRITE))
		return -EBADF;
	if (copy_from_user(&ring, arg, sizeof(ring)))
		return -EFAULT;
	/* Reserved fields are checked so that they can gain a meaning later. */
	if (ring.flags || ring.padding)
		return -EINVAL;
	if (idev->irq_mode == IVSHMEM_IRQ_NONE)
		return ivshmem_dead(idev) ? -ENODEV : -EOPNOTSUPP;
	if (ring.peer_id > IVSHMEM_MAX_PEER_ID || ring.vector >= IVSHMEM_MAX_VECTORS)
		return -EINVAL;

	/* A PCI reset or AER recovery holds us up: a kill ends the wait. */
	if (ivshmem_lock_hw(idev))
		return -EINTR;
	if (idev->dead) {
		ret = -ENODEV;
	} else if (!ivshmem_is_ready(idev)) {
		ret = -EAGAIN;
	} else {
		iowrite32(ring.peer_id << 16 | ring.vector,
			  idev->regs + IVSHMEM_REG_DOORBELL);
		atomic64_inc(&idev->doorbells_sent);
	}
	up_read(&idev->lock);
	return ret;
}

static long ivshmem_ioctl_set_eventfd(struct ivshmem_file *file, void __user *arg)
{
	struct ivshmem_dev *idev = file->idev;
	struct ivshmem_eventfd req;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.padding)
		return -EINVAL;
	if (ivshmem_dead(idev))
		return -ENODEV;
	if (idev->irq_mode == IVSHMEM_IRQ_NONE)
		return -EOPNOTSUPP;
	if (req.vector >= idev->nvectors || req.fd < -1)
		return -EINVAL;
	return ivshmem_set_eventfd(file, req.vector, req.fd);
}

static long ivshmem_ioctl_wait_ready(struct ivshmem_file *file, void __user *arg)
{
	struct ivshmem_wait_ready req;
	long ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.padding || req.timeout_ms < -1)
		return -EINVAL;
	ret = ivshmem_wait_ready(file->idev, &req.timeout_ms);
	/* Interrupted: the time left is what a restart waits for. */
	if (ret == -ERESTARTNOHAND && copy_to_user(arg, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}

static long ivshmem_ioctl_wait(struct ivshmem_file *file, void __user *arg)
{
	struct ivshmem_dev *idev = file->idev;
	DECLARE_BITMAP(vectors, IVSHMEM_MAX_VECTORS);
	struct ivshmem_wait req;
	long ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.padding || req.timeout_ms < -1)
		return -EINVAL;
	if (ivshmem_dead(idev))
		return -ENODEV;
	if (idev->irq_mode == IVSHMEM_IRQ_NONE)
		return -EOPNOTSUPP;

	bitmap_from_arr64(vectors, req.vectors, IVSHMEM_MAX_VECTORS);
	if (bitmap_empty(vectors, IVSHMEM_MAX_VECTORS) ||
	    find_next_bit(vectors, IVSHMEM_MAX_VECTORS, idev->nvectors) <
	    IVSHMEM_MAX_VECTORS)
		return -EINVAL;

	ret = ivshmem_wait_vectors(file, vectors, &req.timeout_ms);
	/* Interrupted, the request stays as it was but for the time left. */
	if (ret != -ERESTARTNOHAND)
		bitmap_to_arr64(req.vectors, vectors, IVSHMEM_MAX_VECTORS);
	if (copy_to_user(arg, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}

static long ivshmem_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct ivshmem_file *file = filp->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case IVSHMEM_IOCTL_GET_INFO:
		return ivshmem_get_info(file, argp);
	case IVSHMEM_IOCTL_RING:
		return ivshmem_ring(filp, argp);
	case IVSHMEM_IOCTL_SET_EVENTFD:
		return ivshmem_ioctl_set_eventfd(file, argp);
	case IVSHMEM_IOCTL_WAIT_READY:
		return ivshmem_ioctl_wait_ready(file, argp);
	case IVSHMEM_IOCTL_WAIT:
		return ivshmem_ioctl_wait(file, argp);
	default:
		return -ENOTTY;
	}
}

static __poll_t ivshmem_poll(struct file *filp, poll_table *wait)
{
	struct ivshmem_file *file = filp->private_data;
	struct ivshmem_dev *idev = file->idev;

	poll_wait(filp, &idev->poll_wq, wait);
	if (ivshmem_dead(idev))
		return EPOLLHUP | EPOLLERR;
	if (ivshmem_file_pending(file))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

const struct file_operations ivshmem_fops = {
	.owner = THIS_MODULE,
	.open = ivshmem_open,
	.release = ivshmem_release,
	.unlocked_ioctl = ivshmem_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = ivshmem_poll,
	IVSHMEM_FOP_MMAP,
	.get_unmapped_area = ivshmem_get_unmapped_area,
};
