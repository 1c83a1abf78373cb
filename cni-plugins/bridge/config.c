/* bridge: network configuration keys, CNI_ARGS, iptables chain naming and
 * veth naming. Pure logic, unit-tested in tests/unit/test_cni_bridge.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cni-plugins/bridge/bridge.h"
#include "cni-plugins/netlink/netlink.h"
#include "lib/json.h"
#include "lib/xalloc.h"

/* Go's strconv.Quote for the ASCII names CNI allows; other bytes are
 * escaped as \xNN so the output stays one line. */
char *bridge_go_quote(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 4 + 3);
	char *p = out;
	*p++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			*p++ = '\\';
			*p++ = (char)*c;
		} else if (*c == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else if (*c == '\t') {
			*p++ = '\\';
			*p++ = 't';
		} else if (*c < 0x20 || *c == 0x7f) {
			p += sprintf(p, "\\x%02x", *c);
		} else {
			*p++ = (char)*c;
		}
	}
	*p++ = '"';
	*p = 0;
	return out;
}

static int get_bool(const json_t *conf, const char *key, bool *ret, ndl_error_t *err)
{
	return ndl_json_get_bool(conf, "", key, false, ret, err);
}

/* Go's types.UnmarshallableBool. */
static int parse_args_bool(const char *v, bool *ret)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
	    strcmp(v, "TRUE") == 0 || strcmp(v, "t") == 0 || strcmp(v, "T") == 0) {
		*ret = true;
		return 0;
	}
	if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
	    strcmp(v, "FALSE") == 0 || strcmp(v, "f") == 0 || strcmp(v, "F") == 0) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

static int set_mac(struct bridge_conf *c, const char *what, const char *mac, ndl_error_t *err)
{
	if (netlink_mac_parse(mac, c->mac) < 0)
		return ndl_error_setf(err, EINVAL, "%s: invalid MAC address \"%s\"", what, mac);
	c->has_mac = true;
	snprintf(c->mac_str, sizeof(c->mac_str), "%s", mac);
	return 0;
}

int bridge_conf_parse(const json_t *conf, const struct cni_kv *kv, size_t n_kv,
		      struct bridge_conf *ret, ndl_error_t *err)
{
	struct bridge_conf c;
	memset(&c, 0, sizeof(c));
	snprintf(c.br_name, sizeof(c.br_name), "%s", BRIDGE_DEFAULT_NAME);

	if (!json_is_object(conf))
		return ndl_error_setf(err, EINVAL, "failed to load netconf: expected an object");

