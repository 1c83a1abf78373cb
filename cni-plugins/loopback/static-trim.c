/* Link-size trimming for the static loopback binary. libnl's utility code
 * (nl_addr_info, nl_str2ip_proto, nl_ip_proto2str) references glibc's name
 * service functions; in a static link they drag in the NSS/DNS resolver and
 * the dynamic loader, about 60 KB of text that the kernel maps into every
 * invocation. The plugin never resolves names or protocol numbers (those
 * libnl helpers are unreachable from it), so these definitions, which fail
 * the way glibc does when no service answers, take their place. Linked only
 * into the static (non-sanitizer) build; see module.mk. */
#include <netdb.h>
#include <stddef.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	return EAI_FAIL;
}

void freeaddrinfo(struct addrinfo *res)
{
}

const char *gai_strerror(int errcode)
{
	return "name resolution is not available in this program";
}

struct protoent *getprotobyname(const char *name)
{
	return NULL;
}

struct protoent *getprotobynumber(int proto)
{
	return NULL;
}
