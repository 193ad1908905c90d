// SPDX-License-Identifier: GPL-2.0
#include <linux/fs.h>
#include <linux/mm.h>

/* .mmap_prepare with VMA flags as a vma_flags_t bitmap (7.x). */
static int conftest_prepare(struct vm_area_desc *desc)
{
	vma_desc_set_flags(desc, VMA_IO_BIT, VMA_PFNMAP_BIT);
	vma_desc_clear_flags(desc, VMA_MAYEXEC_BIT);
	return vma_desc_test(desc, VMA_MAYSHARE_BIT) ? (int)vma_desc_pages(desc) : 0;
}

const struct file_operations conftest_fops = {
	.mmap_prepare = conftest_prepare,
};
