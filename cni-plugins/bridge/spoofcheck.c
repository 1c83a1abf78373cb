/* bridge: macspoofchk, the nftables rules of the reference's
 * link.SpoofChecker (bridge family table "nat", base chain PREROUTING at
 * priority -300, per-attachment chains cni-br-iface-<id> and <that>-mac),
 * applied through the nft tool in one transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni-plugins/bridge/bridge-internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int nft(const char *script, char **ret_out, ndl_error_t *err)
{
	char *argv[] = {"nft", "-f", "-", NULL};
	cleanup_free char *out = NULL, *eout = NULL;
	int st = 0;
	if (bridge_run(argv, script, &out, &eout, &st, err) < 0)
		return ndl_error_wrap(err, "nft");
	if (st != 0)
		return ndl_error_setf(err, EIO, "nft: exit status %d: %s", st, eout);
	if (ret_out)
		*ret_out = steal_ptr(&out);
	return 0;
}

int bridge_spoofcheck_setup(const char *host_iface, const char *mac, const char *id,
			    ndl_error_t *err)
{
	cleanup_free char *chain = xasprintf("cni-br-iface-%s", id);
	cleanup_free char *script = xasprintf(
	    "add table bridge nat\n"
	    "add chain bridge nat PREROUTING { type filter hook prerouting priority -300; "
	    "policy accept; }\n"
	    "add chain bridge nat %s\n"
	    "add chain bridge nat %s-mac\n"
	    "flush chain bridge nat %s\n"
	    "flush chain bridge nat %s-mac\n"
	    "add rule bridge nat PREROUTING iifname \"%s\" jump %s comment \"macspoofchk-%s\"\n"
	    "add rule bridge nat %s jump %s-mac comment \"macspoofchk-%s\"\n"
	    "add rule bridge nat %s-mac ether saddr %s return comment \"macspoofchk-%s\"\n"
	    "add rule bridge nat %s-mac drop comment \"macspoofchk-%s\"\n",
	    chain, chain, chain, chain, host_iface, chain, id, chain, chain, id, chain, mac, id,
	    chain, id);
	if (nft(script, NULL, err) < 0)
		return ndl_error_wrap(err, "failed to setup spoof-check");
	return 0;
}

int bridge_spoofcheck_teardown(const char *id, ndl_error_t *err)
{
	char *argv[] = {"nft", "-a", "list", "chain", "bridge", "nat", "PREROUTING", NULL};
	cleanup_free char *out = NULL, *eout = NULL;
	int st = 0;
	if (bridge_run(argv, NULL, &out, &eout, &st, err) < 0)
		return ndl_error_wrap(err, "failed to teardown spoof-check");
	cleanup_free char *chain = xasprintf("cni-br-iface-%s", id);
	cleanup_free char *mark = xasprintf("comment \"macspoofchk-%s\"", id);
	char *script = xstrdup("");
	/* No table or base chain: nothing of ours can be left. */
	if (st == 0) {
		for (char *p = out; p && *p;) {
			char *e = strchr(p, '\n');
			if (e)
				*e = 0;
			char *h = strstr(p, "# handle ");
			char *m = strstr(p, mark);
			/* The comment must end right there: "…-c1-eth0" must
			 * not match "…-c1-eth01". */
			if (h && m && (m[strlen(mark)] == ' ' || m[strlen(mark)] == 0)) {
				char *s =
				    xasprintf("%sdelete rule bridge nat PREROUTING handle %ld\n",
					      script, strtol(h + 9, NULL, 10));
				free(script);
				script = s;
			}
			p = e ? e + 1 : NULL;
		}
	}
	char *listc[] = {"nft", "list", "chain", "bridge", "nat", chain, NULL};
	int cst = 1;
	cleanup_free char *o2 = NULL, *e2 = NULL;
	if (st == 0 && bridge_run(listc, NULL, &o2, &e2, &cst, err) < 0) {
		free(script);
		return ndl_error_wrap(err, "failed to teardown spoof-check");
	}
	if (cst == 0) {
		char *s =
		    xasprintf("%sdelete chain bridge nat %s\ndelete chain bridge nat %s-mac\n",
			      script, chain, chain);
		free(script);
		script = s;
	}
	int r = 0;
	if (*script && nft(script, NULL, err) < 0)
		r = ndl_error_wrap(err, "failed to teardown spoof-check");
	free(script);
	return r;
}
