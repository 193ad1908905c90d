// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem: driver for QEMU's Inter-VM shared memory PCI device.
 *
 * This file binds the PCI device, owns the device's lifetime and exposes
 * its sysfs attributes.  The character device is in cdev.c, interrupts in
 * irq.c and the shared-memory mappings in mmap.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/io.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "ivshmem.h"

#define PCI_VENDOR_ID_IVSHMEM	0x1af4
#define PCI_DEVICE_ID_IVSHMEM	0x1110

/*
 * Every bound device, by index: lowest free index first, reused after
 * removal.  Lookups take their reference under the xarray's lock, and
 * removal erases the entry before dropping the binding's reference, so a
 * device found here is never freed under its finder.
 */
static DEFINE_XARRAY_ALLOC(ivshmem_devs);

static void ivshmem_dev_release(struct kref *kref)
{
	struct ivshmem_dev *idev = container_of(kref, struct ivshmem_dev, kref);

	iput(idev->inode);
	kfree(idev->pci_state);
	kfree(idev->vectors);
	lockdep_unregister_key(&idev->lock_key);
	kfree(idev);
}

void ivshmem_dev_get(struct ivshmem_dev *idev)
{
	kref_get(&idev->kref);
}

void ivshmem_dev_put(struct ivshmem_dev *idev)
{
	kref_put(&idev->kref, ivshmem_dev_release);
}

/* A reference to the device at @index, or NULL. */
struct ivshmem_dev *ivshmem_dev_find(unsigned long index)
{
	unsigned long found = index;
	struct ivshmem_dev *idev = ivshmem_dev_find_from(&found);

	if (idev && found != index) {
		ivshmem_dev_put(idev);
		return NULL;
	}
	return idev;
}

/*
 * A reference to the registered device with the lowest index at or above
 * *@index, which is updated to that index; NULL if there is none.
 */
struct ivshmem_dev *ivshmem_dev_find_from(unsigned long *index)
{
	struct ivshmem_dev *idev;

	xa_lock(&ivshmem_devs);
	xa_for_each_start(&ivshmem_devs, *index, idev, *index) {
		if (test_bit(IVSHMEM_FLAG_REGISTERED, &idev->flags)) {
			ivshmem_dev_get(idev);
			break;
		}
	}
	xa_unlock(&ivshmem_devs);
	return idev;
}

/*
 * Announce readiness once ADDED is out and the device is ready, whichever
 * comes last: probe calls this after announcing ADDED, the ready poll after
 * reading the peer ID.  The barrier pairs the two, so one of them sees both,
 * and READY never precedes ADDED.
 */
void ivshmem_announce_ready(struct ivshmem_dev *idev)
{
	/* Order our write (flag or peer ID) before reading the other's. */
	smp_mb();
	if (test_bit(IVSHMEM_FLAG_ADDED_SENT, &idev->flags) && ivshmem_is_ready(idev) &&
	    !test_and_set_bit(IVSHMEM_FLAG_READY_ANNOUNCED, &idev->flags))
		ivshmem_genl_notify(idev, IVSHMEM_CMD_READY);
}

static struct ivshmem_dev *dev_to_idev(struct device *dev)
{
	struct miscdevice *misc = dev_get_drvdata(dev);

	return container_of(misc, struct ivshmem_dev, misc);
}

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", dev_to_idev(dev)->shm_size);
}
static DEVICE_ATTR_RO(size);

static ssize_t peer_id_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(dev_to_idev(dev)->peer_id));
}
static DEVICE_ATTR_RO(peer_id);

static ssize_t vectors_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_idev(dev)->nvectors);
}
static DEVICE_ATTR_RO(vectors);

static ssize_t device_vectors_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_idev(dev)->device_vectors);
}
static DEVICE_ATTR_RO(device_vectors);

static const char * const ivshmem_irq_mode_names[] = {
	[IVSHMEM_IRQ_NONE] = "none",
	[IVSHMEM_IRQ_MSIX] = "msix",
	[IVSHMEM_IRQ_INTX] = "intx",
};

