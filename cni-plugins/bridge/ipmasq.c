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

/* The restore script that creates our chain with its rules and the
 * POSTROUTING jumps missing from `rules` (iptables -S output). `create`
 * uses "-N" (fails when the chain exists) instead of ":" (creates or
 * flushes). NULL when there is nothing of this family. */
static char *setup_script(int family, const struct cni_ipnet *addrs, size_t n, const char *chain,
			  const char *qcomment, const char *rules, bool create)
{
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
		char *acc =
		    xasprintf("-A %s -d %s -m comment --comment %s -j ACCEPT", chain, nb, qcomment);
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
		return NULL;
	}
	char *script = xasprintf("*nat\n%s%s%s\n%s%sCOMMIT\n", create ? "-N " : ":", chain,
				 create ? "" : " - [0:0]", chain_rules.s, post.s ? post.s : "");
	free(chain_rules.s);
	free(post.s);
	return script;
}

/* Both families' fast scripts at once (iptables and ip6tables are
 * independent); ok[i] tells which succeeded. A NULL script is skipped and
 * counts as done. */
static int try_restore_both(const char *script4, const char *script6, bool ok[2], ndl_error_t *err)
{
	static char *const argv4[] = {"iptables-restore", "--wait", "--noflush", NULL};
	static char *const argv6[] = {"ip6tables-restore", "--wait", "--noflush", NULL};
	char *const *argvs[2];
	const char *ins[2];
	int fam[2];
	size_t n = 0;
	ok[0] = ok[1] = true;
	if (script4) {
		argvs[n] = argv4;
		ins[n] = script4;
		fam[n++] = 0;
	}
	if (script6) {
		argvs[n] = argv6;
		ins[n] = script6;
		fam[n++] = 1;
	}
	if (!n)
		return 0;
	int st[2] = {0, 0};
	if (bridge_run_quiet_parallel(argvs, ins, n, st, err) < 0)
		return ndl_error_wrap(err, "failed to locate iptables");
	for (size_t i = 0; i < n; i++)
		ok[fam[i]] = st[i] == 0;
	return 0;
}

static int setup_slow(int family, const struct cni_ipnet *addrs, size_t n, const char *chain,
		      const char *qcomment, ndl_error_t *err)
{
	cleanup_free char *rules = NULL;
	int r = nat_rules(family, &rules, err);
	if (r < 0)
		return r;
	cleanup_free char *script = setup_script(family, addrs, n, chain, qcomment, rules, false);
	if (!script)
		return 0;
	return restore(family, script, err);
}

int bridge_ipmasq_setup(const struct cni_ipnet *addrs, size_t n, const char *chain,
			const char *comment, ndl_error_t *err)
{
	if (bridge_iptables_is_nft()) {
		/* nf_tables directly, one batch per family; a family that fails
		 * (chain already there, no nf_tables) takes the tools' path,
		 * which reads the table and appends what is missing. */
		cleanup_error ndl_error_t oe = NDL_ERROR_INIT;
		int fd = bridge_nfnl_open(&oe);
		int r = 0;
		for (int k = 0; k < 2 && r == 0; k++) {
			int fam = k ? AF_INET6 : AF_INET;
			cleanup_error ndl_error_t e = NDL_ERROR_INIT;
			if (fd >= 0 && bridge_nft_masq_setup(fd, fam, addrs, n, chain, comment, &e) == 0)
				continue;
			cleanup_free char *q = bridge_go_quote(comment);
			r = setup_slow(fam, addrs, n, chain, q, err);
			if (r < 0)
				ndl_error_wrap(err, "ipMasq");
		}
		bridge_nfnl_close(fd);
		return r;
	}
	cleanup_free char *q = bridge_go_quote(comment);
	/* Fast path, one exec per family, both at once: while our chain does
	 * not exist no rule can jump to it, so "-N" plus the rules and the
	 * jumps is the whole job. When it exists (ADD repeated for the same
	 * container) that transaction changes nothing and we read the table
	 * first. */
	cleanup_free char *f4 = setup_script(AF_INET, addrs, n, chain, q, "", true);
	cleanup_free char *f6 = setup_script(AF_INET6, addrs, n, chain, q, "", true);
	bool ok[2];
	if (try_restore_both(f4, f6, ok, err) < 0)
		return ndl_error_wrap(err, "ipMasq");
	if (!ok[0] && setup_slow(AF_INET, addrs, n, chain, q, err) < 0)
		return ndl_error_wrap(err, "ipMasq");
	if (!ok[1] && setup_slow(AF_INET6, addrs, n, chain, q, err) < 0)
		return ndl_error_wrap(err, "ipMasq");
	return 0;
}

/* Does POSTROUTING rule `line` (iptables -S) match one of the addresses,
 * as "-s ip/32|128" or the older "-s subnet/prefix" form? */
