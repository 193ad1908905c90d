/* SPDX-License-Identifier: GPL-2.0 */
/* Private temporary directories for the host tests. */
#ifndef IVSHMEM_TMPDIR_H
#define IVSHMEM_TMPDIR_H

/* Remove @dir and everything below it; 0, or -1 with errno set. */
int tmpdir_remove_tree(const char *dir);

/*
 * harness_main() with TMPDIR pointing at a new private directory of this
 * run ($TMPDIR/ivs-@tag.XXXXXX), removed at the end even when a failed
 * assertion ended a test before its own cleanup.
 */
int harness_main_in_tmpdir(const char *tag, char **argv);

#endif /* IVSHMEM_TMPDIR_H */