static ssize_t irq_mode_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  ivshmem_irq_mode_names[dev_to_idev(dev)->irq_mode]);
}
static DEVICE_ATTR_RO(irq_mode);

static ssize_t revision_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_idev(dev)->revision);
}
static DEVICE_ATTR_RO(revision);

static ssize_t ready_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%d\n", ivshmem_is_ready(dev_to_idev(dev)));
}
static DEVICE_ATTR_RO(ready);

static struct attribute *ivshmem_attrs[] = {
	&dev_attr_size.attr,
	&dev_attr_peer_id.attr,
	&dev_attr_vectors.attr,
	&dev_attr_device_vectors.attr,
	&dev_attr_irq_mode.attr,
	&dev_attr_revision.attr,
	&dev_attr_ready.attr,
	NULL,
};

static const struct attribute_group ivshmem_group = {
	.attrs = ivshmem_attrs,
};

const struct attribute_group *ivshmem_groups[] = {
	&ivshmem_group,
	NULL,
};

static int ivshmem_map_bars(struct ivshmem_dev *idev)
{
	struct pci_dev *pdev = idev->pdev;

	if (pci_resource_len(pdev, IVSHMEM_BAR_REGS) < IVSHMEM_REG_SIZE ||
	    !(pci_resource_flags(pdev, IVSHMEM_BAR_REGS) & IORESOURCE_MEM)) {
		dev_err(&pdev->dev, "BAR0 is not a register page\n");
		return -ENODEV;
	}
	idev->shm_phys = pci_resource_start(pdev, IVSHMEM_BAR_SHM);
	idev->shm_size = pci_resource_len(pdev, IVSHMEM_BAR_SHM);
	if (!idev->shm_size ||
	    !(pci_resource_flags(pdev, IVSHMEM_BAR_SHM) & IORESOURCE_MEM) ||
	    !PAGE_ALIGNED(idev->shm_phys) || !PAGE_ALIGNED(idev->shm_size)) {
		dev_err(&pdev->dev, "BAR2 holds no page-aligned shared memory\n");
		return -ENODEV;
	}

	idev->regs = pci_iomap(pdev, IVSHMEM_BAR_REGS, IVSHMEM_REG_SIZE);
	if (!idev->regs)
		return -ENOMEM;

	/*
	 * This kernel mapping is what makes the user mapping write-back.  QEMU
	 * backs BAR2 with host RAM; mapping it write-back here records the
	 * write-back memory type for the range (x86 PAT), and the PFNs the
	 * fault handler inserts for user space inherit it.  Without it they
	 * would be uncached, many times slower.  It also serves debuggers
	 * (ivshmem_vm_access()).
	 *
	 * If it cannot be had (a BAR too large for a 32-bit kernel's address
	 * space, or a conflicting memory type already reserved), the memory
	 * is still usable, uncached: say so rather than fail.
	 */
	idev->shm = memremap(idev->shm_phys, idev->shm_size, MEMREMAP_WB);
	if (!idev->shm)
		dev_warn(&pdev->dev, "cannot map BAR2 write-back: shared memory is uncached, and slow\n");
	return 0;
}

static void ivshmem_unmap_bars(struct ivshmem_dev *idev)
{
	if (idev->shm)
		memunmap(idev->shm);
	pci_iounmap(idev->pdev, idev->regs);
}

/*
 * AER recovery: the link below the port that reported the error may be
 * reset (always for a fatal error), which clears the device's BARs, and
 * only the driver restores them (slot_reset).  From error_detected to
 * resume every mapping is revoked and whatever reaches the hardware waits
 * in ivshmem_lock_hw(); @lock itself cannot be held across, because the
 * PCI core takes the device locks of the bus for the reset.  A permanent
 * failure is treated as a removal: the mappings stay revoked and every
 * call fails with ENODEV, so no write vanishes unnoticed.  Kernels before
 * 7.0 do not tell drivers when a recovery fails, so a recovery that has
 * not ended after IVSHMEM_AER_TIMEOUT counts as a permanent failure.
 */
