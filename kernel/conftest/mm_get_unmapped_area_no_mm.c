// SPDX-License-Identifier: GPL-2.0
#include <linux/sched/mm.h>

unsigned long conftest(struct file *filp);
unsigned long conftest(struct file *filp)
{
	return mm_get_unmapped_area(filp, 0, PAGE_SIZE, 0, 0);
}
