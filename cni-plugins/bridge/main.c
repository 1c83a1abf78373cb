/* bridge CNI plugin entry point: the skel dispatcher with our commands. */
#include "cni-plugins/bridge/bridge.h"

int main(void)
{
	static const struct skel_plugin plugin = {
	    .about = "CNI bridge plugin (nodelet)",
	    .versions = cni_all_versions,
	    .add = bridge_cmd_add,
	    .check = bridge_cmd_check,
	    .del = bridge_cmd_del,
	    .gc = bridge_cmd_gc,
	    .status = bridge_cmd_status,
	};
	return skel_main(&plugin);
}