#define IVSHMEM_AER_TIMEOUT	(60 * HZ)

static void ivshmem_aer_fail(struct ivshmem_dev *idev)
{
	down_write(&idev->lock);
	if (idev->dead) {
		up_write(&idev->lock);
		return;
	}
	ivshmem_revoke_mappings(idev);
	WRITE_ONCE(idev->frozen, false);
	/* Pairs with ivshmem_dead(): seen dead means seen revoked. */
	smp_store_release(&idev->dead, true);
	up_write(&idev->lock);
	dev_err(&idev->pdev->dev, "%s: the device did not recover from a PCIe error and is gone\n",
		idev->name);
	ivshmem_irq_notify_removal(idev);
}

static void ivshmem_aer_watchdog(struct work_struct *work)
{
	ivshmem_aer_fail(container_of(to_delayed_work(work), struct ivshmem_dev,
				      aer_watchdog));
}

static int ivshmem_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivshmem_dev *idev;
	u32 index;
	int ret;

	idev = kzalloc(sizeof(*idev), GFP_KERNEL);
	if (!idev)
		return -ENOMEM;
	kref_init(&idev->kref);
	/*
	 * A lock class per device, so that lockdep tells apart the devices
	 * a reset of one bus goes through.
	 */
	lockdep_register_key(&idev->lock_key);
	init_rwsem(&idev->lock);
	lockdep_set_class(&idev->lock, &idev->lock_key);
	init_waitqueue_head(&idev->wq);
	init_waitqueue_head(&idev->poll_wq);
	atomic64_set(&idev->doorbells_sent, 0);
	idev->pdev = pdev;
	idev->revision = pdev->revision;
	idev->peer_id = -1;
	strscpy(idev->pci_addr, pci_name(pdev), sizeof(idev->pci_addr));

	idev->inode = ivshmem_inode_new();
	if (IS_ERR(idev->inode)) {
		ret = PTR_ERR(idev->inode);
		idev->inode = NULL;
		goto err_put;
	}

	ret = pci_enable_device(pdev);
	if (ret) {
		dev_err(&pdev->dev, "cannot enable device: %d\n", ret);
		goto err_put;
	}
	ret = pci_request_regions(pdev, KBUILD_MODNAME);
	if (ret) {
		dev_err(&pdev->dev, "cannot claim BARs: %d\n", ret);
		goto err_disable;
	}
	ret = ivshmem_map_bars(idev);
	if (ret)
		goto err_release;

	/* The name is needed first: interrupts are requested under it. */
	ret = xa_alloc(&ivshmem_devs, &index, idev, xa_limit_31b, GFP_KERNEL);
	if (ret)
		goto err_unmap;
	idev->index = index;
	snprintf(idev->name, sizeof(idev->name), "ivshmem%d", idev->index);

	ret = ivshmem_irq_setup(idev);
	if (ret)
		goto err_xa;

	idev->misc.minor = MISC_DYNAMIC_MINOR;
	idev->misc.name = idev->name;
	idev->misc.fops = &ivshmem_fops;
	idev->misc.parent = &pdev->dev;
	idev->misc.groups = ivshmem_groups;
	idev->misc.mode = 0600;

	/*
	 * What AER recovery restores after it resets the link, kept apart:
	 * a reset or a resume uses up the PCI core's copy on older kernels.
	 */
	pci_save_state(pdev);
	idev->pci_state = pci_store_saved_state(pdev);
	INIT_DELAYED_WORK(&idev->aer_watchdog, ivshmem_aer_watchdog);
	pci_set_drvdata(pdev, idev);
	ivshmem_ready_start(idev);

	ret = misc_register(&idev->misc);
	if (ret) {
		dev_err(&pdev->dev, "cannot register %s: %d\n", idev->name, ret);
		goto err_ready;
	}

	dev_info(&pdev->dev, "%s: %llu MiB shared memory, revision %u, %s with %u of %u vector(s)\n",
		 idev->name, idev->shm_size >> 20, idev->revision,
		 idev->irq_mode == IVSHMEM_IRQ_MSIX ? "MSI-X" :
		 idev->irq_mode == IVSHMEM_IRQ_INTX ? "INTx" : "no interrupts",
		 idev->nvectors, idev->device_vectors);
	set_bit(IVSHMEM_FLAG_REGISTERED, &idev->flags);
	ivshmem_genl_notify(idev, IVSHMEM_CMD_ADDED);
	set_bit(IVSHMEM_FLAG_ADDED_SENT, &idev->flags);
	ivshmem_announce_ready(idev);
	return 0;

