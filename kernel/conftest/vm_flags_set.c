// SPDX-License-Identifier: GPL-2.0
#include <linux/mm.h>

void conftest(struct vm_area_struct *vma);
void conftest(struct vm_area_struct *vma)
{
	vm_flags_set(vma, VM_IO);
}
