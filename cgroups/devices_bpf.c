/* cgroup v2 device confinement: OCI device rules compiled into a
 * BPF_PROG_TYPE_CGROUP_DEVICE program and attached to the cgroup, as runc
 * does (v2 has no devices.allow/deny files). The last rule that matches a
 * request decides; no match means deny. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>

#include <linux/bpf.h>

#include "cgroups/cgroups-internal.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* Registers: r1 ctx (then scratch), r2 type, r3 access, r4 major, r5 minor. */
static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	return (struct bpf_insn){
	    .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

static uint32_t rule_access(const struct cgroup_device_rule *r)
{
	const char *a = r->access[0] ? r->access : "rwm";
	uint32_t acc = 0;
	for (; *a; a++)
		acc |= *a == 'r'   ? BPF_DEVCG_ACC_READ
		       : *a == 'w' ? BPF_DEVCG_ACC_WRITE
				   : BPF_DEVCG_ACC_MKNOD;
	return acc;
}

int cg_devices_bpf_prog(const struct cgroup_device_rule *rules, size_t n, struct bpf_insn **ret,
			size_t *ret_n)
{
	const uint32_t all = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
	struct bpf_insn *p = xcalloc(6 + n * 8 + 2, sizeof(*p));
	size_t k = 0;
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0);
	p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xFFFF);
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0);
	p[k++] = insn(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16);
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0);
	p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0);
	/* Walk from the last rule back: the first match is the last rule
	 * that applies. */
	for (size_t i = n; i-- > 0;) {
		const struct cgroup_device_rule *r = &rules[i];
		uint32_t acc = rule_access(r);
		size_t checks = (r->type != 'a' ? 1 : 0) + (acc != all ? 3 : 0) +
				(r->major >= 0 ? 1 : 0) + (r->minor >= 0 ? 1 : 0);
		/* Each conditional jump skips the rest of the block: the
		 * remaining checks plus the two-instruction verdict. */
		size_t end = k + checks + 2;
#define SKIP() ((int16_t)(end - (k + 1)))
		if (r->type != 'a') {
			int32_t t = r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
			p[k] = insn(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0, t);
			p[k].off = SKIP();
			k++;
		}
		if (acc != all) {
			p[k++] = insn(BPF_ALU | BPF_MOV | BPF_X, 1, 3, 0, 0);
			p[k++] = insn(BPF_ALU | BPF_AND | BPF_K, 1, 0, 0, (int32_t)acc);
			p[k] = insn(BPF_JMP | BPF_JNE | BPF_X, 1, 3, 0, 0);
			p[k].off = SKIP();
			k++;
		}
		if (r->major >= 0) {
			p[k] = insn(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)r->major);
			p[k].off = SKIP();
			k++;
		}
		if (r->minor >= 0) {
			p[k] = insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)r->minor);
			p[k].off = SKIP();
			k++;
		}
#undef SKIP
		p[k++] = insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, r->allow ? 1 : 0);
		p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
		/* A rule without conditions always decides: anything after it
		 * would be unreachable, which the verifier rejects. */
		if (checks == 0) {
			*ret = p;
			*ret_n = k;
			return 0;
		}
	}
	p[k++] = insn(BPF_ALU | BPF_MOV | BPF_K, 0, 0, 0, 0);
	p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	*ret = p;
	*ret_n = k;
	return 0;
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

int cg_devices_bpf_apply(const char *dir, const struct cgroup_device_rule *rules, size_t n,
			 ndl_error_t *err)
{
	for (size_t i = 0; i < n; i++)
		if (rules[i].major > INT32_MAX || rules[i].minor > INT32_MAX)
			return ndl_error_setf(err, EINVAL,
					      "device rule %zu: major/minor out of range", i);
	cleanup_free struct bpf_insn *prog = NULL;
	size_t count = 0;
	cg_devices_bpf_prog(rules, n, &prog, &count);
	char log[4096] = "";
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)prog;
	attr.insn_cnt = (uint32_t)count;
	attr.license = (uint64_t)(uintptr_t) "Apache";
	attr.log_buf = (uint64_t)(uintptr_t)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	cleanup_close int pfd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (pfd < 0)
		return ndl_error_set(err, errno, "load device filter (%zu rules)%s%.200s", n,
				     log[0] ? ": " : "", log);
	cleanup_close int cfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0)
		return ndl_error_set(err, errno, "open %s", dir);

	/* Programs already attached (an update): replaced after the new one
	 * is in, so the cgroup is never without a filter. */
	uint32_t old_ids[64];
	uint32_t n_old = 0;
	memset(&attr, 0, sizeof(attr));
	attr.query.target_fd = (uint32_t)cfd;
	attr.query.attach_type = BPF_CGROUP_DEVICE;
	attr.query.prog_ids = (uint64_t)(uintptr_t)old_ids;
	attr.query.prog_cnt = 64;
	if (sys_bpf(BPF_PROG_QUERY, &attr) == 0)
		n_old = attr.query.prog_cnt < 64 ? attr.query.prog_cnt : 64;

	memset(&attr, 0, sizeof(attr));
	attr.target_fd = (uint32_t)cfd;
	attr.attach_bpf_fd = (uint32_t)pfd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	attr.attach_flags = BPF_F_ALLOW_MULTI;
	if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
		return ndl_error_set(err, errno, "attach device filter to %s", dir);
	for (uint32_t i = 0; i < n_old; i++) {
		memset(&attr, 0, sizeof(attr));
		attr.prog_id = old_ids[i];
		cleanup_close int ofd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
		if (ofd < 0) {
			log_debug(2, "device filter: old program gone", "id=%u errno=%d",
				  old_ids[i], errno);
			continue;
		}
		memset(&attr, 0, sizeof(attr));
		attr.target_fd = (uint32_t)cfd;
		attr.attach_bpf_fd = (uint32_t)ofd;
		attr.attach_type = BPF_CGROUP_DEVICE;
		if (sys_bpf(BPF_PROG_DETACH, &attr) < 0)
			return ndl_error_set(err, errno, "detach old device filter %u from %s",
					     old_ids[i], dir);
	}
	return 0;
}