err_ready:
	ivshmem_ready_stop(idev);
	ivshmem_irq_teardown(idev);
err_xa:
	xa_erase(&ivshmem_devs, idev->index);
err_unmap:
	ivshmem_unmap_bars(idev);
err_release:
	pci_release_regions(pdev);
err_disable:
	pci_disable_device(pdev);
err_put:
	ivshmem_dev_put(idev);
	return ret;
}

static void ivshmem_remove(struct pci_dev *pdev)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	/* No READY after REMOVED. */
	ivshmem_ready_stop(idev);
	cancel_delayed_work_sync(&idev->aer_watchdog);

	/*
	 * First wait for every user of the hardware, revoke every mapping and
	 * mark the device dead; only then let anyone learn of the removal,
	 * through the device node, netlink, a wait, poll() or an eventfd.
	 * Whoever has seen it, with or without the lock, can no longer reach
	 * the old memory.  Files opened meanwhile find the device dead.
	 */
	down_write(&idev->lock);
	ivshmem_revoke_mappings(idev);
	/* Pairs with ivshmem_dead(): seen dead means seen revoked. */
	smp_store_release(&idev->dead, true);
	up_write(&idev->lock);

	misc_deregister(&idev->misc);
	/*
	 * REMOVED goes out while the index is still taken, so that no new
	 * device can announce ADDED under it first; lookups stop at once.
	 */
	clear_bit(IVSHMEM_FLAG_REGISTERED, &idev->flags);
	ivshmem_genl_notify(idev, IVSHMEM_CMD_REMOVED);
	xa_erase(&ivshmem_devs, idev->index);

	ivshmem_irq_teardown(idev);
	/* Now wake the waiters and signal the eventfds. */
	ivshmem_irq_notify_removal(idev);
	ivshmem_unmap_bars(idev);
	pci_release_regions(pdev);
	pci_disable_device(pdev);
	ivshmem_dev_put(idev);
}

/*
 * A PCI reset (sysfs "reset", a reset of the slot or bus) turns memory
 * decoding off until reset_done(), so writes to the BAR in between would
 * vanish without a trace.  So every mapping is revoked and everything that
 * reaches the hardware (faults, ptrace's .access, doorbells, the ready
 * poll) waits in ivshmem_lock_hw() until the device is back: a writer is
 * held for the reset, then goes on.  @lock is not held across: the reset
 * takes pci_bus_sem, which AER holds when it calls error_detected, which
 * takes @lock.  The PCI core pairs the two calls under the device lock,
 * which removal takes too.
 */
static void ivshmem_reset_prepare(struct pci_dev *pdev)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	down_write(&idev->lock);
	ivshmem_revoke_mappings(idev);
	WRITE_ONCE(idev->resetting, true);
	up_write(&idev->lock);
}

/* Memory decoding and MSI-X are back; IntrMask is restored here. */
static void ivshmem_reset_done(struct pci_dev *pdev)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	down_write(&idev->lock);
	WRITE_ONCE(idev->resetting, false);
	up_write(&idev->lock);
	wake_up_all(&idev->wq);
	ivshmem_irq_restore(idev);
}

