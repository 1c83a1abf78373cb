/* CNI_* environment and the stdin network configuration, validated with the
 * reference libcni's rules (required variables per command, name syntax). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cni-plugins/skel/skel.h"
#include "lib/json.h"
#include "lib/xalloc.h"

static const char *const version_names[] = {
    [CNI_VERSION_0_1_0] = "0.1.0", [CNI_VERSION_0_2_0] = "0.2.0", [CNI_VERSION_0_3_0] = "0.3.0",
    [CNI_VERSION_0_3_1] = "0.3.1", [CNI_VERSION_0_4_0] = "0.4.0", [CNI_VERSION_1_0_0] = "1.0.0",
    [CNI_VERSION_1_1_0] = "1.1.0",
};

const enum cni_version cni_all_versions[] = {
    CNI_VERSION_0_1_0, CNI_VERSION_0_2_0, CNI_VERSION_0_3_0, CNI_VERSION_0_3_1,
    CNI_VERSION_0_4_0, CNI_VERSION_1_0_0, CNI_VERSION_1_1_0, CNI_VERSION_INVALID,
};

enum cni_version cni_version_parse(const char *s)
{
	if (!s || !*s)
		return CNI_VERSION_0_1_0;
	for (size_t i = 1; i < sizeof(version_names) / sizeof(version_names[0]); i++)
		if (strcmp(s, version_names[i]) == 0)
			return (enum cni_version)i;
	return CNI_VERSION_INVALID;
}

const char *cni_version_str(enum cni_version v)
{
	if (v <= CNI_VERSION_INVALID || v > CNI_VERSION_LATEST)
		return NULL;
	return version_names[v];
}

static const char *const command_names[] = {
    [CNI_CMD_NONE] = "",	   [CNI_CMD_ADD] = "ADD", [CNI_CMD_CHECK] = "CHECK",
    [CNI_CMD_DEL] = "DEL",	   [CNI_CMD_GC] = "GC",	  [CNI_CMD_STATUS] = "STATUS",
    [CNI_CMD_VERSION] = "VERSION",
};

const char *cni_command_str(enum cni_command c)
{
	if (c < CNI_CMD_NONE || c > CNI_CMD_VERSION)
		return "";
	return command_names[c];
}

static enum cni_command command_parse(const char *s)
{
	for (int i = CNI_CMD_ADD; i <= CNI_CMD_VERSION; i++)
		if (s && strcmp(s, command_names[i]) == 0)
			return (enum cni_command)i;
	return CNI_CMD_NONE;
}

/* [a-zA-Z0-9][a-zA-Z0-9_.-]* as in libcni. */
static bool valid_name_chars(const char *s)
{
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

int cni_validate_network_name(const char *name, ndl_error_t *err)
{
	if (!name || !*name)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG, "missing network name");
	if (!valid_name_chars(name)) {
		cni_error_set_details(name);
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "invalid characters found in network name");
	}
	return 0;
}

int cni_validate_container_id(const char *id, ndl_error_t *err)
{
	if (!id || !*id)
		return cni_error_set(err, CNI_ERR_UNKNOWN_CONTAINER, "missing containerID");
	if (!valid_name_chars(id)) {
		cni_error_set_details(id);
		return cni_error_set(err, CNI_ERR_INVALID_ENV, "invalid characters in containerID");
	}
	return 0;
}

