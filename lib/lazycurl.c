/* libcurl loaded on first use: see lazycurl.h for why. */
#include "lib/lazycurl.h"

/* We define functions named like curl's: curl.h's type-checking macros
 * (curl_easy_setopt/getinfo as macros under GCC) must not get in the way. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

/* The soname of Debian's libcurl4 (any TLS flavour: the API is the same). */
#define LAZYCURL_SONAME "libcurl.so.4"

static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	char *(*easy_escape)(CURL *, const char *, int);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[256];
/* curl_global_init's flags when it was called before the library was
 * loaded (-1: not called): applied right after the load. */
static _Atomic long pending_global_flags = -1;

static void load(void)
{
	/* RTLD_LOCAL: libcurl's symbols stay out of the global scope, so
	 * nothing loaded later binds to them instead of to these forwarders. */
	void *h = dlopen(LAZYCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(load_error, sizeof(load_error), "libcurl could not be loaded: %s",
			 dlerror());
		log_warn("libcurl not available", "err=\"%s\"", load_error);
		return;
	}
	struct {
		const char *name;
		void **slot;
	} syms[] = {
	    {"curl_global_init", (void **)&fn.global_init},
	    {"curl_easy_init", (void **)&fn.easy_init},
	    {"curl_easy_setopt", (void **)&fn.easy_setopt},
	    {"curl_easy_perform", (void **)&fn.easy_perform},
	    {"curl_easy_getinfo", (void **)&fn.easy_getinfo},
	    {"curl_easy_cleanup", (void **)&fn.easy_cleanup},
	    {"curl_easy_reset", (void **)&fn.easy_reset},
	    {"curl_easy_strerror", (void **)&fn.easy_strerror},
	    {"curl_easy_escape", (void **)&fn.easy_escape},
	    {"curl_free", (void **)&fn.free},
	    {"curl_slist_append", (void **)&fn.slist_append},
	    {"curl_slist_free_all", (void **)&fn.slist_free_all},
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		*syms[i].slot = dlsym(h, syms[i].name);
		if (!*syms[i].slot) {
			snprintf(load_error, sizeof(load_error),
				 "libcurl could not be loaded: %s: no symbol %s", LAZYCURL_SONAME,
				 syms[i].name);
			log_warn("libcurl not available", "err=\"%s\"", load_error);
			memset(&fn, 0, sizeof(fn));
			dlclose(h);
			return;
		}
	}
	/* A curl_global_init that came first runs now, before any other call
	 * reaches libcurl, as it would have in a program linked with -lcurl. */
	long gf = pending_global_flags;
	if (gf >= 0) {
		CURLcode rc = fn.global_init(gf);
		if (rc != CURLE_OK) {
			snprintf(load_error, sizeof(load_error),
				 "libcurl could not be loaded: curl_global_init: error %d", (int)rc);
			log_warn("libcurl not available", "err=\"%s\"", load_error);
			memset(&fn, 0, sizeof(fn));
			dlclose(h);
			return;
		}
	}
	/* Kept loaded for the life of the process: handles may live anywhere. */
	loaded = true;
}

static bool ensure(void)
{
	pthread_once(&load_once, load);
	return loaded;
}

bool ndl_lazycurl_loaded(void)
{
	return loaded;
}

/* Does not load libcurl: a program calls this at start (nodelet's pod
 * lifecycle does), and loading there would undo the point of this library
 * (curl_global_init alone pulls in OpenSSL's and GnuTLS's initialisation,
 * ~2 MB of pages). The flags are kept and applied when the first other
 * call loads libcurl. Once loaded, calls go straight through. */
CURLcode curl_global_init(long flags)
{
	if (loaded)
		return fn.global_init(flags);
	pending_global_flags = flags;
	return CURLE_OK;
}

CURL *curl_easy_init(void)
{
	return ensure() ? fn.easy_init() : NULL;
}

/* One argument follows the option; its type is given by the option's range
 * (curl.h's CURLOPTTYPE_*), and is passed on as that type. */
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	if (!ensure())
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, opt);
	CURLcode r;
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);
		r = fn.easy_setopt(h, opt, v);
	} else if (opt < CURLOPTTYPE_FUNCTIONPOINT) {
		void *v = va_arg(ap, void *);
		r = fn.easy_setopt(h, opt, v);
	} else if (opt < CURLOPTTYPE_OFF_T) {
		void (*v)(void) = va_arg(ap, void (*)(void));
		r = fn.easy_setopt(h, opt, v);
	} else if (opt < CURLOPTTYPE_BLOB) {
		curl_off_t v = va_arg(ap, curl_off_t);
		r = fn.easy_setopt(h, opt, v);
	} else {
		struct curl_blob *v = va_arg(ap, struct curl_blob *);
		r = fn.easy_setopt(h, opt, v);
	}
	va_end(ap);
	return r;
}

CURLcode curl_easy_perform(CURL *h)
{
	return ensure() ? fn.easy_perform(h) : CURLE_FAILED_INIT;
}

/* Every CURLINFO takes one pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	if (!ensure())
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, info);
	void *p = va_arg(ap, void *);
	va_end(ap);
	return fn.easy_getinfo(h, info, p);
}

void curl_easy_cleanup(CURL *h)
{
	if (ensure())
		fn.easy_cleanup(h);
}

void curl_easy_reset(CURL *h)
{
	if (ensure())
		fn.easy_reset(h);
}

const char *curl_easy_strerror(CURLcode code)
{
	if (ensure())
		return fn.easy_strerror(code);
	return code == CURLE_FAILED_INIT ? load_error : "libcurl could not be loaded";
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
	return ensure() ? fn.easy_escape(h, s, len) : NULL;
}

void curl_free(void *p)
{
	/* Only libcurl's own allocations come here, which cannot exist if it
	 * never loaded. */
	if (ensure())
		fn.free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	return ensure() ? fn.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
	if (ensure())
		fn.slist_free_all(l);
}