static pci_ers_result_t ivshmem_error_detected(struct pci_dev *pdev,
					       pci_channel_state_t state)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	if (state == pci_channel_io_perm_failure) {
		cancel_delayed_work_sync(&idev->aer_watchdog);
		ivshmem_aer_fail(idev);
		return PCI_ERS_RESULT_DISCONNECT;
	}
	/* Even for a non-fatal error: 7.x resets the link if any device asks. */
	down_write(&idev->lock);
	ivshmem_revoke_mappings(idev);
	WRITE_ONCE(idev->frozen, true);
	up_write(&idev->lock);
	mod_delayed_work(system_wq, &idev->aer_watchdog, IVSHMEM_AER_TIMEOUT);
	return state == pci_channel_io_frozen ? PCI_ERS_RESULT_NEED_RESET :
						PCI_ERS_RESULT_CAN_RECOVER;
}

static pci_ers_result_t ivshmem_slot_reset(struct pci_dev *pdev)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	if (!idev->pci_state || pci_load_saved_state(pdev, idev->pci_state))
		return PCI_ERS_RESULT_DISCONNECT;
	pci_restore_state(pdev);
	return PCI_ERS_RESULT_RECOVERED;
}

static void ivshmem_error_resume(struct pci_dev *pdev)
{
	struct ivshmem_dev *idev = pci_get_drvdata(pdev);

	cancel_delayed_work_sync(&idev->aer_watchdog);
	down_write(&idev->lock);
	WRITE_ONCE(idev->frozen, false);
	up_write(&idev->lock);
	wake_up_all(&idev->wq);
	ivshmem_irq_restore(idev);
}

/*
 * Take @lock for reading to reach the hardware, once no PCI reset or AER
 * recovery holds it out of reach.  0, or -EINTR on a fatal signal.
 */
int ivshmem_lock_hw(struct ivshmem_dev *idev)
{
	for (;;) {
		if (wait_event_killable(idev->wq, !ivshmem_hw_held(idev) || ivshmem_dead(idev)))
			return -EINTR;
		if (down_read_killable(&idev->lock))
			return -EINTR;
		if (!ivshmem_hw_held(idev) || idev->dead)
			return 0;
		up_read(&idev->lock);
	}
}

static int ivshmem_resume(struct device *dev)
{
	ivshmem_irq_restore(pci_get_drvdata(to_pci_dev(dev)));
	return 0;
}

static DEFINE_SIMPLE_DEV_PM_OPS(ivshmem_pm_ops, NULL, ivshmem_resume);

static const struct pci_error_handlers ivshmem_err_handlers = {
	.error_detected = ivshmem_error_detected,
	.slot_reset = ivshmem_slot_reset,
	.resume = ivshmem_error_resume,
	.reset_prepare = ivshmem_reset_prepare,
	.reset_done = ivshmem_reset_done,
};

static const struct pci_device_id ivshmem_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_IVSHMEM, PCI_DEVICE_ID_IVSHMEM) },
	{ }
};
MODULE_DEVICE_TABLE(pci, ivshmem_ids);

static struct pci_driver ivshmem_driver = {
	.name = KBUILD_MODNAME,
	.id_table = ivshmem_ids,
	.probe = ivshmem_probe,
	.remove = ivshmem_remove,
	.err_handler = &ivshmem_err_handlers,
	.driver.pm = pm_sleep_ptr(&ivshmem_pm_ops),
};

static int __init ivshmem_init(void)
{
	int ret;

	ret = ivshmem_fs_init();
	if (ret)
		return ret;
	ret = ivshmem_genl_init();
	if (ret)
		goto err_fs;
	ret = pci_register_driver(&ivshmem_driver);
	if (ret)
		goto err_genl;
	return 0;

err_genl:
	ivshmem_genl_exit();
err_fs:
	ivshmem_fs_exit();
	return ret;
}
module_init(ivshmem_init);

static void __exit ivshmem_exit(void)
{
	pci_unregister_driver(&ivshmem_driver);
	ivshmem_genl_exit();
	ivshmem_fs_exit();
}
module_exit(ivshmem_exit);

MODULE_DESCRIPTION("QEMU Inter-VM shared memory (ivshmem) device driver");
MODULE_LICENSE("GPL");
