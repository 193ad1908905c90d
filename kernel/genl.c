// SPDX-License-Identifier: GPL-2.0
/*
 * The "ivshmem" generic netlink family: device queries for tools that do
 * not want to open every /dev/ivshmemN, and events when devices come, go
 * and become ready.  The ABI is described in uapi/linux/ivshmem.h.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <net/genetlink.h>

#include "ivshmem.h"

enum ivshmem_genl_group {
	IVSHMEM_GROUP_EVENTS,
};

static const struct genl_multicast_group ivshmem_genl_groups[] = {
	[IVSHMEM_GROUP_EVENTS] = { .name = IVSHMEM_GENL_MCGRP_EVENTS },
};

/* Requests only ever carry an index; replies are not validated. */
static const struct nla_policy ivshmem_genl_policy[IVSHMEM_ATTR_MAX + 1] = {
	[IVSHMEM_ATTR_INDEX] = { .type = NLA_U32 },
};

static struct genl_family ivshmem_genl_family;

static int ivshmem_genl_put_counts(struct sk_buff *skb, struct ivshmem_dev *idev)
{
	struct nlattr *nest;
	unsigned int v;

	nest = nla_nest_start(skb, IVSHMEM_ATTR_IRQ_COUNTS);
	if (!nest)
		return -EMSGSIZE;
	for (v = 0; v < idev->nvectors; v++) {
		if (nla_put_u64_64bit(skb, IVSHMEM_VECTOR_ATTR_COUNT,
				      ivshmem_vector_stat(&idev->vectors[v]),
				      IVSHMEM_VECTOR_ATTR_PAD)) {
			nla_nest_cancel(skb, nest);
			return -EMSGSIZE;
		}
	}
	nla_nest_end(skb, nest);
	return 0;
}

/*
 * The payload ivshmem_genl_fill() puts for a device with @nvectors vectors,
 * so that it always fits.
 */
static size_t ivshmem_genl_msg_size(unsigned int nvectors)
{
	return nla_total_size(sizeof(u32)) +			/* INDEX */
	       nla_total_size(sizeof_field(struct ivshmem_dev, name)) +	/* NAME */
	       nla_total_size(sizeof_field(struct ivshmem_dev, pci_addr)) +	/* PCI_ADDR */
	       2 * nla_total_size(sizeof(u32)) +		/* REVISION, IRQ_MODE */
	       nla_total_size_64bit(sizeof(u64)) +		/* SIZE */
	       nla_total_size(sizeof(s32)) +			/* PEER_ID */
	       nla_total_size(sizeof(u32)) +			/* VECTORS */
	       nla_total_size(sizeof(u8)) +			/* READY */
	       nla_total_size(0) +				/* IRQ_COUNTS */
	       nvectors * nla_total_size_64bit(sizeof(u64)) +
	       nla_total_size_64bit(sizeof(u64));		/* DOORBELLS_SENT */
}

/* One message describing @idev; the caller owns @skb. */
static int ivshmem_genl_fill(struct sk_buff *skb, struct ivshmem_dev *idev,
			     u8 cmd, u32 portid, u32 seq, int flags)
{
	int peer_id = READ_ONCE(idev->peer_id);
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &ivshmem_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, IVSHMEM_ATTR_INDEX, idev->index) ||
	    nla_put_string(skb, IVSHMEM_ATTR_NAME, idev->name) ||
	    nla_put_string(skb, IVSHMEM_ATTR_PCI_ADDR, idev->pci_addr) ||
	    nla_put_u32(skb, IVSHMEM_ATTR_REVISION, idev->revision) ||
	    nla_put_u32(skb, IVSHMEM_ATTR_IRQ_MODE, idev->irq_mode) ||
	    nla_put_u64_64bit(skb, IVSHMEM_ATTR_SIZE, idev->shm_size, IVSHMEM_ATTR_PAD) ||
	    nla_put_s32(skb, IVSHMEM_ATTR_PEER_ID, peer_id) ||
	    nla_put_u32(skb, IVSHMEM_ATTR_VECTORS, idev->nvectors) ||
	    nla_put_u8(skb, IVSHMEM_ATTR_READY, peer_id >= 0) ||
	    ivshmem_genl_put_counts(skb, idev) ||
	    nla_put_u64_64bit(skb, IVSHMEM_ATTR_DOORBELLS_SENT,
			      atomic64_read(&idev->doorbells_sent), IVSHMEM_ATTR_PAD)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/* The device a request names, with a reference; NULL after setting extack. */
static struct ivshmem_dev *ivshmem_genl_lookup(struct genl_info *info)
{
	struct ivshmem_dev *idev;

