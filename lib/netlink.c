// SPDX-License-Identifier: LGPL-2.1-or-later
/* Enumeration and events through the driver's generic netlink family. */
#define _GNU_SOURCE
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "internal.h"

struct ivshmem_monitor {
	struct nl_sock *sk;
	/* Events received but not yet read, oldest first. */
	struct ivshmem_event *queue;
	size_t queued, cap;
	int error;
};

/* What a request's callbacks learned. */
struct ivs_nl_request {
	struct ivshmem_dev_desc *descs;
	size_t count, cap;
	int error;		/* from the kernel's NLMSG_ERROR, exact */
	int family;
};

static int ivs_nl_desc(struct nl_msg *msg, struct ivshmem_dev_desc *d)
{
	struct nlattr *tb[IVSHMEM_ATTR_MAX + 1], *nest;
	int rem, ret;
	unsigned int v = 0;

	ret = genlmsg_parse(nlmsg_hdr(msg), 0, tb, IVSHMEM_ATTR_MAX, NULL);
	if (ret < 0 || !tb[IVSHMEM_ATTR_INDEX] || !tb[IVSHMEM_ATTR_NAME] ||
	    !tb[IVSHMEM_ATTR_SIZE])
		return -EPROTO;
	memset(d, 0, sizeof(*d));
	d->index = nla_get_u32(tb[IVSHMEM_ATTR_INDEX]);
	nla_strlcpy(d->name, tb[IVSHMEM_ATTR_NAME], sizeof(d->name));
	if (tb[IVSHMEM_ATTR_PCI_ADDR])
		nla_strlcpy(d->pci_addr, tb[IVSHMEM_ATTR_PCI_ADDR], sizeof(d->pci_addr));
	if (tb[IVSHMEM_ATTR_REVISION])
		d->revision = nla_get_u32(tb[IVSHMEM_ATTR_REVISION]);
	if (tb[IVSHMEM_ATTR_IRQ_MODE])
		d->irq_mode = nla_get_u32(tb[IVSHMEM_ATTR_IRQ_MODE]);
	d->size = nla_get_u64(tb[IVSHMEM_ATTR_SIZE]);
	d->peer_id = tb[IVSHMEM_ATTR_PEER_ID] ? nla_get_s32(tb[IVSHMEM_ATTR_PEER_ID]) : -1;
	if (tb[IVSHMEM_ATTR_VECTORS])
		d->vectors = nla_get_u32(tb[IVSHMEM_ATTR_VECTORS]);
	if (tb[IVSHMEM_ATTR_READY])
		d->ready = nla_get_u8(tb[IVSHMEM_ATTR_READY]);
	if (tb[IVSHMEM_ATTR_DOORBELLS_SENT])
		d->doorbells_sent = nla_get_u64(tb[IVSHMEM_ATTR_DOORBELLS_SENT]);
	if (tb[IVSHMEM_ATTR_IRQ_COUNTS]) {
		nla_for_each_nested(nest, tb[IVSHMEM_ATTR_IRQ_COUNTS], rem) {
			if (nla_type(nest) == IVSHMEM_VECTOR_ATTR_COUNT && v < IVSHMEM_MAX_VECTORS)
				d->irq_counts[v++] = nla_get_u64(nest);
		}
	}
	return 0;
}

static int ivs_nl_collect(struct nl_msg *msg, void *arg)
{
	struct ivs_nl_request *req = arg;
	struct ivshmem_dev_desc *grown;

	if (req->count == req->cap) {
		req->cap = req->cap ? 2 * req->cap : 4;
		grown = realloc(req->descs, req->cap * sizeof(*grown));
		if (!grown) {
			req->error = -ENOMEM;
			return NL_STOP;
		}
		req->descs = grown;
	}
	if (ivs_nl_desc(msg, &req->descs[req->count]) == 0)
		req->count++;
	return NL_OK;
}

static int ivs_nl_error(struct sockaddr_nl *nla, struct nlmsgerr *err, void *arg)
{
	struct ivs_nl_request *req = arg;

	(void)nla;
	req->error = err->error;
	return NL_STOP;
}

static int ivs_nl_connect(struct nl_sock **out, int *family)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return -ENOMEM;
	if (genl_connect(sk) < 0) {
		nl_socket_free(sk);
		return -EIO;
	}
	*family = genl_ctrl_resolve(sk, IVSHMEM_GENL_NAME);
	if (*family < 0) {
		nl_socket_free(sk);
		return -ENOENT;	/* the driver is not loaded */
	}
	*out = sk;
	return 0;
}

/* Send @cmd (a dump if @dump, else for @index) and collect the replies. */
static int ivs_nl_request(uint8_t cmd, bool dump, unsigned int index, struct ivs_nl_request *req)
{
	struct nl_sock *sk;
	struct nl_msg *msg;
	struct nl_cb *cb;
	int ret;

	memset(req, 0, sizeof(*req));
	ret = ivs_nl_connect(&sk, &req->family);
	if (ret)
		return ret;
	msg = nlmsg_alloc();
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!msg || !cb) {
		ret = -ENOMEM;
		goto out;
	}
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, req->family, 0,
			 dump ? NLM_F_DUMP : NLM_F_ACK, cmd, IVSHMEM_GENL_VERSION) ||
	    (!dump && nla_put_u32(msg, IVSHMEM_ATTR_INDEX, index) < 0)) {
		ret = -ENOMEM;
		goto out;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, ivs_nl_collect, req);
	nl_cb_err(cb, NL_CB_CUSTOM, ivs_nl_error, req);
	if (nl_send_auto(sk, msg) < 0) {
		ret = -EIO;
		goto out;
	}
	ret = nl_recvmsgs(sk, cb);
	if (req->error)
		ret = req->error;
	else if (ret < 0)
		ret = -EIO;
	/* A successful GET answers with exactly its device. */
	if (!ret && !dump && cmd == IVSHMEM_CMD_GET && !req->count)
		ret = -EPROTO;
