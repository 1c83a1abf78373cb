/* Generic CRI message <-> JSON conversion driven by protobuf-c descriptors,
 * in the shape of protobuf's JSON mapping with proto field names. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/client/client.h"
#include "lib/cleanup.h"
#include "lib/json.h"
#include "lib/xalloc.h"

#define MAX_DEPTH 32

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *bytes_json(const ProtobufCBinaryData *b)
{
	char *out = xmalloc(4 * ((b->len + 2) / 3) + 1);
	size_t o = 0;
	for (size_t i = 0; i < b->len; i += 3) {
		unsigned v = (unsigned)b->data[i] << 16;
		if (i + 1 < b->len)
			v |= (unsigned)b->data[i + 1] << 8;
		if (i + 2 < b->len)
			v |= b->data[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < b->len ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < b->len ? b64[v & 63] : '=';
	}
	out[o] = 0;
	json_t *j = json_string(out);
	free(out);
	return j;
}

static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	char tmp[32];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(tmp, sizeof(tmp), "%" PRId64, *(const int64_t *)p);
		return json_string(tmp);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(tmp, sizeof(tmp), "%" PRIu64, *(const uint64_t *)p);
		return json_string(tmp);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(
		    (const ProtobufCEnumDescriptor *)f->descriptor, v);
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		json_t *j = json_string(s ? s : "");
		if (!j) {
			/* protobuf-c does not check UTF-8; JSON needs it. Show the
			 * field rather than drop it: non-ASCII bytes become '?'. */
			char *copy = xstrdup(s);
			for (char *c = copy; *c; c++)
				if ((unsigned char)*c >= 0x80)
					*c = '?';
			j = json_string(copy);
			free(copy);
		}
		return j;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return bytes_json((const ProtobufCBinaryData *)p);
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
		return m ? cri_msg_to_json(m) : json_null();
	}
	}
	return json_null();
}

static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return *(const uint32_t *)p == 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)p == 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p == 0;
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)p;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return !s || !*s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)p == NULL;
	}
	return true;
}

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

static bool is_map_entry(const ProtobufCFieldDescriptor *f)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED)
		return false;
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t n = strlen(d->name);
	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

json_t *cri_msg_to_json(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	json_t *obj = json_object();
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)msg;
		const void *p = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			if (n == 0)
				continue;
			const char *arr = *(char *const *)p;
			if (is_map_entry(f)) {
				json_t *m = json_object();
				for (size_t k = 0; k < n; k++) {
					const ProtobufCMessage *e =
					    ((ProtobufCMessage *const *)arr)[k];
					const ProtobufCMessageDescriptor *ed = e->descriptor;
					const char *key = *(char *const *)((const char *)e +
									   ed->fields[0].offset);
					json_object_set_new(
					    m, key ? key : "",
					    value_json(&ed->fields[1],
						       (const char *)e + ed->fields[1].offset));
				}
				json_object_set_new(obj, f->name, m);
				continue;
			}
			json_t *a = json_array();
			for (size_t k = 0; k < n; k++)
				json_array_append_new(a,
						      value_json(f, arr + k * type_size(f->type)));
			json_object_set_new(obj, f->name, a);
			continue;
		}
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
			if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
				continue;
		} else if (is_default(f, p)) {
			continue;
		}
		json_object_set_new(obj, f->name, value_json(f, p));
	}
	return obj;
}

/* ---- JSON -> message ---- */