	if (GENL_REQ_ATTR_CHECK(info, IVSHMEM_ATTR_INDEX))
		return ERR_PTR(-EINVAL);
	idev = ivshmem_dev_find(nla_get_u32(info->attrs[IVSHMEM_ATTR_INDEX]));
	if (!idev) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[IVSHMEM_ATTR_INDEX],
				    "no ivshmem device has this index");
		return ERR_PTR(-ENODEV);
	}
	return idev;
}

static int ivshmem_genl_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct ivshmem_dev *idev;
	struct sk_buff *msg;
	int ret;

	idev = ivshmem_genl_lookup(info);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	msg = genlmsg_new(ivshmem_genl_msg_size(idev->nvectors), GFP_KERNEL);
	if (!msg) {
		ivshmem_dev_put(idev);
		return -ENOMEM;
	}
	ret = ivshmem_genl_fill(msg, idev, IVSHMEM_CMD_GET, info->snd_portid,
				info->snd_seq, 0);
	ivshmem_dev_put(idev);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return genlmsg_reply(msg, info);
}

/*
 * Every part of a dump gets room for the largest device there can be, so
 * that one always fits: 64-bit attributes take padding on architectures
 * without efficient unaligned access, and 256 counts then outgrow a page.
 */
static int ivshmem_genl_get_start(struct netlink_callback *cb)
{
	cb->min_dump_alloc = nlmsg_total_size(GENL_HDRLEN +
					      ivshmem_genl_msg_size(IVSHMEM_MAX_VECTORS));
	return 0;
}

/* cb->args[0]: the index to resume the dump at. */
static int ivshmem_genl_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long index = cb->args[0];
	struct ivshmem_dev *idev;
	int ret = 0;

	while ((idev = ivshmem_dev_find_from(&index))) {
		ret = ivshmem_genl_fill(skb, idev, IVSHMEM_CMD_GET,
					NETLINK_CB(cb->skb).portid,
					cb->nlh->nlmsg_seq, NLM_F_MULTI);
		ivshmem_dev_put(idev);
		if (ret)
			break;
		index++;
	}
	cb->args[0] = index;
	/*
	 * A full skb ends this part of the dump and the next part resumes,
	 * unless not even one device fitted: then the dump fails, rather
	 * than end as if it were complete.
	 */
	if (ret && (ret != -EMSGSIZE || !skb->len))
		return ret;
	return skb->len;
}

static int ivshmem_genl_reset_stats_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct ivshmem_dev *idev;

	idev = ivshmem_genl_lookup(info);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	ivshmem_reset_stats(idev);
	ivshmem_dev_put(idev);
	return 0;
}

static const struct genl_ops ivshmem_genl_ops[] = {
	{
		.cmd = IVSHMEM_CMD_GET,
		.doit = ivshmem_genl_get_doit,
		.start = ivshmem_genl_get_start,
		.dumpit = ivshmem_genl_get_dumpit,
	},
	{
		.cmd = IVSHMEM_CMD_RESET_STATS,
		.doit = ivshmem_genl_reset_stats_doit,
		.flags = GENL_ADMIN_PERM,
	},
};

static struct genl_family ivshmem_genl_family __ro_after_init = {
	.name = IVSHMEM_GENL_NAME,
	.version = IVSHMEM_GENL_VERSION,
	.maxattr = IVSHMEM_ATTR_MAX,
	.policy = ivshmem_genl_policy,
	.module = THIS_MODULE,
	.ops = ivshmem_genl_ops,
	.n_ops = ARRAY_SIZE(ivshmem_genl_ops),
	.mcgrps = ivshmem_genl_groups,
	.n_mcgrps = ARRAY_SIZE(ivshmem_genl_groups),
};

/* Tell the events group about @idev; @cmd is ADDED, READY or REMOVED. */
void ivshmem_genl_notify(struct ivshmem_dev *idev, u8 cmd)
{
	struct sk_buff *msg;

	if (!genl_has_listeners(&ivshmem_genl_family, &init_net, IVSHMEM_GROUP_EVENTS))
		return;
	msg = genlmsg_new(ivshmem_genl_msg_size(idev->nvectors), GFP_KERNEL);
	if (!msg)
		return;
	if (ivshmem_genl_fill(msg, idev, cmd, 0, 0, 0)) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_multicast(&ivshmem_genl_family, msg, 0, IVSHMEM_GROUP_EVENTS, GFP_KERNEL);
}

int __init ivshmem_genl_init(void)
{
	return genl_register_family(&ivshmem_genl_family);
}

void ivshmem_genl_exit(void)
{
	genl_unregister_family(&ivshmem_genl_family);
}
