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
 * Where the kernel can map PFNs with PUD leaf entries (conftest huge_pfnmap:
 * 6.12 and later), faults map whole aligned 1 GiB blocks that fit, and
 * get_unmapped_area() places mappings so that blocks line up.  Older kernels
 * keep PTEs only: without pmd_special() and pud_special() a huge PFN entry
 * would be taken for a page by GUP and fork.
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
		 "Map the shared memory with 1 GiB entries where the kernel can (default: true)");

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

	/*
	 * Killed while the device recovers: SIGBUS, which a copy from or to
	 * user space turns into EFAULT, where NOPAGE would fault again.
	 */
	if (ivshmem_lock_hw(idev))
		return VM_FAULT_SIGBUS;
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
 * Can a PUD entry map @idev's memory?  The CPU must have 1 GiB pages (not
 * every x86 CPU does, and the fault path does not ask), and the memory must
 * be write-back: 6.12 maps PUD entries with the VMA's protection rather than
 * the memory type PAT has for the BAR, so an uncached BAR would get two.
 */
static bool ivshmem_pud_ok(struct ivshmem_dev *idev)
{
	return READ_ONCE(huge_mappings) && !ivshmem_uncached(idev) &&
	       arch_vmap_pud_supported(PAGE_SHARED);
}

/*
 * A write fault on our own present leaf entry, which must become writable.
 * The VMA's protection is write-protected where soft-dirty tracking was
 * reset (clear_refs), so entries are inserted read-only; inserting again
 * without write would change nothing and the write would fault for ever.
 * Any other fault inserts without write: the slot may be empty, and
 * another thread may put a page table there meanwhile, which a write
 * insert would take for a foreign entry (a WARN).  Our leaf stays until
 * a zap under the mmap lock for write, or idev->lock for write, or a
 * fallback from a write fault on it, which ivshmem_vm_huge_fault() never
 * returns while it is there.
 */
static bool ivshmem_pud_wp(struct vm_fault *vmf, unsigned long pfn)
{
	pud_t pud = READ_ONCE(*vmf->pud);

	return (vmf->flags & FAULT_FLAG_WRITE) && pud_present(pud) && pud_leaf(pud) &&
	       pud_pfn(pud) == pfn;
}

/*
 * Only PUD entries: core code takes a PMD entry for a page where a PUD one
 * is split or skipped (mbind(MPOL_MF_STRICT) reads pmd_folio() of it, 6.12
 * to 7.2 at least), so PMD-sized blocks get PTEs.
 */
static vm_fault_t ivshmem_vm_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ivshmem_dev *idev = vma->vm_private_data;
	unsigned long addr = ALIGN_DOWN(vmf->address, PUD_SIZE);
	unsigned long pfn;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	bool wp;

	if (!order)
		return ivshmem_vm_fault(vmf);
	if (order != PUD_ORDER || addr < vma->vm_start || addr + PUD_SIZE > vma->vm_end)
		return VM_FAULT_FALLBACK;
	pfn = PHYS_PFN(idev->shm_phys) + vma->vm_pgoff +
	      ((addr - vma->vm_start) >> PAGE_SHIFT);
	/*
	 * Our own leaf is made writable whatever huge_mappings says by now:
	 * a fallback would have the core clear it under another thread's
	 * write insert.  A new entry needs huge mappings on, and a PFN as
	 * aligned as the address: a PUD entry maps an aligned physical block,
	 * so a misaligned PFN would map the memory around it (kernel
	 * bugzilla 219619).  The block lies in the VMA, and so in the BAR,
	 * checked by mmap().
	 */
	wp = ivshmem_pud_wp(vmf, pfn);
	if (!wp && (!ivshmem_pud_ok(idev) || !IS_ALIGNED(pfn, 1UL << PUD_ORDER)))
		return VM_FAULT_FALLBACK;

	if (ivshmem_lock_hw(idev))
		return VM_FAULT_SIGBUS;
	if (!idev->dead) {
		/*
		 * Set before the entry exists, so that a split that finds the
		 * VMA write-locked (no fault under way) and the flag clear
		 * knows there is no entry: see ivshmem_vm_zap_pud().
		 */
		set_bit(IVSHMEM_FLAG_PUD_MAPPED, &idev->flags);
		ret = ivshmem_insert_pfn_pud(vmf, pfn, wp);
	}
	up_read(&idev->lock);
	return ret;
}

