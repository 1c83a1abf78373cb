/* libFuzzer target for the bridge plugin's config parser: the first line of
 * the input is CNI_ARGS ("K=V;K=V"), the rest the stdin network config.
 * Seed corpus: tests/fuzz/corpus/fuzz_cni_bridge_conf/ (one file per
 * configuration family: gateways, masq, vlan, macs, dual stack, bad input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni-plugins/bridge/bridge.h"
#include "lib/json.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t alen = nl ? (size_t)(nl - (const char *)data) : 0;
	char *args = xstrndup((const char *)data, alen);
	const char *conf = nl ? nl + 1 : (const char *)data;
	size_t clen = size - (size_t)(conf - (const char *)data);

	struct cni_kv kv[16];
	size_t n = 0;
	for (char *save = NULL, *p = strtok_r(args, ";", &save); p && n < 16;
	     p = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(p, '=');
		if (!eq)
			continue;
		*eq = 0;
		kv[n].key = p;
		kv[n].value = eq + 1;
		n++;
	}
	json_t *j = NULL;
	ndl_error_t err = NDL_ERROR_INIT;
	if (ndl_json_parse(conf, clen, &j, &err) == 0) {
		struct bridge_conf c;
		if (bridge_conf_parse(j, kv, n, &c, &err) == 0) {
			/* The parsed names feed the chain name and comment. */
			char chain[BRIDGE_CHAIN_LEN + 1];
			bridge_chain_name(c.br_name, c.mac_str, chain);
			free(bridge_chain_comment(c.br_name, c.mac_str));
		}
		json_decref(j);
	}
	ndl_error_clear(&err);
	free(args);
	return 0;
}
