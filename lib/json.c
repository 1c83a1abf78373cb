/* Typed, field-naming accessors over jansson. */
#include "json.h"

#include <fcntl.h>
#include <string.h>

#include "fs.h"
#include "xalloc.h"

int ndl_json_parse(const char *buf, size_t len, json_t **ret, ndl_error_t *err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!j)
		return ndl_error_setf(err, EINVAL, "invalid JSON at line %d column %d: %s", je.line,
				      je.column, je.text);
	*ret = j;
	return 0;
}

int ndl_json_load_fd(int fd, json_t **ret, ndl_error_t *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = ndl_read_fd(fd, NDL_JSON_MAX_INPUT, &buf, &len, err);
	if (r < 0)
		return r;
	return ndl_json_parse(buf, len, ret, err);
}

int ndl_json_load_file(const char *path, json_t **ret, ndl_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ndl_error_set(err, errno, "open %s", path);
	int r = ndl_json_load_fd(fd, ret, err);
	if (r < 0)
		return ndl_error_wrap(err, "%s", path);
	return 0;
}

const char *ndl_json_type_name(const json_t *j)
{
	if (!j)
		return "nothing";
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static const char *field_name(const char *where, const char *key, char *buf, size_t size)
{
	if (where && *where)
		snprintf(buf, size, "%s.%s", where, key);
	else
		snprintf(buf, size, "%s", key);
	return buf;
}

/* Look up key; 1 when present and non-null, 0 when absent, <0 on error. */
static int lookup(const json_t *obj, const char *where, const char *key, bool required,
		  json_t **ret, ndl_error_t *err)
{
	char name[512];
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return ndl_error_setf(err, EINVAL, "field \"%s\": required",
					      field_name(where, key, name, sizeof(name)));
		return 0;
	}
	*ret = v;
	return 1;
}

static int type_error(const char *where, const char *key, const char *want, const json_t *got,
		      ndl_error_t *err)
{
	char name[512];
	return ndl_error_setf(err, EINVAL, "field \"%s\": expected %s, got %s",
			      field_name(where, key, name, sizeof(name)), want,
			      ndl_json_type_name(got));
}

int ndl_json_get_string(const json_t *obj, const char *where, const char *key, bool required,
			const char **ret, ndl_error_t *err)
{
	json_t *v = NULL;
	int r = lookup(obj, where, key, required, &v, err);
	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return type_error(where, key, "string", v, err);
	*ret = json_string_value(v);
	return 0;
}

int ndl_json_get_int(const json_t *obj, const char *where, const char *key, bool required,
		     int64_t *ret, ndl_error_t *err)
{
	json_t *v = NULL;
	int r = lookup(obj, where, key, required, &v, err);
	if (r <= 0)
		return r;
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	/* Some producers write integral numbers as 1500.0. */
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* Range check first: converting an out-of-range double is UB. */
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
		    d == (double)(int64_t)d) {
			*ret = (int64_t)d;
			return 0;
		}
	}
	return type_error(where, key, "integer", v, err);
}

int ndl_json_get_bool(const json_t *obj, const char *where, const char *key, bool required,
		      bool *ret, ndl_error_t *err)
{
	json_t *v = NULL;
	int r = lookup(obj, where, key, required, &v, err);
	if (r <= 0)
		return r;
	if (!json_is_boolean(v))
		return type_error(where, key, "boolean", v, err);
	*ret = json_is_true(v);
	return 0;
}

int ndl_json_get_object(const json_t *obj, const char *where, const char *key, bool required,
			json_t **ret, ndl_error_t *err)
{
	json_t *v = NULL;
	int r = lookup(obj, where, key, required, &v, err);
	if (r <= 0)
		return r;
	if (!json_is_object(v))
		return type_error(where, key, "object", v, err);
	*ret = v;
	return 0;
}

int ndl_json_get_array(const json_t *obj, const char *where, const char *key, bool required,
		       json_t **ret, ndl_error_t *err)
{
	json_t *v = NULL;
	int r = lookup(obj, where, key, required, &v, err);
	if (r <= 0)
		return r;
	if (!json_is_array(v))
		return type_error(where, key, "array", v, err);
	*ret = v;
	return 0;
}

char *ndl_json_dumps(const json_t *j, bool pretty)
{
	char *s = json_dumps(j, JSON_ENCODE_ANY | (pretty ? JSON_INDENT(4) : JSON_COMPACT));
	if (!s)
		return xstrdup("null");
	return s;
}