/* Can @v hold a PUD entry: does it span an aligned 1 GiB block? */
static bool ivshmem_vma_spans_pud(struct vm_area_struct *v)
{
	unsigned long start = ALIGN(v->vm_start, PUD_SIZE);

	return start >= v->vm_start && start + PUD_SIZE <= v->vm_end;
}

/*
 * Zap @v if it may hold a PUD entry: it spans a 1 GiB block, and one was
 * ever inserted for the device.  @v is write-locked first, so no fault on
 * it is under way when the flag is read (faults set it before inserting).
 */
static void ivshmem_vm_zap_pud(struct vm_area_struct *v)
{
	struct ivshmem_dev *idev = v->vm_private_data;

	if (!ivshmem_vma_spans_pud(v))
		return;
	vma_start_write(v);
	if (test_bit(IVSHMEM_FLAG_PUD_MAPPED, &idev->flags))
		zap_vma_range(v, v->vm_start, v->vm_end - v->vm_start);
}

/*
 * The core does not split PUD entries where a VMA is split: both
 * vma_adjust_trans_huge() and mremap()'s move_page_tables() walk into one
 * as if it were a PMD table, that is, into the shared memory (6.12 to 7.2
 * at least).  So the mappings that may hold a PUD entry lose their entries
 * first; the next accesses fault the memory in again.
 *
 * A split asks ->may_split() of the VMA being split, in whatever process
 * it happens (DAMON's kernel thread splits other processes' VMAs): only
 * that VMA needs it, so cutting a mapping into many pieces does not walk
 * all of them for each cut.
 */
static int ivshmem_vm_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	ivshmem_vm_zap_pud(vma);
	return 0;
}

/*
 * A move (mremap(), always in the calling process) opens its destination
 * first, through copy_vma(), outside every VMA of ours, and its source
 * cannot be told apart from the rest: every mapping of the device in the
 * process that may hold a PUD entry loses its entries; moves are rare.
 * Splits open the new VMA too, while the VMA being split still covers its
 * range: ->may_split() has seen to that one.  Fork opens the child's VMAs,
 * in another process, with nothing to do.
 */
static void ivshmem_vm_open(struct vm_area_struct *vma)
{
	VMA_ITERATOR(vmi, vma->vm_mm, 0);
	struct mm_struct *mm = vma->vm_mm;
	struct vm_area_struct *v;

	if (mm != current->mm)
		return;
	mmap_assert_write_locked(mm);
	v = find_vma(mm, vma->vm_start);
	if (v && v != vma && v->vm_ops == vma->vm_ops &&
	    v->vm_private_data == vma->vm_private_data &&
	    v->vm_start <= vma->vm_start && v->vm_end >= vma->vm_end &&
	    v->vm_pgoff + ((vma->vm_start - v->vm_start) >> PAGE_SHIFT) == vma->vm_pgoff)
		return;
	for_each_vma(vmi, v)
		if (v->vm_ops == vma->vm_ops && v->vm_private_data == vma->vm_private_data)
			ivshmem_vm_zap_pud(v);
}

/*
 * Place a mapping of 1 GiB or more so that its addresses and the BAR's
 * physical addresses agree modulo 1 GiB: only then can faults map whole
 * blocks.  A fixed address or a hint is taken as given; faults check
 * alignment themselves.
 */
