/* host-local: recognise our own host-local binary by its ELF note (see
 * main.c), reading only the file's first page in the usual case: the
 * header, the program headers and the note segment sit at its start. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni-plugins/host-local/hostlocal.h"
#include "lib/cleanup.h"

#define HEAD_SIZE 4096
#define MAX_PHNUM 64
#define MAX_NOTES (64 * 1024)

/* len bytes at off: from the head when they are in it, else read. */
static const void *at(int fd, const uint8_t *head, size_t head_len, uint64_t off, size_t len,
		      void *spill)
{
	if (off <= head_len && len <= head_len - off)
		return head + off;
	ssize_t n;
	do
		n = pread(fd, spill, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? spill : NULL;
}

static bool notes_match(const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (len - off >= sizeof(ElfW(Nhdr))) {
		ElfW(Nhdr) h;
		memcpy(&h, p + off, sizeof(h));
		off += sizeof(h);
		size_t name = HL_NOTE_ALIGN4((size_t)h.n_namesz);
		size_t desc = HL_NOTE_ALIGN4((size_t)h.n_descsz);
		if (name > len - off || desc > len - off - name)
			return false;
		if (h.n_type == HL_NOTE_TYPE && h.n_namesz == sizeof(HL_NOTE_NAME) &&
		    memcmp(p + off, HL_NOTE_NAME, sizeof(HL_NOTE_NAME)) == 0)
			return h.n_descsz == sizeof(HL_NOTE_DESC) &&
			       memcmp(p + off + name, HL_NOTE_DESC, sizeof(HL_NOTE_DESC)) == 0;
		off += name + desc;
	}
	return false;
}

bool hl_binary_is_ours(const char *path)
{
	/* What execve would refuse (no x bit, noexec mount) stays with exec,
	 * so the caller sees the error it always saw. */
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return false;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	uint8_t head[HEAD_SIZE];
	ssize_t n;
	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)sizeof(ElfW(Ehdr)))
		return false;
	ElfW(Ehdr) eh;
	memcpy(&eh, head, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    eh.e_ident[EI_DATA] != (__BYTE_ORDER == __LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB) ||
	    eh.e_phentsize != sizeof(ElfW(Phdr)) || eh.e_phnum == 0 || eh.e_phnum > MAX_PHNUM)
		return false;
	ElfW(Phdr) ph_spill[MAX_PHNUM];
	const ElfW(Phdr) *ph = at(fd, head, (size_t)n, eh.e_phoff,
				  (size_t)eh.e_phnum * sizeof(ElfW(Phdr)), ph_spill);
	if (!ph)
		return false;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		ElfW(Phdr) p;
		memcpy(&p, &ph[i], sizeof(p));
		if (p.p_type != PT_NOTE || p.p_filesz == 0 || p.p_filesz > MAX_NOTES)
			continue;
		cleanup_free uint8_t *spill = NULL;
		const uint8_t *notes = NULL;
		if (p.p_offset <= (uint64_t)n && p.p_filesz <= (uint64_t)n - p.p_offset)
			notes = head + p.p_offset;
		else if ((spill = malloc(p.p_filesz)))
			notes = at(fd, head, 0, p.p_offset, p.p_filesz, spill);
		if (notes && notes_match(notes, p.p_filesz))
			return true;
	}
	return false;
}