	const char *br = NULL;
	if (ndl_json_get_string(conf, "", "bridge", false, &br, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	/* An empty "bridge" is what Go's decoder leaves when the key is "",
	 * and the kernel then rejects the name; say so up front. */
	if (br) {
		size_t len = strlen(br);
		if (len == 0 || len >= sizeof(c.br_name) || strchr(br, '/') || strchr(br, ' ') ||
		    strcmp(br, ".") == 0 || strcmp(br, "..") == 0)
			return ndl_error_setf(err, EINVAL,
					      "failed to load netconf: field \"bridge\": invalid "
					      "interface name \"%s\"",
					      br);
		memcpy(c.br_name, br, len + 1);
	}
	static const struct {
		const char *key;
		size_t off;
	} bools[] = {
	    {"isGateway", offsetof(struct bridge_conf, is_gw)},
	    {"isDefaultGateway", offsetof(struct bridge_conf, is_default_gw)},
	    {"forceAddress", offsetof(struct bridge_conf, force_address)},
	    {"ipMasq", offsetof(struct bridge_conf, ip_masq)},
	    {"hairpinMode", offsetof(struct bridge_conf, hairpin)},
	    {"promiscMode", offsetof(struct bridge_conf, promisc)},
	    {"macspoofchk", offsetof(struct bridge_conf, macspoofchk)},
	    {"enabledad", offsetof(struct bridge_conf, enable_dad)},
	};
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (get_bool(conf, bools[i].key, (bool *)((char *)&c + bools[i].off), err) < 0)
			return ndl_error_wrap(err, "failed to load netconf");

	int64_t v = 0;
	if (ndl_json_get_int(conf, "", "mtu", false, &v, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	if (v < 0 || v > 65535)
		return ndl_error_setf(err, EINVAL,
				      "failed to load netconf: field \"mtu\": invalid MTU %lld",
				      (long long)v);
	c.mtu = (int)v;
	v = 0;
	if (ndl_json_get_int(conf, "", "vlan", false, &v, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	if (v < 0 || v > 4094)
		return ndl_error_setf(
		    err, EINVAL, "invalid VLAN ID %lld (must be between 0 and 4094)", (long long)v);
	c.vlan = (int)v;

	/* MAC: CNI_ARGS, then args.cni.mac, then runtimeConfig.mac (last wins,
	 * as in the reference). */
	bool ignore_unknown = false;
	const char *env_mac = NULL;
	char *unknown = NULL;
	for (size_t i = 0; i < n_kv; i++) {
		if (strcmp(kv[i].key, "IgnoreUnknown") == 0) {
			if (parse_args_bool(kv[i].value, &ignore_unknown) < 0) {
				free(unknown);
				return ndl_error_setf(
				    err, EINVAL,
				    "ARGS: error parsing value of pair \"%s=%s\": "
				    "boolean unmarshal error: invalid input %s",
				    kv[i].key, kv[i].value, kv[i].value);
			}
		} else if (strcmp(kv[i].key, "MAC") == 0) {
			env_mac = kv[i].value;
		} else {
			char *q = bridge_go_quote(kv[i].key);
			char *u = unknown ? xasprintf("%s %s", unknown, q) : xstrdup(q);
			free(q);
			free(unknown);
			unknown = u;
		}
	}
	if (unknown && !ignore_unknown) {
		int r = ndl_error_setf(err, EINVAL, "ARGS: unknown args [%s]", unknown);
		free(unknown);
		return r;
	}
	free(unknown);
	if (env_mac && *env_mac && set_mac(&c, "CNI_ARGS MAC", env_mac, err) < 0)
		return -EINVAL;

	json_t *args = NULL, *cni = NULL, *rc = NULL;
	if (ndl_json_get_object(conf, "", "args", false, &args, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	if (args && ndl_json_get_object(args, "args", "cni", false, &cni, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	const char *m = NULL;
	if (cni && ndl_json_get_string(cni, "args.cni", "mac", false, &m, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	if (m && *m && set_mac(&c, "field \"args.cni.mac\"", m, err) < 0)
		return -EINVAL;
	if (ndl_json_get_object(conf, "", "runtimeConfig", false, &rc, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	m = NULL;
	if (rc && ndl_json_get_string(rc, "runtimeConfig", "mac", false, &m, err) < 0)
		return ndl_error_wrap(err, "failed to load netconf");
	if (m && *m && set_mac(&c, "field \"runtimeConfig.mac\"", m, err) < 0)
		return -EINVAL;

	*ret = c;
	return 0;
}

void bridge_chain_name(const char *network, const char *container_id, char *buf)
{
	size_t a = strlen(network), b = strlen(container_id);
	char *in = xmalloc(a + b + 1);
	memcpy(in, network, a);
	memcpy(in + a, container_id, b + 1);
	uint8_t h[64];
	bridge_sha512(in, a + b, h);
	free(in);
	static const char hex[] = "0123456789abcdef";
	memcpy(buf, "CNI-", 4);
	for (int i = 0; i < (BRIDGE_CHAIN_LEN - 4) / 2; i++) {
		buf[4 + 2 * i] = hex[h[i] >> 4];
		buf[5 + 2 * i] = hex[h[i] & 15];
	}
	buf[BRIDGE_CHAIN_LEN] = 0;
}

char *bridge_chain_comment(const char *network, const char *container_id)
{
	char *qn = bridge_go_quote(network), *qi = bridge_go_quote(container_id);
	char *r = xasprintf("name: %s id: %s", qn, qi);
	free(qn);
	free(qi);
	return r;
}

void bridge_veth_name_from(const uint8_t rnd[4], char *buf)
{
	snprintf(buf, 13, "veth%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
}

int bridge_random_veth_name(char *buf, ndl_error_t *err)
{
	uint8_t rnd[4];
	ssize_t n;
	do
		n = getrandom(rnd, sizeof(rnd), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rnd))
		return ndl_error_set(err, n < 0 ? errno : EIO,
				     "failed to generate random veth name");
	bridge_veth_name_from(rnd, buf);
	return 0;
}

/* ---- SHA-512 (FIPS 180-4) ------------------------------------------------ */

static const uint64_t K512[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
    0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
    0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
    0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
    0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
    0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
    0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
    0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
    0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
    0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
    0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
    0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

static inline uint64_t ror64(uint64_t x, int n)
{
	return (x >> n) | (x << (64 - n));
}

static void sha512_block(uint64_t st[8], const uint8_t *p)
{
	uint64_t w[80];
	for (int i = 0; i < 16; i++) {
		w[i] = 0;
		for (int j = 0; j < 8; j++)
			w[i] = (w[i] << 8) | p[i * 8 + j];
	}
	for (int i = 16; i < 80; i++) {
		uint64_t s0 = ror64(w[i - 15], 1) ^ ror64(w[i - 15], 8) ^ (w[i - 15] >> 7);
		uint64_t s1 = ror64(w[i - 2], 19) ^ ror64(w[i - 2], 61) ^ (w[i - 2] >> 6);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint64_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6],
		 h = st[7];
	for (int i = 0; i < 80; i++) {
		uint64_t S1 = ror64(e, 14) ^ ror64(e, 18) ^ ror64(e, 41);
		uint64_t ch = (e & f) ^ (~e & g);
		uint64_t t1 = h + S1 + ch + K512[i] + w[i];
		uint64_t S0 = ror64(a, 28) ^ ror64(a, 34) ^ ror64(a, 39);
		uint64_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint64_t t2 = S0 + maj;
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	st[0] += a;
	st[1] += b;
	st[2] += c;
	st[3] += d;
	st[4] += e;
	st[5] += f;
	st[6] += g;
	st[7] += h;
}

void bridge_sha512(const void *data, size_t len, uint8_t out[64])
{
	uint64_t st[8] = {
	    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
	    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
	    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
	};
	const uint8_t *p = data;
	size_t left = len;
	while (left >= 128) {
		sha512_block(st, p);
		p += 128;
		left -= 128;
	}
	uint8_t tail[256];
	memset(tail, 0, sizeof(tail));
	memcpy(tail, p, left);
	tail[left] = 0x80;
	size_t tlen = left + 1 + 16 <= 128 ? 128 : 256;
	/* Length in bits, big-endian, in the last 16 bytes (high 64 bits are 0
	 * for any length that fits in size_t * 8 here). */
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha512_block(st, tail);
	if (tlen == 256)
		sha512_block(st, tail + 128);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 8; j++)
			out[i * 8 + j] = (uint8_t)(st[i] >> (56 - 8 * j));
}
