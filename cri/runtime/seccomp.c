/* linux.seccomp (already validated by spec.c) -> libseccomp filter. Follows
 * runc's translation: unknown syscall names are skipped, rules whose action
 * equals the default are dropped, and several conditions on the same
 * argument become separate rules (libseccomp ANDs conditions in a rule). */
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cri/runtime/runtime-internal.h"
#include "cri/runtime/seccomp.h"
#include "lib/xalloc.h"

struct rt_seccomp_filter {
	scmp_filter_ctx ctx;
};

int rt_seccomp_action_value(enum rt_seccomp_action a, bool has_errno, unsigned errno_ret,
			    uint32_t *ret)
{
	switch (a) {
	case RT_SCMP_ACT_KILL:
		*ret = SCMP_ACT_KILL_THREAD;
		return 0;
	case RT_SCMP_ACT_KILL_PROCESS:
		*ret = SCMP_ACT_KILL_PROCESS;
		return 0;
	case RT_SCMP_ACT_TRAP:
		*ret = SCMP_ACT_TRAP;
		return 0;
	case RT_SCMP_ACT_ERRNO:
		*ret = SCMP_ACT_ERRNO(has_errno ? errno_ret : EPERM);
		return 0;
	case RT_SCMP_ACT_TRACE:
		*ret = SCMP_ACT_TRACE(has_errno ? errno_ret : EPERM);
		return 0;
	case RT_SCMP_ACT_ALLOW:
		*ret = SCMP_ACT_ALLOW;
		return 0;
	case RT_SCMP_ACT_LOG:
		*ret = SCMP_ACT_LOG;
		return 0;
	case RT_SCMP_ACT_NOTIFY:
		break;
	}
	return -ENOTSUP;
}

int rt_seccomp_op_value(enum rt_seccomp_op op)
{
	switch (op) {
	case RT_SCMP_NE:
		return SCMP_CMP_NE;
	case RT_SCMP_LT:
		return SCMP_CMP_LT;
	case RT_SCMP_LE:
		return SCMP_CMP_LE;
	case RT_SCMP_EQ:
		return SCMP_CMP_EQ;
	case RT_SCMP_GE:
		return SCMP_CMP_GE;
	case RT_SCMP_GT:
		return SCMP_CMP_GT;
	case RT_SCMP_MASKED_EQ:
		return SCMP_CMP_MASKED_EQ;
	}
	return -1;
}

uint32_t rt_seccomp_arch_value(const char *name)
{
	if (!name || strncmp(name, "SCMP_ARCH_", 10) != 0)
		return 0;
	char low[32];
	size_t i = 0;
	for (const char *p = name + 10; *p && i < sizeof(low) - 1; p++)
		low[i++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	low[i] = '\0';
	return seccomp_arch_resolve_name(low);
}

static bool dup_index(const struct rt_seccomp_rule *ru)
{
	for (size_t i = 0; i < ru->n_args; i++)
		for (size_t k = i + 1; k < ru->n_args; k++)
			if (ru->args[i].index == ru->args[k].index)
				return true;
	return false;
}

static struct scmp_arg_cmp to_cmp(const struct rt_seccomp_arg *a)
{
	struct scmp_arg_cmp c = {
	    .arg = a->index,
	    .op = (enum scmp_compare)rt_seccomp_op_value(a->op),
	    .datum_a = a->value,
	    .datum_b = a->value_two,
	};
	return c;
}

int rt_seccomp_compile(const struct rt_seccomp *sc, struct rt_seccomp_filter **ret,
		       ndl_error_t *err)
{
	uint32_t defact;
	if (rt_seccomp_action_value(sc->default_action, sc->has_default_errno,
				    sc->default_errno_ret, &defact) < 0)
		return ndl_error_setf(err, ENOTSUP,
				      "field \"linux.seccomp.defaultAction\": unsupported");
	scmp_filter_ctx ctx = seccomp_init(defact);
	if (!ctx)
		return ndl_error_setf(err, EINVAL, "seccomp_init failed");
	int r;
	/* noNewPrivileges is the spec's decision, not libseccomp's. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
		goto fail_r;
	if (sc->flags & RT_SECCOMP_FLAG_LOG)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (sc->flags & RT_SECCOMP_FLAG_SPEC_ALLOW)
		seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
	for (size_t i = 0; i < sc->n_architectures; i++) {
		uint32_t arch = rt_seccomp_arch_value(sc->architectures[i]);
		if (!arch) {
			seccomp_release(ctx);
			return ndl_error_setf(err, EINVAL,
					      "field \"linux.seccomp.architectures[%zu]\": unknown "
					      "architecture \"%s\"",
					      i, sc->architectures[i]);
		}
		r = seccomp_arch_add(ctx, arch);
		if (r < 0 && r != -EEXIST)
			goto fail_r;
	}
	for (size_t i = 0; i < sc->n_rules; i++) {
		const struct rt_seccomp_rule *ru = &sc->rules[i];
		uint32_t act;
		if (rt_seccomp_action_value(ru->action, ru->has_errno, ru->errno_ret, &act) < 0) {
			seccomp_release(ctx);
			return ndl_error_setf(
			    err, ENOTSUP,
			    "field \"linux.seccomp.syscalls[%zu].action\": unsupported", i);
		}
		if (act == defact)
			continue;
		for (size_t k = 0; k < ru->n_names; k++) {
			int nr = seccomp_syscall_resolve_name(ru->names[k]);
			if (nr == __NR_SCMP_ERROR)
				continue; /* not a syscall of this kernel/arch */
			if (ru->n_args == 0) {
				r = seccomp_rule_add(ctx, act, nr, 0);
			} else if (!dup_index(ru)) {
				struct scmp_arg_cmp cmps[6 * 8];
				for (size_t a = 0; a < ru->n_args; a++)
					cmps[a] = to_cmp(&ru->args[a]);
				r = seccomp_rule_add_array(ctx, act, nr, (unsigned)ru->n_args,
							   cmps);
			} else {
				r = 0;
				for (size_t a = 0; a < ru->n_args && r >= 0; a++) {
					struct scmp_arg_cmp c = to_cmp(&ru->args[a]);
					r = seccomp_rule_add_array(ctx, act, nr, 1, &c);
				}
			}
			if (r < 0) {
				seccomp_release(ctx);
				return ndl_error_set(
				    err, -r,
				    "field \"linux.seccomp.syscalls[%zu]\": add rule for %s", i,
				    ru->names[k]);
			}
		}
	}
	struct rt_seccomp_filter *f = xmalloc(sizeof(*f));
	f->ctx = ctx;
	*ret = f;
	return 0;
fail_r:
	seccomp_release(ctx);
	return ndl_error_set(err, -r, "seccomp setup");
}

int rt_seccomp_load(struct rt_seccomp_filter *f, ndl_error_t *err)
{
	int r = seccomp_load(f->ctx);
	if (r < 0)
		return ndl_error_set(err, -r, "load seccomp filter");
	return 0;
}

int rt_seccomp_export_bpf(struct rt_seccomp_filter *f, int fd)
{
	return seccomp_export_bpf(f->ctx, fd);
}

void rt_seccomp_filter_free(struct rt_seccomp_filter *f)
{
	if (!f)
		return;
	seccomp_release(f->ctx);
	free(f);
}
