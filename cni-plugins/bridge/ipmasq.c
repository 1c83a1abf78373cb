/* bridge: ipMasq rules, the same as the reference's ip.SetupIPMasq and
 * TeardownIPMasq produce, but in two tool runs per family instead of six:
 * one `iptables -S` of the nat table to see what exists, then one
 * `iptables-restore --noflush` transaction with every change. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cni-plugins/bridge/bridge-internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

struct sbuf {
	char *s;
	size_t len;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *t = xvasprintf(fmt, ap);
	va_end(ap);
	size_t n = strlen(t);
	b->s = xrealloc(b->s, b->len + n + 1);
	memcpy(b->s + b->len, t, n + 1);
	b->len += n;
	free(t);
}

static const char *tool(int family)
{
	return family == AF_INET ? "iptables" : "ip6tables";
}
static const char *restore_tool(int family)
{
	return family == AF_INET ? "iptables-restore" : "ip6tables-restore";
}

/* `<tool> -w -t nat -S`: every chain and rule of the nat table. */
static int nat_rules(int family, char **ret, ndl_error_t *err)
{
	char *argv[] = {(char *)tool(family), "--wait", "-t", "nat", "-S", NULL};
	cleanup_free char *out = NULL, *eout = NULL;
	int st = 0;
	if (bridge_run(argv, NULL, &out, &eout, &st, err) < 0)
		return ndl_error_wrap(err, "failed to locate iptables");
	if (st != 0)
		return ndl_error_setf(err, EIO, "running [%s -t nat -S --wait]: exit status %d: %s",
				      tool(family), st, eout);
	*ret = steal_ptr(&out);
	return 0;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static int restore(int family, const char *script, ndl_error_t *err)
{
	char *argv[] = {(char *)restore_tool(family), "--wait", "--noflush", NULL};
	cleanup_free char *eout = NULL;
	int st = 0;
	if (bridge_run(argv, script, NULL, &eout, &st, err) < 0)
		return ndl_error_wrap(err, "failed to locate iptables");
	if (st != 0)
		return ndl_error_setf(err, EIO, "%s: exit status %d: %s", restore_tool(family), st,
				      eout);
	return 0;
}

static int setup_family(int family, const struct cni_ipnet *addrs, size_t n, const char *chain,
			const char *qcomment, ndl_error_t *err)
{
	cleanup_free char *rules = NULL;
	int r = nat_rules(family, &rules, err);
	if (r < 0)
		return r;
	const char *mcast = family == AF_INET ? "224.0.0.0/4" : "ff00::/8";
	int hostlen = family == AF_INET ? 32 : 128;

	/* The chain is ours alone (its name hashes network + container), so
	 * rewriting it whole gives what the reference's AppendUnique calls
	 * leave: per address an ACCEPT for its subnet, one MASQUERADE after
	 * the first, no duplicates. */
	struct sbuf chain_rules = {0}, post = {0};
	char **seen = xcalloc(2 * n + 2, sizeof(char *));
	size_t nseen = 0;
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].ip.family != family)
			continue;
		struct cni_ipnet net;
		cni_ipnet_mask(&addrs[i], &net);
		char nb[CNI_IPNET_STRLEN], ib[CNI_IPNET_STRLEN];
		cni_ipnet_format(&net, nb);
		cni_ip_format(&addrs[i].ip, ib);
		char *acc = xasprintf("-A %s -d %s -m comment --comment %s -j ACCEPT", chain, nb,
				      qcomment);
		char *masq = xasprintf("-A %s ! -d %s -m comment --comment %s -j MASQUERADE", chain,
				       mcast, qcomment);
		char *line[2] = {acc, masq};
		for (int k = 0; k < 2; k++) {
			bool dup = false;
			for (size_t j = 0; j < nseen; j++)
				if (strcmp(seen[j], line[k]) == 0)
					dup = true;
			if (dup) {
				free(line[k]);
				continue;
			}
			sb_add(&chain_rules, "%s\n", line[k]);
			seen[nseen++] = line[k];
		}
		char *jump = xasprintf("-A POSTROUTING -s %s/%d -m comment --comment %s -j %s", ib,
				       hostlen, qcomment, chain);
		if (!has_line(rules, jump) && !(post.s && strstr(post.s, jump)))
			sb_add(&post, "%s\n", jump);
		free(jump);
	}
	for (size_t j = 0; j < nseen; j++)
		free(seen[j]);
	free(seen);
	if (!chain_rules.s) {
		free(post.s);
		return 0;
	}
	cleanup_free char *script = xasprintf("*nat\n:%s - [0:0]\n%s%sCOMMIT\n", chain,
					      chain_rules.s, post.s ? post.s : "");
	free(chain_rules.s);
	free(post.s);
	return restore(family, script, err);
}

int bridge_ipmasq_setup(const struct cni_ipnet *addrs, size_t n, const char *chain,
			const char *comment, ndl_error_t *err)
{
	cleanup_free char *q = bridge_go_quote(comment);
	bool v4 = false, v6 = false;
	for (size_t i = 0; i < n; i++) {
		if (addrs[i].ip.family == AF_INET)
			v4 = true;
		else
			v6 = true;
	}
	if (v4 && setup_family(AF_INET, addrs, n, chain, q, err) < 0)
		return ndl_error_wrap(err, "ipMasq");
	if (v6 && setup_family(AF_INET6, addrs, n, chain, q, err) < 0)
		return ndl_error_wrap(err, "ipMasq");
	return 0;
}

int bridge_ipmasq_teardown(int family, const char *chain, const char *comment, ndl_error_t *err)
{
	cleanup_free char *rules = NULL;
	int r = nat_rules(family, &rules, err);
	if (r < 0)
		return r;
	cleanup_free char *newchain = xasprintf("-N %s", chain);
	cleanup_free char *suffix = xasprintf(" -j %s", chain);
	cleanup_free char *q = bridge_go_quote(comment);
	cleanup_free char *mark = xasprintf("--comment %s", q);
	bool chain_exists = has_line(rules, newchain);
	struct sbuf dels = {0};
	/* Every POSTROUTING jump to our chain with our comment: the current
	 * "-s ip" form and the older "-s subnet" one alike. */
	for (char *p = rules; p && *p;) {
		char *e = strchr(p, '\n');
		if (e)
			*e = 0;
		size_t len = strlen(p), sl = strlen(suffix);
		if (strncmp(p, "-A POSTROUTING ", 15) == 0 && len > sl &&
		    strcmp(p + len - sl, suffix) == 0 && strstr(p, mark))
			sb_add(&dels, "-D%s\n", p + 2);
		p = e ? e + 1 : NULL;
	}
	if (!chain_exists && !dels.s)
		return 0;
	cleanup_free char *script = NULL;
	if (chain_exists)
		script = xasprintf("*nat\n%s:%s - [0:0]\n-X %s\nCOMMIT\n", dels.s ? dels.s : "",
				   chain, chain);
	else
		script = xasprintf("*nat\n%sCOMMIT\n", dels.s);
	free(dels.s);
	return restore(family, script, err);
}
