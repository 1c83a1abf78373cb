/* Translation helpers of seccomp.c, exposed for unit tests. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cri/runtime/spec.h"

struct rt_seccomp_filter;

/* RT_SCMP_ACT_* -> SCMP_ACT_* value (errno defaults to EPERM). */
int rt_seccomp_action_value(enum rt_seccomp_action a, bool has_errno, unsigned errno_ret,
			    uint32_t *ret);
/* RT_SCMP_* -> enum scmp_compare, -1 when unknown. */
int rt_seccomp_op_value(enum rt_seccomp_op op);
/* "SCMP_ARCH_X86_64" -> SCMP_ARCH_X86_64, 0 when unknown. */
uint32_t rt_seccomp_arch_value(const char *name);
/* Write the compiled BPF program to fd (tests compare filters). */
int rt_seccomp_export_bpf(struct rt_seccomp_filter *f, int fd);
