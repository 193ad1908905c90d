// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem mappings of the shared memory (BAR2).
 *
 * mmap() only sets up the VMA; pages are inserted by the fault handler.
 * Every mapping belongs to the address space of an inode the driver owns
 * (one per device, on a private pseudo filesystem), so removal can zap them
 * all with unmap_mapping_range(); later faults see the device dead and raise
 * SIGBUS.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>

#include "ivshmem.h"

#define IVSHMEM_FS_MAGIC	0x69767368	/* "ivsh" */

/* Pages inserted per fault: one fault maps the aligned block around it. */
#define IVSHMEM_FAULT_PAGES	16

static struct vfsmount *ivshmem_mnt;

static int ivshmem_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, IVSHMEM_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type ivshmem_fs_type = {
	.name = "ivshmem",
	/* No .owner: the module's own mount would pin it forever. */
	.init_fs_context = ivshmem_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

int ivshmem_fs_init(void)
{
	ivshmem_mnt = kern_mount(&ivshmem_fs_type);
	return PTR_ERR_OR_ZERO(ivshmem_mnt);
}

void ivshmem_fs_exit(void)
{
	kern_unmount(ivshmem_mnt);
}

struct inode *ivshmem_inode_new(void)
{
	return alloc_anon_inode(ivshmem_mnt->mnt_sb);
}

void ivshmem_revoke_mappings(struct ivshmem_dev *idev)
{
	unmap_mapping_range(idev->inode->i_mapping, 0, 0, 1);
}

/*
 * Insert the page at @pgoff of the shared memory at @addr.  Offsets past the
 * end cannot come from a VMA mmap() accepted (it is VM_DONTEXPAND), but
 * they are refused here anyway rather than map whatever follows the BAR.
 */
static vm_fault_t ivshmem_insert(struct ivshmem_dev *idev,
				 struct vm_area_struct *vma, unsigned long addr,
				 pgoff_t pgoff)
{
	if (pgoff >= idev->shm_size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	return vmf_insert_pfn(vma, addr, PHYS_PFN(idev->shm_phys) + pgoff);
}

static vm_fault_t ivshmem_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivshmem_dev *idev = vma->vm_private_data;
	unsigned long block = IVSHMEM_FAULT_PAGES * PAGE_SIZE;
	unsigned long fault_addr = vmf->address & PAGE_MASK;
	unsigned long addr, start, end;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&idev->lock);
	if (idev->dead)
		goto out;

	ret = ivshmem_insert(idev, vma, fault_addr, vmf->pgoff);
	if (ret & VM_FAULT_ERROR)
		goto out;

	/* Map the neighbours too; a failure there only costs a later fault. */
	start = max(vma->vm_start, ALIGN_DOWN(fault_addr, block));
	end = min(vma->vm_end, start + block);
	for (addr = start; addr < end; addr += PAGE_SIZE) {
		pgoff_t pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);

		if (addr != fault_addr &&
		    (ivshmem_insert(idev, vma, addr, pgoff) & VM_FAULT_ERROR))
			break;
	}
	ret = VM_FAULT_NOPAGE;
out:
	up_read(&idev->lock);
	return ret;
}

/*
 * ptrace and /proc/PID/mem: get_user_pages() cannot follow a PFN mapping, so
 * the core asks us.  Unlike generic_access_phys(), this reaches pages that
 * were never faulted in, through the kernel mapping the device already has,
 * and it refuses once the device is gone, as a fault would.  At most the
 * rest of one page per call: the caller loops.
 */
static int ivshmem_vm_access(struct vm_area_struct *vma, unsigned long addr,
			     void *buf, int len, int write)
{
	struct ivshmem_dev *idev = vma->vm_private_data;
	u64 offset = ((u64)vma->vm_pgoff << PAGE_SHIFT) + (addr - vma->vm_start);
	void __iomem *io;
	int ret;

	if (write && !(vma->vm_flags & VM_WRITE))
		return -EACCES;
	if (len <= 0 || offset >= idev->shm_size)
		return -EINVAL;
	len = min_t(unsigned long, len, PAGE_SIZE - offset_in_page(addr));

	down_read(&idev->lock);
	ret = -EIO;
	if (idev->dead)
		goto out;
	if (idev->shm) {
		if (write)
			memcpy(idev->shm + offset, buf, len);
		else
			memcpy(buf, idev->shm + offset, len);
	} else {
		io = ioremap(idev->shm_phys + offset, len);
		if (!io)
			goto out;
		if (write)
			memcpy_toio(io, buf, len);
		else
			memcpy_fromio(buf, io, len);
		iounmap(io);
	}
	ret = len;
out:
	up_read(&idev->lock);
	return ret;
}

static const struct vm_operations_struct ivshmem_vm_ops = {
	.fault = ivshmem_vm_fault,
	.access = ivshmem_vm_access,
};

int ivshmem_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct ivshmem_file *file = filp->private_data;
	struct ivshmem_dev *idev = file->idev;
	unsigned long pages = vma_pages(vma);
	unsigned long shm_pages = idev->shm_size >> PAGE_SHIFT;

	/* A private copy of memory other machines write makes no sense. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if ((vma->vm_flags & VM_WRITE) && !(filp->f_mode & FMODE_WRITE))
		return -EACCES;
	if (vma->vm_pgoff >= shm_pages || pages > shm_pages - vma->vm_pgoff)
		return -EINVAL;
	if (ivshmem_dead(idev))
		return -ENODEV;

	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	/* mprotect() must not make a read-only open's mapping writable. */
	if (!(filp->f_mode & FMODE_WRITE))
		vm_flags_clear(vma, VM_MAYWRITE);
	/*
	 * The memory is shared with the host, so a confidential guest (SEV,
	 * TDX) must map it unencrypted, as VFIO and DRM do for theirs.
	 */
	vma->vm_page_prot = pgprot_decrypted(vma->vm_page_prot);
	if (ivshmem_uncached(idev))
		vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	vma->vm_ops = &ivshmem_vm_ops;
	vma->vm_private_data = idev;
	return 0;
}
