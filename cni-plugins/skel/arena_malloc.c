/* malloc for the statically linked (musl) CNI plugins.
 *
 * A plugin process lives a few milliseconds and allocates a few hundred KB
 * in total (config and result trees, lease names). musl's mallocng hands
 * memory back to the kernel eagerly: about 45 mmap/munmap calls per bridge
 * ADD, each with page faults and a TLB flush, which cost more than musl's
 * faster start saves. This allocator takes memory from the kernel in
 * 256 KiB mappings, keeps freed blocks on per-size-class free lists
 * (powers of two from 32 bytes to 64 KiB, so a loop that allocates and
 * frees reuses the same blocks and peak RSS stays bounded), and gives
 * larger blocks a mapping of their own, returned on free. musl lets a
 * static program replace malloc, calloc, realloc, free, aligned_alloc and
 * malloc_usable_size; its own code (stdio, opendir) then uses these.
 *
 * Thread safety: one spinlock. The plugins are single-threaded; a fork()ed
 * child only exits. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define HDR 16u
#define MIN_SHIFT 5u  /* 32-byte blocks, header included */
#define MAX_SHIFT 16u /* 64 KiB: the netlink receive buffers are 32 KiB */
#define NCLASS (MAX_SHIFT - MIN_SHIFT + 1u)
#define CHUNK (256u * 1024u)
#define TAG_MAPPED 0x80000000u

struct hdr {
	size_t usable;	 /* bytes the caller may use */
	uint32_t tag;	 /* class index, or TAG_MAPPED | offset of hdr in its mapping */
	uint32_t unused;
};
_Static_assert(sizeof(struct hdr) == HDR, "header keeps 16-byte alignment");

struct free_block {
	struct free_block *next;
};

static struct free_block *free_lists[NCLASS];
static char *chunk_cur, *chunk_end;
static atomic_flag lock = ATOMIC_FLAG_INIT;

static void lock_take(void)
{
	while (atomic_flag_test_and_set_explicit(&lock, memory_order_acquire))
		;
}

static void lock_drop(void)
{
	atomic_flag_clear_explicit(&lock, memory_order_release);
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* A block of its own mapping, with the user pointer aligned to `align`. */
static void *alloc_mapped(size_t n, size_t align)
{
	if (align < HDR)
		align = HDR;
	if (n > SIZE_MAX / 2 || align > (1u << 30)) {
		errno = ENOMEM;
		return NULL;
	}
	size_t len = (n + HDR + align + 4095u) & ~(size_t)4095u;
	char *base = map(len);
	if (!base) {
		errno = ENOMEM;
		return NULL;
	}
	uintptr_t user = ((uintptr_t)base + HDR + align - 1u) & ~(uintptr_t)(align - 1u);
	struct hdr *h = (struct hdr *)(user - HDR);
	h->usable = len - (user - (uintptr_t)base);
	h->tag = TAG_MAPPED | (uint32_t)((char *)h - base);
	return (void *)user;
}

static unsigned class_of(size_t total)
{
	unsigned c = 0;
	while (((size_t)1 << (MIN_SHIFT + c)) < total)
		c++;
	return c;
}

/* Not called malloc: GCC turns malloc+memset in calloc into a call to
 * calloc, which would recurse. */
static void *arena_alloc(size_t n)
{
	if (n > ((size_t)1 << MAX_SHIFT) - HDR)
		return alloc_mapped(n, HDR);
	unsigned c = class_of(n + HDR);
	size_t bsize = (size_t)1 << (MIN_SHIFT + c);
	lock_take();
	struct hdr *h;
	struct free_block *fb = free_lists[c];
	if (fb) {
		free_lists[c] = fb->next;
		h = (struct hdr *)fb;
	} else {
		if ((size_t)(chunk_end - chunk_cur) < bsize) {
			char *p = map(CHUNK);
			if (!p) {
				lock_drop();
				errno = ENOMEM;
				return NULL;
			}
			/* The tail of the old chunk is left unused (< 64 KiB). */
			chunk_cur = p;
			chunk_end = p + CHUNK;
		}
		h = (struct hdr *)chunk_cur;
		chunk_cur += bsize;
	}
	lock_drop();
	h->usable = bsize - HDR;
	h->tag = c;
	return (char *)h + HDR;
}

void *malloc(size_t n)
{
	return arena_alloc(n);
}

void free(void *p)
{
	if (!p)
		return;
	struct hdr *h = (struct hdr *)((char *)p - HDR);
	if (h->tag & TAG_MAPPED) {
		char *base = (char *)h - (h->tag & ~TAG_MAPPED);
		size_t len = (size_t)((char *)p + h->usable - base);
		munmap(base, len);
		return;
	}
	unsigned c = h->tag;
	struct free_block *fb = (struct free_block *)h;
	lock_take();
	fb->next = free_lists[c];
	free_lists[c] = fb;
	lock_drop();
}

void *calloc(size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	size_t n = nmemb * size;
	void *p = arena_alloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

size_t malloc_usable_size(void *p)
{
	return p ? ((struct hdr *)((char *)p - HDR))->usable : 0;
}

void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	size_t have = malloc_usable_size(p);
	if (n <= have && n >= have / 2)
		return p;
	void *q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, have < n ? have : n);
	free(p);
	return q;
}

void *aligned_alloc(size_t align, size_t n)
{
	if (align == 0 || (align & (align - 1u))) {
		errno = EINVAL;
		return NULL;
	}
	if (align <= HDR)
		return malloc(n);
	return alloc_mapped(n, align);
}

int posix_memalign(void **res, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1u)))
		return EINVAL;
	void *p = aligned_alloc(align, n);
	if (!p)
		return ENOMEM;
	*res = p;
	return 0;
}

void *memalign(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}
