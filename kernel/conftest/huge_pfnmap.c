// SPDX-License-Identifier: GPL-2.0
/*
 * PFNs mapped by PUD leaf entries: the architecture marks them special
 * (pud_special()), so nothing takes them for pages, and .huge_fault gets
 * the order.
 */
#include <linux/mm.h>

#ifndef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
#error "no huge PFN mappings on this kernel or architecture"
#endif

static vm_fault_t conftest_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	return VM_FAULT_FALLBACK;
}

const struct vm_operations_struct conftest_ops = {
	.huge_fault = conftest_huge_fault,
};
