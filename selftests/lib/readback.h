/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A writer that reads back every word it writes, for the tests that reset
 * the device under it (reset_test, lifecycle_test): a word that does not
 * read back was lost.
 */
#ifndef IVSHMEM_READBACK_H
#define IVSHMEM_READBACK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* What a writer reports, in memory shared with it. */
struct readback_report {
	atomic_bool stop;
	atomic_ulong passes;	/* complete passes */
	atomic_ulong writes;	/* words written in them */
	atomic_ulong lost;	/* words that did not read back */
};

/*
 * Write the pass number and index into every word of the @len bytes at @w
 * and read each back, pass after pass, until @r->stop; then exit.  Run in a
 * child of its own.
 */
static inline __attribute__((noreturn)) void
readback_writer(struct readback_report *r, volatile uint64_t *w, size_t len)
{
	size_t words = len / sizeof(uint64_t);

	alarm(300);
	for (uint64_t pass = 1; !atomic_load(&r->stop); pass++) {
		for (size_t i = 0; i < words; i++) {
			uint64_t v = pass << 32 | i;

			w[i] = v;
			/* volatile: read back from the BAR, not from the register */
			// cppcheck-suppress knownConditionTrueFalse
			if (w[i] != v)
				atomic_fetch_add(&r->lost, 1);
		}
		atomic_fetch_add(&r->writes, words);
		atomic_store(&r->passes, pass);
	}
	_exit(0);
}

#endif /* IVSHMEM_READBACK_H */