int cni_validate_ifname(const char *name, ndl_error_t *err)
{
	if (!name || !*name)
		return cni_error_set(err, CNI_ERR_INVALID_ENV, "interface name is empty");
	if (strlen(name) > 15) {
		cni_error_set_details("interface name should be less than 16 characters");
		return cni_error_set(err, CNI_ERR_INVALID_ENV, "interface name is too long");
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return cni_error_set(err, CNI_ERR_INVALID_ENV, "interface name is . or ..");
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return cni_error_set(
			    err, CNI_ERR_INVALID_ENV,
			    "interface name contains / or : or whitespace characters");
	return 0;
}

static const char *getenv_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int cni_env_load(struct cni_env *ret, ndl_error_t *err)
{
	struct cni_env e = {0};
	e.command_str = getenv_nonempty("CNI_COMMAND");
	e.command = command_parse(e.command_str);
	e.container_id = getenv_nonempty("CNI_CONTAINERID");
	e.netns = getenv_nonempty("CNI_NETNS");
	e.ifname = getenv_nonempty("CNI_IFNAME");
	e.args = getenv_nonempty("CNI_ARGS");
	e.path = getenv_nonempty("CNI_PATH");

	enum cni_command c = e.command;
	bool per_container = c == CNI_CMD_ADD || c == CNI_CMD_CHECK || c == CNI_CMD_DEL;
	/* Same order and wording as the reference skel, which lists every
	 * missing variable at once. */
	struct {
		const char *name, *val;
		bool required;
	} vars[] = {
	    {"CNI_COMMAND", e.command_str, true},
	    {"CNI_CONTAINERID", e.container_id, per_container},
	    {"CNI_NETNS", e.netns, c == CNI_CMD_ADD || c == CNI_CMD_CHECK},
	    {"CNI_IFNAME", e.ifname, per_container},
	    {"CNI_PATH", e.path, per_container || c == CNI_CMD_GC || c == CNI_CMD_STATUS},
	};
	char missing[256] = "";
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (vars[i].val || !vars[i].required)
			continue;
		if (*missing)
			strcat(missing, ",");
		strcat(missing, vars[i].name);
	}
	/* Validators run first, as the reference's single pass does for the
	 * variables that precede a missing one; the order of the checks only
	 * changes which of two errors is shown. */
	if (per_container && e.container_id && cni_validate_container_id(e.container_id, err) < 0)
		return -EINVAL;
	if (per_container && e.ifname && cni_validate_ifname(e.ifname, err) < 0)
		return -EINVAL;
	if (*missing)
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "required env variables [%s] missing", missing);
	if (c == CNI_CMD_NONE)
		return cni_error_set(err, CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND: %s",
				     e.command_str);
	*ret = e;
	return 0;
}

void cni_env_clear(struct cni_env *e)
{
	for (size_t i = 0; i < e->n_kv; i++) {
		free(e->kv[i].key);
		free(e->kv[i].value);
	}
	free(e->kv);
	e->kv = NULL;
	e->n_kv = 0;
}

int cni_env_parse_args(struct cni_env *e, ndl_error_t *err)
{
	cni_env_clear(e);
	if (!e->args)
		return 0;
	const char *p = e->args;
	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		/* Exactly one '=' per pair, as the reference's LoadArgs demands. */
		if (!eq || memchr(eq + 1, '=', len - (eq + 1 - p))) {
			int r = cni_error_set(err, CNI_ERR_INVALID_ENV,
					      "ARGS: invalid pair \"%.*s\"", (int)len, p);
			cni_env_clear(e);
			return r;
		}
		e->kv = xrealloc(e->kv, (e->n_kv + 1) * sizeof(*e->kv));
		e->kv[e->n_kv].key = xstrndup(p, eq - p);
		e->kv[e->n_kv].value = xstrndup(eq + 1, len - (eq + 1 - p));
		e->n_kv++;
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

const char *cni_env_arg(const struct cni_env *e, const char *key)
{
	for (size_t i = 0; i < e->n_kv; i++)
		if (strcmp(e->kv[i].key, key) == 0)
			return e->kv[i].value;
	return NULL;
}

void cni_conf_clear(struct cni_conf *c)
{
	if (c->raw)
		json_decref(c->raw);
	free(c->stdin_data);
	cni_dns_clear(&c->dns);
	cni_result_free(c->prev_result);
	for (size_t i = 0; i < c->n_valid_attachments; i++) {
		free(c->valid_attachments[i].container_id);
		free(c->valid_attachments[i].ifname);
	}
	free(c->valid_attachments);
	memset(c, 0, sizeof(*c));
}

#define CONF_GET(call)                                                                             \
	do {                                                                                       \
		if ((call) < 0) {                                                                  \
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));      \
			goto fail;                                                                 \
		}                                                                                  \
	} while (0)

