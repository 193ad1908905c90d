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

static vm_fault_t ivshmem_insert(struct vm_area_struct *vma, unsigned long addr,
				 unsigned long base_pfn)
{
	unsigned long pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);

	return vmf_insert_pfn(vma, addr, base_pfn + pgoff);
}

static vm_fault_t ivshmem_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivshmem_dev *idev = vma->vm_private_data;
	unsigned long block = IVSHMEM_FAULT_PAGES * PAGE_SIZE;
	unsigned long base_pfn, addr, start, end;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	down_read(&idev->lock);
	if (idev->dead)
		goto out;

	base_pfn = PHYS_PFN(idev->shm_phys);
	ret = ivshmem_insert(vma, vmf->address & PAGE_MASK, base_pfn);
	if (ret & VM_FAULT_ERROR)
		goto out;

	/* Map the neighbours too; a failure there only costs a later fault. */
	start = max(vma->vm_start, ALIGN_DOWN(vmf->address, block));
	end = min(vma->vm_end, start + block);
	for (addr = start; addr < end; addr += PAGE_SIZE)
		if (addr != (vmf->address & PAGE_MASK) &&
		    (ivshmem_insert(vma, addr, base_pfn) & VM_FAULT_ERROR))
			break;
	ret = VM_FAULT_NOPAGE;
out:
	up_read(&idev->lock);
	return ret;
}

static const struct vm_operations_struct ivshmem_vm_ops = {
	.fault = ivshmem_vm_fault,
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
	vma->vm_ops = &ivshmem_vm_ops;
	vma->vm_private_data = idev;
	return 0;
}