out:
	nl_cb_put(cb);
	nlmsg_free(msg);
	nl_socket_free(sk);
	if (ret) {
		free(req->descs);
		req->descs = NULL;
	}
	return ret;
}

IVSHMEM_EXPORT int ivshmem_list(struct ivshmem_dev_desc **descs, size_t *count)
{
	struct ivs_nl_request req;
	int ret = ivs_nl_request(IVSHMEM_CMD_GET, true, 0, &req);

	if (ret)
		return ret;
	*descs = req.descs;
	*count = req.count;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_describe(unsigned int index, struct ivshmem_dev_desc *desc)
{
	struct ivs_nl_request req;
	int ret = ivs_nl_request(IVSHMEM_CMD_GET, false, index, &req);

	if (ret)
		return ret;
	*desc = req.descs[0];
	free(req.descs);
	return 0;
}

IVSHMEM_EXPORT int ivshmem_reset_stats(unsigned int index)
{
	struct ivs_nl_request req;
	int ret = ivs_nl_request(IVSHMEM_CMD_RESET_STATS, false, index, &req);

	free(req.descs);
	return ret;
}

static int monitor_collect(struct nl_msg *msg, void *arg)
{
	struct ivshmem_monitor *mon = arg;
	struct genlmsghdr *gnlh = nlmsg_data(nlmsg_hdr(msg));
	struct ivshmem_event *grown, *ev;
	enum ivshmem_event_type type;

	switch (gnlh->cmd) {
	case IVSHMEM_CMD_ADDED:
		type = IVSHMEM_EVENT_ADDED;
		break;
	case IVSHMEM_CMD_READY:
		type = IVSHMEM_EVENT_READY;
		break;
	case IVSHMEM_CMD_REMOVED:
		type = IVSHMEM_EVENT_REMOVED;
		break;
	default:
		return NL_OK;
	}
	if (mon->queued == mon->cap) {
		size_t cap = mon->cap ? 2 * mon->cap : 4;

		grown = realloc(mon->queue, cap * sizeof(*grown));
		if (!grown) {
			mon->error = -ENOMEM;
			return NL_STOP;
		}
		mon->queue = grown;
		mon->cap = cap;
	}
	ev = &mon->queue[mon->queued];
	ev->type = type;
	if (ivs_nl_desc(msg, &ev->dev) == 0)
		mon->queued++;
	return NL_OK;
}

IVSHMEM_EXPORT int ivshmem_monitor_open(struct ivshmem_monitor **out)
{
	struct ivshmem_monitor *mon = calloc(1, sizeof(*mon));
	int family, group, ret;

	if (!mon)
		return -ENOMEM;
	ret = ivs_nl_connect(&mon->sk, &family);
	if (ret) {
		free(mon);
		return ret;
	}
	group = genl_ctrl_resolve_grp(mon->sk, IVSHMEM_GENL_NAME, IVSHMEM_GENL_MCGRP_EVENTS);
	if (group < 0 || nl_socket_add_membership(mon->sk, group) < 0) {
		ivshmem_monitor_close(mon);
		return -EPROTO;
	}
	nl_socket_disable_seq_check(mon->sk);
	nl_socket_modify_cb(mon->sk, NL_CB_VALID, NL_CB_CUSTOM, monitor_collect, mon);
	*out = mon;
	return 0;
}

IVSHMEM_EXPORT int ivshmem_monitor_fd(struct ivshmem_monitor *mon)
{
	return nl_socket_get_fd(mon->sk);
}

IVSHMEM_EXPORT int ivshmem_monitor_read(struct ivshmem_monitor *mon,
					struct ivshmem_event *event, int timeout_ms)
{
	struct pollfd pfd = { .fd = nl_socket_get_fd(mon->sk), .events = POLLIN };
	int ret;

	while (!mon->queued) {
		ret = poll(&pfd, 1, timeout_ms);
		if (ret < 0)
			return ivshmem_neg_errno();
		if (!ret)
			return -ETIMEDOUT;
		mon->error = 0;
		ret = nl_recvmsgs_default(mon->sk);
		if (mon->error)
			return mon->error;
		/* The socket overran: events were dropped. */
		if (ret == -NLE_NOMEM)
			return -ENOBUFS;
		if (ret < 0)
			return -EIO;
	}
	*event = mon->queue[0];
	memmove(mon->queue, mon->queue + 1, --mon->queued * sizeof(*mon->queue));
	return 0;
}

IVSHMEM_EXPORT void ivshmem_monitor_close(struct ivshmem_monitor *mon)
{
	if (!mon)
		return;
	nl_socket_free(mon->sk);
	free(mon->queue);
	free(mon);
}

IVSHMEM_EXPORT const char *ivshmem_event_name(enum ivshmem_event_type type)
{
	switch (type) {
	case IVSHMEM_EVENT_ADDED:
		return "added";
	case IVSHMEM_EVENT_READY:
		return "ready";
	case IVSHMEM_EVENT_REMOVED:
		return "removed";
	default:
		return "unknown";
	}
}
