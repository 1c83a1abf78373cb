/* YAML (1.1/1.2 subset that Kubernetes uses) to jansson, via libyaml. Used
 * for manifests, KubeletConfiguration and registries.yaml. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "error.h"

/* Limits against hostile input. */
#define NDL_YAML_MAX_DEPTH 64
#define NDL_YAML_MAX_NODES 200000

/* Parse the first document of buf into *ret. Plain scalars become integers,
 * floats, booleans or null per the YAML core schema (true/false/null/~,
 * decimal/octal/hex ints); quoted scalars always stay strings. Anchors and
 * aliases are resolved (bounded by NDL_YAML_MAX_NODES). An empty document
 * gives JSON null. Errors name the line and column. */
int ndl_yaml_parse(const char *buf, size_t len, json_t **ret, ndl_error_t *err);

/* Parse every document of a multi-document stream into a JSON array. */
int ndl_yaml_parse_all(const char *buf, size_t len, json_t **ret, ndl_error_t *err);
