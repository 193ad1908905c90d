/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels the driver builds for.  Each HAVE_* comes
 * from a compile test in conftest/ (see conftest.sh), not from version
 * numbers, so distribution backports are handled.  The driver is written
 * against the newest API; older kernels get a shim here.
 */
#ifndef IVSHMEM_COMPAT_H
#define IVSHMEM_COMPAT_H

#include <linux/eventfd.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>

#include "conftest.h"

#ifndef HAVE_VM_FLAGS_SET
/* Before 6.3, VMA flags were written directly. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags &= ~flags;
}
#endif

#ifdef HAVE_EVENTFD_SIGNAL_ONE_ARG
#define ivshmem_eventfd_signal(ctx)	eventfd_signal(ctx)
#else
/* Before 6.8, eventfd_signal() took the value to add. */
#define ivshmem_eventfd_signal(ctx)	eventfd_signal(ctx, 1)
#endif

#ifdef HAVE_VMF_INSERT_PFN_PUD_ULONG
#define ivshmem_insert_pfn_pud(vmf, pfn, write)	vmf_insert_pfn_pud(vmf, pfn, write)
#else
/* Before pfn_t went away, huge PFN entries were inserted from one. */
#include <linux/pfn_t.h>
#define ivshmem_insert_pfn_pud(vmf, pfn, write) \
	vmf_insert_pfn_pud(vmf, __pfn_to_pfn_t(pfn, PFN_DEV), write)
#endif

#ifdef HAVE_MMAP_PREPARE_VMA_FLAGS
/* 7.x: .mmap is deprecated; the VMA is described before it exists. */
#define IVSHMEM_FOP_MMAP	.mmap_prepare = ivshmem_mmap_prepare
#else
#define IVSHMEM_FOP_MMAP	.mmap = ivshmem_mmap
#endif

#ifndef HAVE_ZAP_VMA_RANGE
/* Renamed from zap_vma_ptes(); only used where huge PFN mappings exist. */
#define zap_vma_range	zap_vma_ptes
#endif

#ifdef HAVE_MM_GET_UNMAPPED_AREA_NO_MM
#define ivshmem_mm_get_unmapped_area	mm_get_unmapped_area
#else
/* Older kernels took the mm too; only used where huge PFN mappings exist. */
#define ivshmem_mm_get_unmapped_area(filp, addr, len, pgoff, flags) \
	mm_get_unmapped_area(current->mm, filp, addr, len, pgoff, flags)
#endif

#endif /* IVSHMEM_COMPAT_H */