static int b64v(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static int set_value(const ProtobufCFieldDescriptor *f, void *p, const json_t *v, const char *where,
		     int depth, ndl_error_t *err);

static int from_json(const ProtobufCMessageDescriptor *desc, const json_t *j, const char *where,
		     int depth, ProtobufCMessage **ret, ndl_error_t *err)
{
	if (depth > MAX_DEPTH)
		return ndl_error_setf(err, EINVAL, "field \"%s\": nested too deeply", where);
	if (!json_is_object(j))
		return ndl_error_setf(err, EINVAL, "field \"%s\": expected object, got %s",
				      *where ? where : "(top)", ndl_json_type_name(j));
	ProtobufCMessage *m = xcalloc(1, desc->sizeof_message);
	desc->message_init(m);
	const char *key;
	json_t *v;
	int r = 0;
	json_object_foreach((json_t *)j, key, v)
	{
		cleanup_free char *path = *where ? xasprintf("%s.%s", where, key) : xstrdup(key);
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field_by_name(desc, key);
		if (!f) {
			r = ndl_error_setf(err, EINVAL, "field \"%s\": unknown field of %s", path,
					   desc->name);
			break;
		}
		if (json_is_null(v))
			continue;
		char *base = (char *)m;
		void *p = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t *np = (size_t *)(base + f->quantifier_offset);
			if (is_map_entry(f)) {
				if (!json_is_object(v)) {
					r = ndl_error_setf(err, EINVAL,
							   "field \"%s\": expected object, got %s",
							   path, ndl_json_type_name(v));
					break;
				}
				size_t n = json_object_size(v);
				ProtobufCMessage **arr = xcalloc(n + 1, sizeof(*arr));
				*(void **)p = arr;
				const ProtobufCMessageDescriptor *ed = f->descriptor;
				const char *mk;
				json_t *mv;
				json_object_foreach(v, mk, mv)
				{
					ProtobufCMessage *e = xcalloc(1, ed->sizeof_message);
					ed->message_init(e);
					arr[(*np)++] = e;
					*(char **)((char *)e + ed->fields[0].offset) = xstrdup(mk);
					cleanup_free char *ep = xasprintf("%s.%s", path, mk);
					if ((r = set_value(&ed->fields[1],
							   (char *)e + ed->fields[1].offset, mv, ep,
							   depth, err)) < 0)
						break;
				}
				if (r < 0)
					break;
				continue;
			}
			if (!json_is_array(v)) {
				r = ndl_error_setf(err, EINVAL,
						   "field \"%s\": expected array, got %s", path,
						   ndl_json_type_name(v));
				break;
			}
			size_t n = json_array_size(v), sz = type_size(f->type);
			char *arr = xcalloc(n + 1, sz);
			*(void **)p = arr;
			for (size_t k = 0; k < n; k++) {
				cleanup_free char *ep = xasprintf("%s[%zu]", path, k);
				if ((r = set_value(f, arr + k * sz, json_array_get(v, k), ep, depth,
						   err)) < 0)
					break;
				(*np)++;
			}
			if (r < 0)
				break;
			continue;
		}
		if ((r = set_value(f, p, v, path, depth, err)) < 0)
			break;
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	}
	if (r < 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return r;
	}
	*ret = m;
	return 0;
}

static int get_int(const json_t *v, const char *where, bool is_unsigned, int64_t lo, int64_t hi,
		   int64_t *ret, uint64_t *ret_u, ndl_error_t *err)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x < lo || x > hi || (is_unsigned && x < 0))
			return ndl_error_setf(err, ERANGE, "field \"%s\": %lld out of range", where,
					      (long long)x);
		*ret = x;
		*ret_u = (uint64_t)x;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end = NULL;
		errno = 0;
		if (is_unsigned) {
			if (*s == '-')
				return ndl_error_setf(err, ERANGE, "field \"%s\": negative value",
						      where);
			unsigned long long u = strtoull(s, &end, 10);
			if (!*s || *end || errno)
				return ndl_error_setf(
				    err, EINVAL, "field \"%s\": invalid integer \"%s\"", where, s);
			*ret_u = u;
			*ret = (int64_t)u;
			return 0;
		}
		long long x = strtoll(s, &end, 10);
		if (!*s || *end || errno || x < lo || x > hi)
			return ndl_error_setf(err, EINVAL, "field \"%s\": invalid integer \"%s\"",
					      where, s);
		*ret = x;
		*ret_u = (uint64_t)x;
		return 0;
	}
	return ndl_error_setf(err, EINVAL, "field \"%s\": expected integer, got %s", where,
			      ndl_json_type_name(v));
}

