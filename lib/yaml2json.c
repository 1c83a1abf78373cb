/* libyaml document API -> jansson tree. */
#include "yaml2json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "xalloc.h"

struct conv {
	yaml_document_t *doc;
	size_t nodes;
	ndl_error_t *err;
};

static bool is_plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Resolve a scalar the way Kubernetes' YAML decoder does for the types we
 * meet: quoted -> string; plain -> null, bool, int (decimal, 0x hex, 0o and
 * YAML 1.1 leading-zero octal, so "mode: 0644" is 420), float, else string. */
static json_t *scalar_to_json(const yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	if (!is_plain(n) || strlen(s) != len)
		return json_stringn(s, len);
	if (len == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	const char *p = s;
	bool neg = *p == '-';
	if (*p == '-' || *p == '+')
		p++;
	if (!*p)
		return json_stringn(s, len);
	char *end = NULL;
	long long v = 0;
	bool isint = false;
	errno = 0;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && p[2] &&
	    strspn(p + 2, "0123456789abcdefABCDEF") == strlen(p + 2)) {
		v = strtoll(p + 2, &end, 16);
		isint = true;
	} else if (p[0] == '0' && p[1] == 'o' && p[2] && strspn(p + 2, "01234567") == strlen(p + 2)) {
		v = strtoll(p + 2, &end, 8);
		isint = true;
	} else if (p[0] == '0' && p[1] && strspn(p + 1, "01234567") == strlen(p + 1)) {
		v = strtoll(p + 1, &end, 8);
		isint = true;
	} else if (strspn(p, "0123456789") == strlen(p)) {
		v = strtoll(p, &end, 10);
		isint = true;
	}
	if (isint && errno == 0)
		return json_integer(neg ? -v : v);
	if (isint)
		return json_stringn(s, len); /* out of range: keep the text */
	if (p[0] >= '0' && p[0] <= '9' && strspn(p, "0123456789.eE+-") == strlen(p)) {
		errno = 0;
		double d = strtod(s, &end);
		if (end && *end == '\0' && errno == 0)
			return json_real(d);
	}
	return json_stringn(s, len);
}

static json_t *node_to_json(struct conv *c, yaml_node_t *n, int depth)
{
	if (!n) {
		ndl_error_setf(c->err, EINVAL, "YAML: dangling node reference");
		return NULL;
	}
	if (depth > NDL_YAML_MAX_DEPTH) {
		ndl_error_setf(c->err, EINVAL, "YAML: nesting deeper than %d at line %zu",
			       NDL_YAML_MAX_DEPTH, n->start_mark.line + 1);
		return NULL;
	}
	if (++c->nodes > NDL_YAML_MAX_NODES) {
		ndl_error_setf(c->err, E2BIG, "YAML: more than %d nodes (alias expansion?)",
			       NDL_YAML_MAX_NODES);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar_to_json(n);
	case YAML_SEQUENCE_NODE: {
		json_t *arr = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			json_t *v = node_to_json(c, yaml_document_get_node(c->doc, *it), depth + 1);
			if (!v) {
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, v);
		}
		return arr;
	}
	case YAML_MAPPING_NODE: {
		json_t *obj = json_object();
		for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
		     pr < n->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, pr->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				ndl_error_setf(c->err, EINVAL,
					       "YAML: mapping key at line %zu is not a scalar",
					       k ? k->start_mark.line + 1 : 0);
				json_decref(obj);
				return NULL;
			}
			char *key = xstrndup((const char *)k->data.scalar.value,
					     k->data.scalar.length);
			if (strlen(key) != k->data.scalar.length) {
				free(key);
				json_decref(obj);
				ndl_error_setf(c->err, EINVAL, "YAML: NUL in key at line %zu",
					       k->start_mark.line + 1);
				return NULL;
			}
			if (json_object_get(obj, key)) {
				ndl_error_setf(c->err, EINVAL, "YAML: duplicate key \"%s\" at line %zu",
					       key, k->start_mark.line + 1);
				free(key);
				json_decref(obj);
				return NULL;
			}
			json_t *v = node_to_json(c, yaml_document_get_node(c->doc, pr->value),
						 depth + 1);
			if (!v) {
				free(key);
				json_decref(obj);
				return NULL;
			}
			json_object_set_new(obj, key, v);
			free(key);
		}
		return obj;
	}
	default:
		return json_null();
	}
}

static int parse(const char *buf, size_t len, bool all, json_t **ret, ndl_error_t *err)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return ndl_error_setf(err, ENOMEM, "YAML: parser init failed");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	json_t *docs = json_array();
	int r = 0;
	for (;;) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			r = ndl_error_setf(err, EINVAL, "YAML: %s at line %zu column %zu",
					   parser.problem ? parser.problem : "parse error",
					   parser.problem_mark.line + 1,
					   parser.problem_mark.column + 1);
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break; /* end of stream */
		}
		struct conv c = {.doc = &doc, .err = err};
		json_t *j = node_to_json(&c, root, 0);
		yaml_document_delete(&doc);
		if (!j) {
			r = -EINVAL;
			if (err && err->code)
				r = -err->code;
			break;
		}
		json_array_append_new(docs, j);
		if (!all)
			break;
	}
	yaml_parser_delete(&parser);
	if (r < 0) {
		json_decref(docs);
		return r;
	}
	if (all) {
		*ret = docs;
	} else {
		json_t *first = json_array_get(docs, 0);
		*ret = first ? json_incref(first) : json_null();
		json_decref(docs);
	}
	return 0;
}

int ndl_yaml_parse(const char *buf, size_t len, json_t **ret, ndl_error_t *err)
{
	return parse(buf, len, false, ret, err);
}

int ndl_yaml_parse_all(const char *buf, size_t len, json_t **ret, ndl_error_t *err)
{
	return parse(buf, len, true, ret, err);
}