unsigned long ivshmem_get_unmapped_area(struct file *filp, unsigned long addr,
					unsigned long len, unsigned long pgoff,
					unsigned long flags)
{
	struct ivshmem_file *file = filp->private_data;
	struct ivshmem_dev *idev = file->idev;
	phys_addr_t phys = idev->shm_phys + ((phys_addr_t)pgoff << PAGE_SHIFT);
	unsigned long area;

	if (len >= PUD_SIZE && !addr && !(flags & MAP_FIXED) && ivshmem_pud_ok(idev)) {
		area = ivshmem_mm_get_unmapped_area(filp, 0, len + PUD_SIZE, pgoff, flags);
		if (!IS_ERR_VALUE(area))
			return area + ((phys - area) & (PUD_SIZE - 1));
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

	if (ivshmem_lock_hw(idev))
		return -EINTR;
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

/* What an mmap() asks for, read from its VMA or from its description. */
struct ivshmem_mmap_req {
	bool shared, write, exec;
	unsigned long pgoff, pages;
};

/* The checks of every mmap() of the device: 0 or an errno. */
static int ivshmem_mmap_check(struct file *filp, const struct ivshmem_mmap_req *req)
{
	struct ivshmem_file *file = filp->private_data;
	struct ivshmem_dev *idev = file->idev;
	unsigned long shm_pages = idev->shm_size >> PAGE_SHIFT;

	/* A private copy of memory other machines write makes no sense. */
	if (!req->shared)
		return -EINVAL;
	if (req->write && !(filp->f_mode & FMODE_WRITE))
		return -EACCES;
	/* Nor is code run that other machines can rewrite under it. */
	if (req->exec)
		return -EPERM;
	if (req->pgoff >= shm_pages || req->pages > shm_pages - req->pgoff)
		return -EINVAL;
	if (ivshmem_dead(idev))
		return -ENODEV;
	return 0;
}

/*
 * The protection of a mapping: the memory is shared with the host, so a
 * confidential guest (SEV, TDX) must map it unencrypted, as VFIO and DRM do
 * for theirs.
 */
static pgprot_t ivshmem_mmap_prot(struct ivshmem_dev *idev, pgprot_t prot)
{
	prot = pgprot_decrypted(prot);
	return ivshmem_uncached(idev) ? pgprot_noncached(prot) : prot;
}

#ifdef HAVE_MMAP_PREPARE_VMA_FLAGS
int ivshmem_mmap_prepare(struct vm_area_desc *desc)
{
	struct ivshmem_file *file = desc->file->private_data;
	struct ivshmem_mmap_req req = {
		.shared = vma_desc_test(desc, VMA_MAYSHARE_BIT),
		.write = vma_desc_test(desc, VMA_WRITE_BIT),
		.exec = vma_desc_test(desc, VMA_EXEC_BIT),
		.pgoff = desc->pgoff,
		.pages = vma_desc_pages(desc),
	};
	int ret = ivshmem_mmap_check(desc->file, &req);

	if (ret)
		return ret;
	vma_desc_set_flags(desc, VMA_IO_BIT, VMA_PFNMAP_BIT, VMA_DONTEXPAND_BIT,
			   VMA_DONTDUMP_BIT);
	/* mprotect() must not make it executable, nor writable if read-only. */
	vma_desc_clear_flags(desc, VMA_MAYEXEC_BIT);
	if (!(desc->file->f_mode & FMODE_WRITE))
		vma_desc_clear_flags(desc, VMA_MAYWRITE_BIT);
	desc->page_prot = ivshmem_mmap_prot(file->idev, desc->page_prot);
	desc->vm_ops = &ivshmem_vm_ops;
	desc->private_data = file->idev;
	return 0;
}
#endif

int ivshmem_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct ivshmem_file *file = filp->private_data;
	struct ivshmem_mmap_req req = {
		.shared = vma->vm_flags & VM_MAYSHARE,
		.write = vma->vm_flags & VM_WRITE,
		.exec = vma->vm_flags & VM_EXEC,
		.pgoff = vma->vm_pgoff,
		.pages = vma_pages(vma),
	};
	int ret = ivshmem_mmap_check(filp, &req);

	if (ret)
		return ret;
	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
	/* mprotect() must not make it executable, nor writable if read-only. */
	vm_flags_clear(vma, VM_MAYEXEC);
	if (!(filp->f_mode & FMODE_WRITE))
		vm_flags_clear(vma, VM_MAYWRITE);
	vma->vm_page_prot = ivshmem_mmap_prot(file->idev, vma->vm_page_prot);
	vma->vm_ops = &ivshmem_vm_ops;
	vma->vm_private_data = file->idev;
	return 0;
}
