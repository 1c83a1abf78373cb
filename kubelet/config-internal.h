/* The option table shared by the flag parser, the config-file loader,
 * the defaults and --help: everything nodelet knows about an option is in
 * its one row. */
#pragma once

#include <stddef.h>

#include "config.h"

enum kubelet_opt_type {
	KOPT_STRING,
	KOPT_BOOL,
	KOPT_INT32,
	KOPT_INT64,
	KOPT_DURATION,
	KOPT_EVICTION, /* map signal -> threshold; flag form "a<b,c<d" */
	KOPT_STRING_LIST,
	KOPT_FLOAT,
};

struct kubelet_option {
	const char *flag;  /* long flag name without "--"; NULL when file-only */
	const char *field; /* KubeletConfiguration field; NULL when flag-only */
	enum kubelet_opt_type type;
	size_t offset;
	/* The kubelet's default in flag syntax, applied by kubelet_config_init
	 * through the flag parser and shown by --help; NULL: zero / unset. */
	const char *def;
	/* A non-pointer field of the Go type: a zero value in the file ("",
	 * 0, "0s") is indistinguishable from "not set" there and gets def. */
	bool zero_is_default;
	const char *help;
};

extern const struct kubelet_option kubelet_options[];
extern const size_t kubelet_n_options;

/* Real kubelet flags we accept and ignore with a warning. */
struct kubelet_unused_flag {
	const char *name;
	bool is_bool; /* takes no separate value */
};
extern const struct kubelet_unused_flag kubelet_unused_flags[];
extern const size_t kubelet_n_unused_flags;

/* Set an option from a flag's string value. */
int kubelet_option_set_string(struct kubelet_config *c, const struct kubelet_option *o,
			      const char *value, ndl_error_t *err);
/* Set an option from a config-file JSON value. */
int kubelet_option_set_json(struct kubelet_config *c, const struct kubelet_option *o,
			    const json_t *value, ndl_error_t *err);

const struct kubelet_option *kubelet_option_by_flag(const char *name);
const struct kubelet_option *kubelet_option_by_field(const char *field);

/* Parse argv into (option, value) pairs without applying them. */
struct kubelet_flag_value {
	const struct kubelet_option *opt;
	const char *value;   /* borrowed from argv or a static "true" */
	const char *spelled; /* as given, for messages */
};
int kubelet_flags_parse(int argc, char **argv, struct kubelet_flag_value **ret_values,
			size_t *ret_n, bool *ret_help, bool *ret_version, ndl_error_t *err);
