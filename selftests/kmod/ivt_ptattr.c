// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper for arm64 guests: the memory type of the page table entry
 * that maps an address, read from the page tables themselves, so that
 * mmap_test can hold the driver to the type it documents without taking
 * its word for it.
 *
 * /sys/kernel/debug/ivt_ptattr: write "user ADDR" (the writer's own
 * mapping) or "kernel ADDR" (the kernel's, e.g. an ioremap() area from
 * /proc/vmallocinfo); read back "LEVEL TYPE", LEVEL one of pte, pmd, pud
 * and TYPE the MAIR index's name: normal (write-back), normal-nc,
 * normal-tagged, device-ngnrne, device-ngnre, or attr-N; "none" if nothing
 * maps it.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pgtable.h>
#include <linux/uaccess.h>
#include <asm/memory.h>
#include <asm/sysreg.h>

static DEFINE_MUTEX(ptattr_lock);
static char ptattr_result[64] = "none\n";
static struct dentry *ptattr_file;

static const char *ptattr_type(u64 desc)
{
	switch ((desc & PTE_ATTRINDX_MASK) >> 2) {
	case MT_NORMAL:
		return "normal";
	case MT_NORMAL_NC:
		return "normal-nc";
	case MT_NORMAL_TAGGED:
		return "normal-tagged";
	case MT_DEVICE_nGnRnE:
		return "device-ngnrne";
	case MT_DEVICE_nGnRE:
		return "device-ngnre";
	}
	return NULL;
}

/*
 * The leaf entry mapping @addr in @pgd's tables: its level and value.  Only
 * valid table entries are followed: anything else (none, not present, a
 * swap or migration entry) maps nothing here.
 */
static const char *ptattr_walk(pgd_t *pgdp, unsigned long addr, u64 *desc)
{
	pgd_t pgd = READ_ONCE(*pgdp);
	p4d_t *p4dp, p4d;
	pud_t *pudp, pud;
	pmd_t *pmdp, pmd;
	pte_t pte;

	if (pgd_none(pgd) || pgd_bad(pgd))
		return NULL;
	p4dp = p4d_offset(pgdp, addr);
	p4d = READ_ONCE(*p4dp);
	if (p4d_none(p4d) || p4d_bad(p4d))
		return NULL;
	pudp = pud_offset(p4dp, addr);
	pud = READ_ONCE(*pudp);
	if (!pud_present(pud))
		return NULL;
	if (pud_leaf(pud)) {
		*desc = pud_val(pud);
		return "pud";
	}
	if (pud_bad(pud))
		return NULL;
	pmdp = pmd_offset(pudp, addr);
	pmd = READ_ONCE(*pmdp);
	if (!pmd_present(pmd))
		return NULL;
	if (pmd_leaf(pmd)) {
		*desc = pmd_val(pmd);
		return "pmd";
	}
	if (pmd_bad(pmd))
		return NULL;
	/* No highmem on arm64: user page tables are in the linear map too. */
	pte = READ_ONCE(*pte_offset_kernel(pmdp, addr));
	if (!pte_present(pte))
		return NULL;
	*desc = pte_val(pte);
	return "pte";
}

/*
 * The kernel's tables are init_mm's, which modules cannot name; TTBR1 holds
 * them.  Masked off: the ASID (63:48) and CnP (0).  Bits 5:2 would hold
 * physical address bits 51:48 with 52-bit physical addresses, but
 * swapper_pg_dir is in the kernel image, far below 2^48 on every machine
 * the suite boots.
 */
static pgd_t *ptattr_kernel_pgd(void)
{
	return __va(read_sysreg(ttbr1_el1) & GENMASK_ULL(47, 12));
}

static ssize_t ptattr_write(struct file *file, const char __user *ubuf,
			    size_t len, loff_t *ppos)
{
	char buf[64], space[8];
	const char *level = NULL, *type;
	unsigned long addr;
	u64 desc = 0;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%7s %lx", space, &addr) != 2)
		return -EINVAL;

	if (!strcmp(space, "user")) {
		struct vm_area_struct *vma;

		/*
		 * Only PFN and I/O mappings, whose page tables no one but a
		 * holder of the mmap lock for write frees (khugepaged
		 * retracts the tables of others under the read lock).
		 */
		mmap_read_lock(current->mm);
		vma = find_vma(current->mm, addr);
		if (vma && vma->vm_start <= addr && (vma->vm_flags & (VM_PFNMAP | VM_IO)))
			level = ptattr_walk(pgd_offset(current->mm, addr), addr, &desc);
		mmap_read_unlock(current->mm);
	} else if (!strcmp(space, "kernel")) {
		if (!is_vmalloc_addr((void *)addr))
			return -EINVAL;
		level = ptattr_walk(pgd_offset_pgd(ptattr_kernel_pgd(), addr), addr, &desc);
	} else {
		return -EINVAL;
	}

	mutex_lock(&ptattr_lock);
	if (!level) {
		strscpy(ptattr_result, "none\n", sizeof(ptattr_result));
	} else {
		type = ptattr_type(desc);
		if (type)
			snprintf(ptattr_result, sizeof(ptattr_result), "%s %s\n", level, type);
		else
			snprintf(ptattr_result, sizeof(ptattr_result), "%s attr-%llu\n", level,
				 (desc & PTE_ATTRINDX_MASK) >> 2);
	}
	mutex_unlock(&ptattr_lock);
	return len;
}

static ssize_t ptattr_read(struct file *file, char __user *ubuf, size_t len,
			   loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&ptattr_lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, ptattr_result,
				      strlen(ptattr_result));
	mutex_unlock(&ptattr_lock);
	return ret;
}

static const struct file_operations ptattr_fops = {
	.owner = THIS_MODULE,
	.write = ptattr_write,
	.read = ptattr_read,
	.llseek = default_llseek,
};

static int __init ptattr_init(void)
{
	ptattr_file = debugfs_create_file("ivt_ptattr", 0600, NULL, NULL, &ptattr_fops);
	return 0;
}

static void __exit ptattr_exit(void)
{
	debugfs_remove(ptattr_file);
}

module_init(ptattr_init);
module_exit(ptattr_exit);
MODULE_DESCRIPTION("ivshmem selftests: the memory type of a page table entry (arm64)");
MODULE_LICENSE("GPL");