static bool jump_for(const char *line, int family, const struct cni_ipnet *ips, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ips[i].ip.family != family)
			continue;
		char ib[CNI_IPNET_STRLEN], nb[CNI_IPNET_STRLEN];
		struct cni_ipnet net;
		cni_ipnet_mask(&ips[i], &net);
		cni_ip_format(&ips[i].ip, ib);
		cni_ipnet_format(&net, nb);
		char *a = xasprintf(" -s %s/%d ", ib, family == AF_INET ? 32 : 128);
		char *b = xasprintf(" -s %s ", nb);
		bool m = strstr(line, a) || strstr(line, b);
		free(a);
		free(b);
		if (m)
			return true;
	}
	return false;
}

static char *teardown_script(int family, const struct cni_ipnet *ips, size_t n_ips,
			     const char *chain, const char *q)
{
	bool any = false;
	for (size_t i = 0; i < n_ips; i++)
		any |= ips[i].ip.family == family;
	if (!any)
		return NULL;
	struct sbuf b = {0};
	sb_add(&b, "*nat\n");
	for (size_t i = 0; i < n_ips; i++) {
		if (ips[i].ip.family != family)
			continue;
		char ib[CNI_IPNET_STRLEN];
		sb_add(&b, "-D POSTROUTING -s %s/%d -m comment --comment %s -j %s\n",
		       cni_ip_format(&ips[i].ip, ib), family == AF_INET ? 32 : 128, q, chain);
	}
	sb_add(&b, "-F %s\n-X %s\nCOMMIT\n", chain, chain);
	return b.s;
}

static int teardown_slow(int family, const struct cni_ipnet *ips, size_t n_ips, const char *chain,
			 const char *q, ndl_error_t *err)
{
	cleanup_free char *rules = NULL;
	int r = nat_rules(family, &rules, err);
	if (r < 0)
		return r;
	cleanup_free char *newchain = xasprintf("-N %s", chain);
	cleanup_free char *suffix = xasprintf(" -j %s", chain);
	cleanup_free char *mark = xasprintf("--comment %s", q);
	bool chain_exists = has_line(rules, newchain);
	struct sbuf dels = {0};
	size_t remaining = 0;
	/* Our jumps for these addresses (all of them when the addresses are
	 * unknown); the chain goes only when nothing else jumps to it, so
	 * another interface of the same container keeps its masquerade. */
	for (char *p = rules; p && *p;) {
		char *e = strchr(p, '\n');
		if (e)
			*e = 0;
		size_t len = strlen(p), sl = strlen(suffix);
		if (strncmp(p, "-A POSTROUTING ", 15) == 0 && len > sl &&
		    strcmp(p + len - sl, suffix) == 0) {
			if (strstr(p, mark) && (n_ips == 0 || jump_for(p, family, ips, n_ips)))
				sb_add(&dels, "-D%s\n", p + 2);
			else
				remaining++;
		}
		p = e ? e + 1 : NULL;
	}
	if (!dels.s && (!chain_exists || remaining))
		return 0;
	cleanup_free char *script = NULL;
	if (chain_exists && !remaining)
		script = xasprintf("*nat\n%s:%s - [0:0]\n-X %s\nCOMMIT\n", dels.s ? dels.s : "",
				   chain, chain);
	else
		script = xasprintf("*nat\n%sCOMMIT\n", dels.s);
	free(dels.s);
	return restore(family, script, err);
}

int bridge_ipmasq_teardown(bool v4, bool v6, const struct cni_ipnet *ips, size_t n_ips,
			   const char *chain, const char *comment, ndl_error_t *err)
{
	if (bridge_iptables_is_nft()) {
		cleanup_error ndl_error_t oe = NDL_ERROR_INIT;
		int fd = bridge_nfnl_open(&oe);
		int r = 0;
		for (int k = 0; k < 2 && r == 0; k++) {
			int fam = k ? AF_INET6 : AF_INET;
			if (!(k ? v6 : v4))
				continue;
			cleanup_error ndl_error_t e = NDL_ERROR_INIT;
			if (fd >= 0 &&
			    bridge_nft_masq_teardown(fd, fam, ips, n_ips, chain, comment, &e) == 0)
				continue;
			cleanup_free char *q = bridge_go_quote(comment);
			if (teardown_slow(fam, ips, n_ips, chain, q, err) < 0)
				r = -EIO;
		}
		bridge_nfnl_close(fd);
		return r;
	}
	cleanup_free char *q = bridge_go_quote(comment);
	/* Fast path, one exec per family, both at once: the jumps ADD made
	 * for these addresses, then the chain. Any difference (a rule
	 * already gone, an older "-s subnet" jump, another interface of the
	 * same container still using the chain) fails that family's whole
	 * transaction and we read its table instead. */
	cleanup_free char *f4 = v4 ? teardown_script(AF_INET, ips, n_ips, chain, q) : NULL;
	cleanup_free char *f6 = v6 ? teardown_script(AF_INET6, ips, n_ips, chain, q) : NULL;
	bool ok[2];
	if (try_restore_both(f4, f6, ok, err) < 0)
		return -EIO;
	if (v4 && (!f4 || !ok[0]) && teardown_slow(AF_INET, ips, n_ips, chain, q, err) < 0)
		return -EIO;
	if (v6 && (!f6 || !ok[1]) && teardown_slow(AF_INET6, ips, n_ips, chain, q, err) < 0)
		return -EIO;
	return 0;
}
