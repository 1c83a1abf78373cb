/* jansson helpers that validate types and name the offending field in errors:
 *   field "ipam.ranges[0][1].subnet": expected string, got integer */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cleanup.h"
#include "error.h"

#ifndef cleanup_json
static inline void ndl_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(ndl_json_decrefp)))
#endif

/* Largest JSON document read from outside (stdin config, files). */
#define NDL_JSON_MAX_INPUT (16u * 1024 * 1024)

/* Parse; on failure the error names line/column and EINVAL. */
int ndl_json_parse(const char *buf, size_t len, json_t **ret, ndl_error_t *err);
int ndl_json_load_file(const char *path, json_t **ret, ndl_error_t *err);
int ndl_json_load_fd(int fd, json_t **ret, ndl_error_t *err);

/* The JSON type name for messages ("object", "string", ...). */
const char *ndl_json_type_name(const json_t *j);

/* Typed getters: `where` is the path of obj used in messages (may be NULL or
 * "" for the top level). Missing and required -> EINVAL "field X: required".
 * Missing and optional -> returns 0 and leaves *ret untouched. JSON null is
 * treated as missing. */
int ndl_json_get_string(const json_t *obj, const char *where, const char *key, bool required,
			const char **ret, ndl_error_t *err);
int ndl_json_get_int(const json_t *obj, const char *where, const char *key, bool required,
		     int64_t *ret, ndl_error_t *err);
int ndl_json_get_bool(const json_t *obj, const char *where, const char *key, bool required,
		      bool *ret, ndl_error_t *err);
int ndl_json_get_object(const json_t *obj, const char *where, const char *key, bool required,
			json_t **ret, ndl_error_t *err);
int ndl_json_get_array(const json_t *obj, const char *where, const char *key, bool required,
		       json_t **ret, ndl_error_t *err);

/* Serialize compactly (or indented) into a new string. */
char *ndl_json_dumps(const json_t *j, bool pretty);
