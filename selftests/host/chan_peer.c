// SPDX-License-Identifier: GPL-2.0
/*
 * The host side of selftests/chan_test.c in its guest-vs-host mode: a host
 * peer that attaches to the guest's channel pair, exchanges the messages
 * both ways with checksums (host/chan_exchange.h), then echoes the
 * guest's round trips.  Dies with its parent, and after TIMEOUT seconds at
 * the latest.
 *
 * Prints "chan_peer: id N" once it joined, and at the end "chan_peer: ok
 * ..." (exit status 0) or "chan_peer: failed ..." (1).
 *
 * usage: chan_peer SOCKET TIMEOUT [NAME [DIR-OFFSET [COUNT]]]
 *   (defaults: ivt-host, 64 MiB, 100000, as chan_test)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "libivshmem.h"
#include "host/chan_exchange.h"

static int failed(const char *what, int err)
{
	printf("chan_peer: failed: %s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	const char *name = argc > 3 ? argv[3] : "ivt-host";
	uint64_t dir = argc > 4 ? strtoull(argv[4], NULL, 0) : XCHG_DIR_OFFSET;
	long count = argc > 5 ? strtol(argv[5], NULL, 0) : 100000;
	int timeout_s = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 0;
	struct ivshmem_dev_info *info;
	struct ivshmem_chan_opts *o;
	struct ivshmem_chan *tx, *rx;
	struct xchg_result r;
	struct ivshmem *dev;
	int ret;

	if (argc < 3 || timeout_s <= 0 || count <= 0) {
		fprintf(stderr, "usage: chan_peer SOCKET TIMEOUT [NAME [DIR-OFFSET [COUNT]]]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm((unsigned int)timeout_s);
	ret = ivshmem_open_server(argv[1], NULL, &dev);
	if (ret)
		return failed("joining the server", ret);
	ret = ivshmem_get_info(dev, &info);
	if (ret)
		return failed("info", ret);
	printf("chan_peer: id %d\n", ivshmem_dev_info_get_peer_id(info));
	ivshmem_dev_info_free(info);
	ret = ivshmem_chan_opts_new(&o);
	if (!ret)
		ret = ivshmem_chan_opts_set_dir_offset(o, dir);
	if (!ret)
		ret = ivshmem_chan_opts_set_timeout(o, timeout_s * 1000);
	if (!ret)
		ret = xchg_attach(dev, name, o, timeout_s * 1000, &tx, &rx);
	ivshmem_chan_opts_free(o);
	if (ret)
		return failed(name, ret);
	xchg_run(tx, rx, count, 2, 1, 60000, &r);
	if (r.error || r.bad || r.sent != count || r.received != count) {
		printf("chan_peer: failed: sent %ld, received %ld, %ld bad, %s\n", r.sent,
		       r.received, r.bad, r.error ? strerror(-r.error) : "no error");
		return 1;
	}
	ret = xchg_echo(tx, rx);
	if (ret)
		return failed("echo", ret);
	printf("chan_peer: ok: sent %ld, received %ld in %lld ms, %.4f doorbells per message\n",
	       r.sent, r.received, (long long)(r.ns / 1000000), xchg_doorbells(tx));
	ivshmem_chan_close(tx);
	ivshmem_chan_close(rx);
	ivshmem_close(dev);
	return 0;
}
