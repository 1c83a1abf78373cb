/* bridge: the delegated IPAM. When the configuration's ipam.type is
 * "host-local" and CNI_PATH resolves it to our own host-local (recognised
 * by its ELF note, see host-local/note.c), the same host-local code runs in
 * this process: same lock, same lease files, same result and errors, one
 * process start less per ADD/DEL. Any other IPAM, or a host-local that is
 * not ours (the reference's, a wrapper script, another version of ours), is
 * exec'd as the CNI spec describes. */
#include <string.h>

#include "cni-plugins/bridge/bridge-internal.h"
#include "cni-plugins/host-local/hostlocal.h"
#include "lib/cleanup.h"
#include "lib/json.h"

bool bridge_ipam_in_process(const struct skel_ctx *ctx)
{
	if (!ctx->conf.ipam_type || strcmp(ctx->conf.ipam_type, "host-local") != 0)
		return false;
	cleanup_free char *path = NULL;
	ndl_error_t e = NDL_ERROR_INIT;
	if (cni_find_plugin(ctx->env.path, "host-local", &path, &e) < 0) {
		/* Not found: exec'ing reports it with the reference's message. */
		ndl_error_clear(&e);
		return false;
	}
	return hl_binary_is_ours(path);
}

struct take {
	enum cni_version version;
	struct cni_result *res;
};

/* The result as the bridge would read it back from host-local's stdout:
 * serialised in the configuration's version and parsed again, so older
 * versions lose exactly what they lose over exec, and a result the version
 * cannot express fails (and releases the leases) as host-local does. */
static int take_result(const struct cni_result *res, void *opaque, ndl_error_t *err)
{
	struct take *t = opaque;
	cleanup_json json_t *j = NULL;
	if (cni_result_to_json(res, t->version, &j, err) < 0)
		return -EINVAL;
	if (cni_result_from_json(j, CNI_VERSION_INVALID, "result", &t->res, err) < 0)
		return ndl_error_wrap(err, "plugin host-local");
	return 0;
}

static int ipam_add_in_process(struct skel_ctx *ctx, struct cni_result **ret, ndl_error_t *err)
{
	struct take t = {.version = ctx->conf.version};
	if (hl_cmd_add(ctx, take_result, &t, err) < 0) {
		cni_result_free(t.res);
		return -EINVAL;
	}
	*ret = t.res;
	return 0;
}

int bridge_ipam_add_start(struct skel_ctx *ctx, bool in_process, struct bridge_ipam_add *a,
			  ndl_error_t *err)
{
	*a = (struct bridge_ipam_add){.ctx = ctx, .in_process = in_process};
	if (!in_process && cni_ipam_exec_start(&ctx->env, &ctx->conf, CNI_CMD_ADD, &a->run, err) < 0)
		return -EINVAL;
	a->started = true;
	return 0;
}

int bridge_ipam_add_finish(struct bridge_ipam_add *a, struct cni_result **ret, ndl_error_t *err)
{
	if (!a->started)
		return ndl_error_setf(err, EINVAL, "IPAM was not started");
	a->started = false;
	if (!a->in_process)
		return cni_ipam_exec_finish(&a->run, ret, err);
	return ipam_add_in_process(a->ctx, ret, err);
}

int bridge_ipam(struct skel_ctx *ctx, enum cni_command cmd, bool in_process, ndl_error_t *err)
{
	if (!in_process)
		return cni_ipam_exec(&ctx->env, &ctx->conf, cmd, NULL, err);
	switch (cmd) {
	case CNI_CMD_DEL:
		return hl_cmd_del(ctx, err);
	case CNI_CMD_CHECK:
		return hl_cmd_check(ctx, err);
	case CNI_CMD_GC:
		return hl_cmd_gc(ctx, err);
	case CNI_CMD_STATUS:
		return hl_cmd_status(ctx, err);
	default:
		return ndl_error_setf(err, EINVAL, "IPAM command %s has no in-process form",
				      cni_command_str(cmd));
	}
}