static int parse_attachments(struct cni_conf *c, json_t *arr, ndl_error_t *err)
{
	const char *key = "cni.dev/valid-attachments";
	if (!json_is_array(arr))
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "field \"%s\": expected array, got %s", key,
				     ndl_json_type_name(arr));
	size_t n = json_array_size(arr);
	c->valid_attachments = n ? xcalloc(n, sizeof(*c->valid_attachments)) : NULL;
	for (size_t i = 0; i < n; i++) {
		char w[96];
		snprintf(w, sizeof(w), "%s[%zu]", key, i);
		json_t *o = json_array_get(arr, i);
		const char *id = NULL, *ifname = NULL;
		if (!json_is_object(o))
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "field \"%s\": expected object, got %s", w,
					     ndl_json_type_name(o));
		if (ndl_json_get_string(o, w, "containerID", true, &id, err) < 0 ||
		    ndl_json_get_string(o, w, "ifname", true, &ifname, err) < 0)
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
		c->valid_attachments[i].container_id = xstrdup(id);
		c->valid_attachments[i].ifname = xstrdup(ifname);
		c->n_valid_attachments = i + 1;
	}
	c->has_valid_attachments = true;
	return 0;
}

int cni_conf_parse(char *data, size_t len, struct cni_conf *ret, ndl_error_t *err)
{
	struct cni_conf c = {0};
	c.stdin_data = data;
	c.stdin_len = len;
	json_error_t je;
	c.raw = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!c.raw) {
		cni_error_set(
		    err, CNI_ERR_DECODE,
		    "error unmarshall network config: invalid JSON at line %d column %d: %s",
		    je.line, je.column, je.text);
		goto fail;
	}
	if (!json_is_object(c.raw)) {
		cni_error_set(err, CNI_ERR_DECODE,
			      "error unmarshall network config: expected object, got %s",
			      ndl_json_type_name(c.raw));
		goto fail;
	}
	CONF_GET(ndl_json_get_string(c.raw, "", "name", false, &c.name, err));
	if (cni_validate_network_name(c.name, err) < 0)
		goto fail;
	json_t *v = json_object_get(c.raw, "cniVersion");
	if (v && !json_is_null(v) && !json_is_string(v)) {
		cni_error_set(err, CNI_ERR_DECODE, "field \"cniVersion\": expected string, got %s",
			      ndl_json_type_name(v));
		goto fail;
	}
	c.cni_version_str = v && json_is_string(v) ? json_string_value(v) : "";
	c.version = cni_version_parse(c.cni_version_str);
	CONF_GET(ndl_json_get_string(c.raw, "", "type", false, &c.type, err));
	CONF_GET(ndl_json_get_object(c.raw, "", "ipam", false, &c.ipam, err));
	if (c.ipam)
		CONF_GET(ndl_json_get_string(c.ipam, "ipam", "type", false, &c.ipam_type, err));
	json_t *dns = NULL;
	CONF_GET(ndl_json_get_object(c.raw, "", "dns", false, &dns, err));
	if (dns) {
		if (cni_dns_from_json(dns, "dns", &c.dns, err) < 0) {
			cni_error_set(err, CNI_ERR_INVALID_CONFIG, "%s", ndl_error_msg(err));
			goto fail;
		}
		c.has_dns = true;
	}
	CONF_GET(ndl_json_get_object(c.raw, "", "runtimeConfig", false, &c.runtime_config, err));
	CONF_GET(ndl_json_get_object(c.raw, "", "capabilities", false, &c.capabilities, err));
	CONF_GET(ndl_json_get_object(c.raw, "", "args", false, &c.args, err));
	json_t *att = json_object_get(c.raw, "cni.dev/valid-attachments");
	if (att && !json_is_null(att) && parse_attachments(&c, att, err) < 0)
		goto fail;
	json_t *prev = json_object_get(c.raw, "prevResult");
	if (prev && !json_is_null(prev) && c.version != CNI_VERSION_INVALID) {
		c.prev_result_raw = prev;
		/* Read as the configuration's version, as libcni does. */
		if (cni_result_from_json(prev, c.version, "prevResult", &c.prev_result, err) < 0)
			goto fail;
	}
	*ret = c;
	return 0;
fail:
	cni_conf_clear(&c);
	return -EINVAL;
}
