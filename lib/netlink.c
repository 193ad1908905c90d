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

/*
 * libnl reports its own codes (NLE_*), which nl_syserr2nlerr() folded from
 * errnos; unfold them here, the one place, so callers keep the meaning.
 * NLE_FAILURE and codes unknown here say nothing more than -EIO.
 */
int ivshmem_nl_errno(int nl_error)
{
	switch (nl_error < 0 ? -nl_error : nl_error) {
	case NLE_SUCCESS:		return 0;
	case NLE_INTR:			return -EINTR;
	case NLE_BAD_SOCK:		return -EBADF;
	case NLE_AGAIN:			return -EAGAIN;
	case NLE_NOMEM:			return -ENOMEM;
	case NLE_EXIST:			return -EEXIST;
	case NLE_INVAL:			return -EINVAL;
	case NLE_RANGE:			return -ERANGE;
	case NLE_MSGSIZE:		return -EMSGSIZE;
	case NLE_OPNOTSUPP:		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:		return -ENOENT;
	case NLE_NOATTR:		return -ENODATA;
	case NLE_MISSING_ATTR:		return -EPROTO;
	case NLE_AF_MISMATCH:		return -EAFNOSUPPORT;
	case NLE_SEQ_MISMATCH:		return -EPROTO;
	case NLE_MSG_OVERFLOW:		return -EOVERFLOW;
	case NLE_MSG_TRUNC:		return -EMSGSIZE;
	case NLE_NOADDR:		return -EADDRNOTAVAIL;
	case NLE_SRCRT_NOSUPPORT:	return -EOPNOTSUPP;
	case NLE_MSG_TOOSHORT:		return -EPROTO;
	case NLE_MSGTYPE_NOSUPPORT:	return -EOPNOTSUPP;
	case NLE_OBJ_MISMATCH:		return -EINVAL;
	case NLE_NOCACHE:		return -ENOENT;
	case NLE_BUSY:			return -EBUSY;
	case NLE_PROTO_MISMATCH:	return -EPROTONOSUPPORT;
	case NLE_NOACCESS:		return -EACCES;
	case NLE_PERM:			return -EPERM;
	case NLE_PKTLOC_FILE:		return -ENOENT;
	case NLE_PARSE_ERR:		return -EPROTO;
	case NLE_NODEV:			return -ENODEV;
	case NLE_IMMUTABLE:		return -EROFS;
	case NLE_DUMP_INTR:		return -EAGAIN;	/* the dump changed under us: retry */
	case NLE_ATTRSIZE:		return -EPROTO;
	default:			return -EIO;
	}
}

/* The errno of a libnl call that failed: never 0. */
static int ivs_nl_fail(int nl_error)
{
	int ret = ivshmem_nl_errno(nl_error);

	return ret ? ret : -EIO;
}

/*
 * Each number at least as long as its type: libnl's nla_get_u32() and the
 * like read that much without checking.  Strings are copied with bounds.
 */
static const struct nla_policy ivs_nl_policy[IVSHMEM_ATTR_MAX + 1] = {
	[IVSHMEM_ATTR_INDEX]		= { .type = NLA_U32 },
	[IVSHMEM_ATTR_REVISION]		= { .type = NLA_U32 },
	[IVSHMEM_ATTR_IRQ_MODE]		= { .type = NLA_U32 },
	[IVSHMEM_ATTR_SIZE]		= { .type = NLA_U64 },
	[IVSHMEM_ATTR_PEER_ID]		= { .type = NLA_U32 },
	[IVSHMEM_ATTR_VECTORS]		= { .type = NLA_U32 },
	[IVSHMEM_ATTR_READY]		= { .type = NLA_U8 },
	[IVSHMEM_ATTR_IRQ_COUNTS]	= { .type = NLA_NESTED },
	[IVSHMEM_ATTR_DOORBELLS_SENT]	= { .type = NLA_U64 },
};

