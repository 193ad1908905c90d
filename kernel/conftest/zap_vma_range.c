// SPDX-License-Identifier: GPL-2.0
#include <linux/mm.h>

void conftest(struct vm_area_struct *vma);
void conftest(struct vm_area_struct *vma)
{
	zap_vma_range(vma, vma->vm_start, vma->vm_end - vma->vm_start);
}
