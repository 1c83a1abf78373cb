/* __attribute__((cleanup)) helpers and explicit ownership transfer. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void ndl_freep(void *p)
{
	free(*(void **)p);
}
static inline void ndl_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void ndl_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void ndl_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define cleanup_free    __attribute__((cleanup(ndl_freep)))
#define cleanup_close   __attribute__((cleanup(ndl_closep)))
#define cleanup_fclose  __attribute__((cleanup(ndl_fclosep)))
#define cleanup_closedir __attribute__((cleanup(ndl_closedirp)))

/* jansson: only when the includer uses it. */
#ifdef JANSSON_H
static inline void ndl_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(ndl_json_decrefp)))
#endif

/* Take ownership: returns the value and clears the source. */
#define steal_ptr(pp)                                                                              \
	({                                                                                         \
		__typeof__(*(pp)) _tmp = *(pp);                                                    \
		*(pp) = NULL;                                                                      \
		_tmp;                                                                              \
	})
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}
