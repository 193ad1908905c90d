// SPDX-License-Identifier: GPL-2.0
/*
 * ivshmem mappings of the shared memory (BAR2).
 *
 * mmap() only sets up the VMA; pages are inserted by the fault handler.
 * Every mapping belongs to the address space of an inode the driver owns
 * (one per device, on a private pseudo filesystem), so removal can zap them
 * all with unmap_mapping_range(); later faults see the device dead and raise
 * SIGBUS.
 *
 * Where the kernel can map PFNs with PMD and PUD leaf entries (conftest
 * huge_pfnmap: 6.12 and later), faults map the biggest aligned block that
 * fits, and get_unmapped_area() places mappings so that blocks line up.
 * Older kernels keep PTEs only: without pmd_special() a huge PFN entry would
 * be taken for a page by GUP and fork.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mount.h>
#include <linux/pseudo_fs.h>
#include <linux/vmalloc.h>

#include "ivshmem.h"

#define IVSHMEM_FS_MAGIC	0x69767368	/* "ivsh" */

/* Pages inserted per fault: one fault maps the aligned block around it. */
#define IVSHMEM_FAULT_PAGES	16

static bool huge_mappings = true;
module_param(huge_mappings, bool, 0644);
MODULE_PARM_DESC(huge_mappings,
		 "Map the shared memory with PMD and PUD entries where the kernel can (default: true)");

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

#ifdef HAVE_HUGE_PFNMAP
/*
 * Can a leaf entry of @order map the shared memory?  The CPU must have such
 * pages (not every x86 CPU has 1 GiB ones), and the fault path does not ask.
 */
static bool ivshmem_huge_order_ok(unsigned int order)
{
	if (!READ_ONCE(huge_mappings))
		return false;
	if (order == PMD_ORDER)
		return arch_vmap_pmd_supported(PAGE_SHARED);
	if (order == PUD_ORDER)
		return IS_ENABLED(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) &&
		       arch_vmap_pud_supported(PAGE_SHARED);
	return false;
}

static vm_fault_t ivshmem_vm_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivshmem_dev *idev = vma->vm_private_data;
	unsigned long size = PAGE_SIZE << order;
	unsigned long addr = ALIGN_DOWN(vmf->address, size);
	pgoff_t pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	unsigned long pfn = PHYS_PFN(idev->shm_phys) + pgoff;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	if (!order)
		return ivshmem_vm_fault(vmf);
	/*
	 * The block must lie inside the VMA, and the PFN must be as aligned
	 * as the address: a leaf entry maps an aligned physical block, so a
	 * misaligned one would map memory next to the one asked for (kernel
	 * bugzilla 219619).  The VMA lies inside the BAR, checked by mmap().
	 */
	if (!ivshmem_huge_order_ok(order) ||
	    addr < vma->vm_start || addr + size > vma->vm_end ||
	    !IS_ALIGNED(pfn, 1UL << order))
		return VM_FAULT_FALLBACK;

	down_read(&idev->lock);
	if (idev->dead)
		goto out;
	if (order == PMD_ORDER)
		ret = ivshmem_insert_pfn_pmd(vmf, pfn, write);
	else
		ret = ivshmem_insert_pfn_pud(vmf, pfn, write);
out:
	up_read(&idev->lock);
	return ret;
}

/*
 * The core splits PMD entries where a VMA is split, but not PUD ones:
 * vma_adjust_trans_huge() and mremap()'s move_page_tables() walk into a
 * PUD entry as if it were a PMD table (6.12 to 7.2 at least), that is, into
 * the shared memory.  So before a split (may_split) and before page tables
 * move (copy_vma() opens the new VMA first), huge entries of this process
 * are zapped, with its VMAs write-locked so that no fault brings them back.
 * Both are rare; the next accesses fault the memory in again.
 */
static void ivshmem_zap_for_change(struct vm_area_struct *vma)
{
	VMA_ITERATOR(vmi, vma->vm_mm, 0);
	struct ivshmem_dev *idev = vma->vm_private_data;
	struct vm_area_struct *v;

	mmap_assert_write_locked(vma->vm_mm);
	for_each_vma(vmi, v)
		if (v->vm_ops == vma->vm_ops)
			vma_start_write(v);
	unmap_mapping_range(idev->inode->i_mapping, 0, 0, 1);
}

static int ivshmem_vm_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	if (!IS_ALIGNED(addr, PUD_SIZE))
		ivshmem_zap_for_change(vma);
	return 0;
}

/* Called for splits, mremap() and fork(); only the first two change @vma's mm. */
static void ivshmem_vm_open(struct vm_area_struct *vma)
{
	if (vma->vm_mm == current->mm)
		ivshmem_zap_for_change(vma);
}

/*
 * Place a mapping so that its addresses and the BAR's physical addresses
 * agree modulo the biggest leaf entry it can hold: only then can faults map
 * whole blocks.  A fixed address or a hint is taken as given; faults check
 * alignment themselves.
 */
unsigned long ivshmem_get_unmapped_area(struct file *filp, unsigned long addr,
					unsigned long len, unsigned long pgoff,
					unsigned long flags)
{
	struct ivshmem_file *file = filp->private_data;
	phys_addr_t phys = file->idev->shm_phys + ((phys_addr_t)pgoff << PAGE_SHIFT);
	unsigned long align = 0, area;

	if (len >= PUD_SIZE && ivshmem_huge_order_ok(PUD_ORDER))
		align = PUD_SIZE;
	else if (len >= PMD_SIZE && ivshmem_huge_order_ok(PMD_ORDER))
		align = PMD_SIZE;

	if (align && !addr && !(flags & MAP_FIXED) && len + align > len) {
		area = ivshmem_mm_get_unmapped_area(filp, 0, len + align, pgoff, flags);
		if (!IS_ERR_VALUE(area))
			return area + ((phys - area) & (align - 1));
	}
	return ivshmem_mm_get_unmapped_area(filp, addr, len, pgoff, flags);
}
#else
#define ivshmem_vm_huge_fault NULL
#define ivshmem_vm_may_split NULL
#define ivshmem_vm_open NULL
#endif /* HAVE_HUGE_PFNMAP */

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
	.open = ivshmem_vm_open,
	.may_split = ivshmem_vm_may_split,
	.fault = ivshmem_vm_fault,
	.huge_fault = ivshmem_vm_huge_fault,
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
