// SPDX-License-Identifier: GPL-2.0
#include <linux/eventfd.h>

void conftest(struct eventfd_ctx *ctx);
void conftest(struct eventfd_ctx *ctx)
{
	eventfd_signal(ctx);
}