int ivshmem_nl_parse_desc(struct nlmsghdr *nlh, struct ivshmem_dev_desc *d)
{
	struct nlattr *tb[IVSHMEM_ATTR_MAX + 1], *nest;
	int rem, ret;
	unsigned int v = 0;

	ret = genlmsg_parse(nlh, 0, tb, IVSHMEM_ATTR_MAX, ivs_nl_policy);
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
	if (ivshmem_nl_parse_desc(nlmsg_hdr(msg), &req->descs[req->count]) == 0)
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
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = genl_connect(sk);
	if (ret < 0) {
		nl_socket_free(sk);
		return ivs_nl_fail(ret);
	}
	/* NLE_OBJ_NOTFOUND, -ENOENT: the driver is not loaded. */
	*family = genl_ctrl_resolve(sk, IVSHMEM_GENL_NAME);
	if (*family < 0) {
		ret = ivs_nl_fail(*family);
		nl_socket_free(sk);
		return ret;
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
	ret = nl_send_auto(sk, msg);
	if (ret < 0) {
		ret = ivs_nl_fail(ret);
		goto out;
	}
	ret = nl_recvmsgs(sk, cb);
	if (req->error)
		ret = req->error;
	else if (ret < 0)
		ret = ivs_nl_fail(ret);
	else
		ret = 0;
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

IVSHMEM_EXPORT int ivshmem_list(struct ivshmem_dev_list **out)
{
	struct ivshmem_dev_list *list = malloc(sizeof(*list));
	struct ivs_nl_request req;
	int ret;

	if (!list)
		return -ENOMEM;
	ret = ivs_nl_request(IVSHMEM_CMD_GET, true, 0, &req);
	if (ret) {
		free(list);
		return ret;
	}
	list->descs = req.descs;
	list->count = req.count;
	*out = list;
	return 0;
}

IVSHMEM_EXPORT size_t ivshmem_dev_list_count(const struct ivshmem_dev_list *list)
{
	return list->count;
}

IVSHMEM_EXPORT const struct ivshmem_dev_desc *
ivshmem_dev_list_get(const struct ivshmem_dev_list *list, size_t i)
{
	return i < list->count ? &list->descs[i] : NULL;
}

IVSHMEM_EXPORT void ivshmem_dev_list_free(struct ivshmem_dev_list *list)
{
	if (!list)
		return;
	free(list->descs);
	free(list);
}

IVSHMEM_EXPORT int ivshmem_describe(unsigned int index, struct ivshmem_dev_desc **desc)
{
	struct ivs_nl_request req;
	int ret = ivs_nl_request(IVSHMEM_CMD_GET, false, index, &req);

	if (ret)
		return ret;
	/* The first of the array is the whole allocation. */
	*desc = req.descs;
	return 0;
}

IVSHMEM_EXPORT void ivshmem_dev_desc_free(struct ivshmem_dev_desc *desc)
{
	free(desc);
}

IVSHMEM_EXPORT uint32_t ivshmem_dev_desc_get_index(const struct ivshmem_dev_desc *desc)
{
	return desc->index;
}

IVSHMEM_EXPORT const char *ivshmem_dev_desc_get_name(const struct ivshmem_dev_desc *desc)
{
	return desc->name;
}

IVSHMEM_EXPORT const char *ivshmem_dev_desc_get_pci_addr(const struct ivshmem_dev_desc *desc)
{
	return desc->pci_addr;
}

IVSHMEM_EXPORT uint32_t ivshmem_dev_desc_get_revision(const struct ivshmem_dev_desc *desc)
{
	return desc->revision;
}

IVSHMEM_EXPORT uint32_t ivshmem_dev_desc_get_irq_mode(const struct ivshmem_dev_desc *desc)
{
	return desc->irq_mode;
}

IVSHMEM_EXPORT uint64_t ivshmem_dev_desc_get_size(const struct ivshmem_dev_desc *desc)
{
	return desc->size;
}

IVSHMEM_EXPORT int32_t ivshmem_dev_desc_get_peer_id(const struct ivshmem_dev_desc *desc)
{
	return desc->peer_id;
}

IVSHMEM_EXPORT uint32_t ivshmem_dev_desc_get_vectors(const struct ivshmem_dev_desc *desc)
{
	return desc->vectors;
}

IVSHMEM_EXPORT bool ivshmem_dev_desc_is_ready(const struct ivshmem_dev_desc *desc)
{
	return desc->ready;
}

IVSHMEM_EXPORT uint64_t ivshmem_dev_desc_get_doorbells_sent(const struct ivshmem_dev_desc *desc)
{
	return desc->doorbells_sent;
}

IVSHMEM_EXPORT uint64_t ivshmem_dev_desc_get_irq_count(const struct ivshmem_dev_desc *desc,
						       unsigned int vector)
{
	return vector < desc->vectors && vector < IVSHMEM_MAX_VECTORS ?
	       desc->irq_counts[vector] : 0;
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
	if (ivshmem_nl_parse_desc(nlmsg_hdr(msg), &ev->desc) == 0)
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
	/* A family without our group is not our driver. */
	ret = group == -NLE_OBJ_NOTFOUND ? -EPROTO : group < 0 ? ivs_nl_fail(group) :
	      ivshmem_nl_errno(nl_socket_add_membership(mon->sk, group));
	if (ret) {
		ivshmem_monitor_close(mon);
		return ret;
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
					struct ivshmem_event **event, int timeout_ms)
{
	struct pollfd pfd = { .fd = nl_socket_get_fd(mon->sk), .events = POLLIN };
	struct ivshmem_event *ev;
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
		/* libnl folds the socket's overrun, ENOBUFS, into NLE_NOMEM. */
		if (ret == -NLE_NOMEM)
			return -ENOBUFS;
		if (ret < 0)
			return ivs_nl_fail(ret);
	}
	ev = malloc(sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	*ev = mon->queue[0];
	*event = ev;
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

IVSHMEM_EXPORT enum ivshmem_event_type ivshmem_event_get_type(const struct ivshmem_event *event)
{
	return event->type;
}

IVSHMEM_EXPORT const struct ivshmem_dev_desc *
ivshmem_event_get_desc(const struct ivshmem_event *event)
{
	return &event->desc;
}

IVSHMEM_EXPORT void ivshmem_event_free(struct ivshmem_event *event)
{
	free(event);
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
