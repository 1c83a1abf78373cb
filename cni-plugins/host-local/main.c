/* host-local: the IPAM plugin program. The commands live in the
 * cni_hostlocal library (commands.c); this adds the CNI dispatcher and the
 * ELF note by which our bridge recognises this binary in CNI_PATH and runs
 * the same code in its own process instead of exec'ing it (see note.c). */
#include "cni-plugins/host-local/hostlocal.h"

/* An ELF note (SHT_NOTE, so the linker puts it in a PT_NOTE segment that a
 * reader finds from the program headers at the start of the file). */
static const struct {
	uint32_t namesz, descsz, type;
	char name[HL_NOTE_NAME_SIZE];
	char desc[HL_NOTE_DESC_SIZE];
} hl_note __attribute__((used, aligned(4), section(".note.nodelet"))) = {
    .namesz = sizeof(HL_NOTE_NAME),
    .descsz = sizeof(HL_NOTE_DESC),
    .type = HL_NOTE_TYPE,
    .name = HL_NOTE_NAME,
    .desc = HL_NOTE_DESC,
};

static int print_add_result(const struct cni_result *res, void *opaque, ndl_error_t *err)
{
	const struct skel_ctx *ctx = opaque;
	return cni_print_result(res, ctx->conf.version, err);
}

static int cmd_add(struct skel_ctx *ctx, ndl_error_t *err)
{
	return hl_cmd_add(ctx, print_add_result, ctx, err);
}

int main(void)
{
	static const struct skel_plugin plugin = {
	    .about = "host-local IPAM plugin (nodelet)",
	    .versions = cni_all_versions,
	    .add = cmd_add,
	    .check = hl_cmd_check,
	    .del = hl_cmd_del,
	    .gc = hl_cmd_gc,
	    .status = hl_cmd_status,
	};
	return skel_main(&plugin);
}