static int set_value(const ProtobufCFieldDescriptor *f, void *p, const json_t *v, const char *where,
		     int depth, ndl_error_t *err)
{
	int64_t i = 0;
	uint64_t u = 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (get_int(v, where, false, INT32_MIN, INT32_MAX, &i, &u, err) < 0)
			return -EINVAL;
		*(int32_t *)p = (int32_t)i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (get_int(v, where, true, 0, UINT32_MAX, &i, &u, err) < 0)
			return -EINVAL;
		if (u > UINT32_MAX)
			return ndl_error_setf(err, ERANGE, "field \"%s\": out of range", where);
		*(uint32_t *)p = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (get_int(v, where, false, INT64_MIN, INT64_MAX, &i, &u, err) < 0)
			return -EINVAL;
		*(int64_t *)p = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (get_int(v, where, true, 0, INT64_MAX, &i, &u, err) < 0)
			return -EINVAL;
		*(uint64_t *)p = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!json_is_number(v))
			return ndl_error_setf(err, EINVAL, "field \"%s\": expected number, got %s",
					      where, ndl_json_type_name(v));
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)p = (float)json_number_value(v);
		else
			*(double *)p = json_number_value(v);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(v))
			return ndl_error_setf(err, EINVAL, "field \"%s\": expected boolean, got %s",
					      where, ndl_json_type_name(v));
		*(protobuf_c_boolean *)p = json_is_true(v);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (json_is_string(v)) {
			const ProtobufCEnumValue *ev =
			    protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
			if (!ev)
				return ndl_error_setf(err, EINVAL,
						      "field \"%s\": unknown %s value \"%s\"",
						      where, ed->name, json_string_value(v));
			*(int *)p = ev->value;
			return 0;
		}
		if (get_int(v, where, false, INT32_MIN, INT32_MAX, &i, &u, err) < 0)
			return -EINVAL;
		*(int *)p = (int)i;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING:
		if (!json_is_string(v))
			return ndl_error_setf(err, EINVAL, "field \"%s\": expected string, got %s",
					      where, ndl_json_type_name(v));
		*(char **)p = xstrdup(json_string_value(v));
		return 0;
	case PROTOBUF_C_TYPE_BYTES: {
		if (!json_is_string(v))
			return ndl_error_setf(err, EINVAL,
					      "field \"%s\": expected base64 string, got %s", where,
					      ndl_json_type_name(v));
		const char *s = json_string_value(v);
		size_t len = strlen(s);
		uint8_t *out = xmalloc(len / 4 * 3 + 3);
		size_t o = 0;
		unsigned acc = 0;
		int bits = 0;
		for (size_t k = 0; k < len; k++) {
			if (s[k] == '=')
				break;
			int x = b64v(s[k]);
			if (x < 0) {
				free(out);
				return ndl_error_setf(err, EINVAL, "field \"%s\": invalid base64",
						      where);
			}
			acc = acc << 6 | (unsigned)x;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[o++] = (uint8_t)(acc >> bits);
			}
		}
		ProtobufCBinaryData *b = p;
		b->data = out;
		b->len = o;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sub = NULL;
		if (from_json(f->descriptor, v, where, depth + 1, &sub, err) < 0)
			return -EINVAL;
		*(ProtobufCMessage **)p = sub;
		return 0;
	}
	}
	return ndl_error_setf(err, EINVAL, "field \"%s\": unsupported type", where);
}

int cri_msg_from_json(const ProtobufCMessageDescriptor *desc, const json_t *j,
		      ProtobufCMessage **ret, ndl_error_t *err)
{
	return from_json(desc, j, "", 0, ret, err);
}

/* Walk a message tree counting fields the sender set that our proto does not
 * know; the first one's path goes to where. */
static size_t unknown_walk(const ProtobufCMessage *m, const char *path, char *where, size_t wsize,
			   int depth)
{
	if (!m || depth > MAX_DEPTH)
		return 0;
	size_t count = m->n_unknown_fields;
	if (count && where && !*where)
		snprintf(where, wsize, "%s%s#%u", path, *path ? "." : "", m->unknown_fields[0].tag);
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		char sub[512];
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", f->name);
		const char *p = (const char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			for (size_t k = 0; k < n; k++)
				count += unknown_walk((*(ProtobufCMessage *const *const *)p)[k],
						      sub, where, wsize, depth + 1);
		} else {
			count += unknown_walk(*(ProtobufCMessage *const *)p, sub, where, wsize,
					      depth + 1);
		}
	}
	return count;
}

size_t cri_msg_unknown_fields(const ProtobufCMessage *msg, char *where, size_t wsize)
{
	if (where && wsize)
		where[0] = 0;
	return unknown_walk(msg, "", where, wsize, 0);
}
