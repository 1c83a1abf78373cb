/* nodelet-shim entry point; everything lives in shim.c. */
#include "cri/shim/shim.h"

int main(int argc, char **argv)
{
	return shim_main(argc, argv);
}
