/* parma-mkcpio: write a deterministic newc cpio archive (the initramfs format) from a spec.
 *
 * The spec has one entry per line, in the style of the kernel's usr/gen_init_cpio:
 *     dir   NAME MODE
 *     file  NAME SOURCE MODE
 *     nod   NAME MODE c|b MAJOR MINOR
 *     slink NAME TARGET MODE
 * NAME is an absolute path in the archive; MODE is octal permission bits. Blank lines and lines
 * starting with '#' are ignored.
 *
 * Everything that is not content is fixed: entries sorted by name (bytewise), owner 0:0, mtime
 * from --mtime (default 0), inode numbers 1, 2, 3… in output order, one link each. So the same
 * spec and the same source bytes give the same archive, whoever builds it, without root (device
 * nodes are described, not created) and without depending on the builder's cpio version.
 *
 * Usage: parma-mkcpio [--mtime SECONDS] SPEC OUTPUT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/errbuf.h"
#include "common/fileio.h"

#define MAX_ENTRIES 65536
#define MAX_FILE_SIZE (512u << 20)

struct entry {
	char *name;       /* without the leading '/' */
	char *source;     /* file: source path; slink: target */
	uint32_t mode;    /* full st_mode */
	uint32_t rmajor, rminor;
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static int parse_mode(const char *s, uint32_t *mode)
{
	char *end;
	errno = 0;
	unsigned long m = strtoul(s, &end, 8);
	if (errno || *end || end == s || m > 07777)
		return -EINVAL;
	*mode = (uint32_t)m;
	return 0;
}

static int parse_u32(const char *s, uint32_t *v)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(s, &end, 10);
	if (errno || *end || end == s || x > 0xffffffffu)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

/* One spec line into e; fields are split on blanks (names never contain blanks). */
static int parse_line(char *line, struct entry *e, struct errbuf *eb)
{
	char *f[7];
	int n = 0;
	for (char *tok = strtok(line, " \t"); tok && n < 7; tok = strtok(NULL, " \t"))
		f[n++] = tok;
	if (n < 3)
		return errbuf_set(eb, EINVAL, "too few fields");
	if (f[1][0] != '/' || f[1][1] == 0)
		return errbuf_set(eb, EINVAL, "name '%s' is not an absolute path", f[1]);
	memset(e, 0, sizeof(*e));
	uint32_t perm;
	const char *mode_field;
	if (!strcmp(f[0], "dir") && n == 3) {
		mode_field = f[2];
		e->mode = S_IFDIR;
	} else if (!strcmp(f[0], "file") && n == 4) {
		mode_field = f[3];
		e->mode = S_IFREG;
		e->source = f[2];
	} else if (!strcmp(f[0], "slink") && n == 4) {
		mode_field = f[3];
		e->mode = S_IFLNK;
		e->source = f[2];
	} else if (!strcmp(f[0], "nod") && n == 6) {
		mode_field = f[2];
		if (strcmp(f[3], "c") && strcmp(f[3], "b"))
			return errbuf_set(eb, EINVAL, "device type must be c or b");
		e->mode = f[3][0] == 'c' ? S_IFCHR : S_IFBLK;
		if (parse_u32(f[4], &e->rmajor) < 0 || parse_u32(f[5], &e->rminor) < 0)
			return errbuf_set(eb, EINVAL, "bad device numbers");
	} else {
		return errbuf_set(eb, EINVAL, "unknown entry '%s' or wrong field count", f[0]);
	}
	if (parse_mode(mode_field, &perm) < 0)
		return errbuf_set(eb, EINVAL, "bad octal mode '%s'", mode_field);
	e->mode |= perm;
	const char *source = e->source;
	e->name = strdup(f[1] + 1);
	e->source = source ? strdup(source) : NULL;
	if (!e->name || (source && !e->source)) {
		free(e->name);
		free(e->source);
		e->name = e->source = NULL;
		return errbuf_set(eb, ENOMEM, "out of memory");
	}
	return 0;
}

struct writer {
	FILE *out;
	uint64_t offset;
	uint32_t ino;
	uint32_t mtime;
};

static int put(struct writer *w, const void *data, size_t len)
{
	if (len && fwrite(data, 1, len, w->out) != len)
		return -EIO;
	w->offset += len;
	return 0;
}

static int pad4(struct writer *w)
{
	static const char zeros[4];
	return put(w, zeros, (4 - w->offset % 4) % 4);
}

/* newc header: "070701" then 13 fields of 8 hex digits, the name with its NUL, padding to 4. */
static int put_header(struct writer *w, const char *name, uint32_t mode, uint32_t nlink,
		      uint32_t size, uint32_t rmajor, uint32_t rminor)
{
	char hdr[111];
	size_t namesize = strlen(name) + 1;
	snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 w->ino++, mode, 0u, 0u, nlink, w->mtime, size, 0u, 0u, rmajor, rminor,
		 (unsigned)namesize, 0u);
	if (put(w, hdr, 110) < 0 || put(w, name, namesize) < 0 || pad4(w) < 0)
		return -EIO;
	return 0;
}

static int put_entry(struct writer *w, const struct entry *e, struct errbuf *eb)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	switch (e->mode & S_IFMT) {
	case S_IFREG:
		if ((rc = file_read_all(e->source, MAX_FILE_SIZE, &data, &len, eb)) < 0)
			return rc;
		break;
	case S_IFLNK:
		data = (uint8_t *)strdup(e->source);
		if (!data)
			return errbuf_set(eb, ENOMEM, "out of memory");
		len = strlen(e->source);
		break;
	default:
		break;
	}
	uint32_t nlink = S_ISDIR(e->mode) ? 2 : 1;
	rc = put_header(w, e->name, e->mode, nlink, (uint32_t)len, e->rmajor, e->rminor);
	if (rc == 0)
		rc = put(w, data, len);
	if (rc == 0)
		rc = pad4(w);
	free(data);
	if (rc < 0)
		return errbuf_set(eb, EIO, "write failed");
	return 0;
}

static int run(const char *spec_path, const char *out_path, uint32_t mtime, struct errbuf *eb)
{
	struct entry *entries = calloc(MAX_ENTRIES, sizeof(*entries));
	size_t n = 0;
	char line[4096];
	int rc = 0;
	FILE *spec = NULL, *out = NULL;

	if (!entries)
		return errbuf_set(eb, ENOMEM, "out of memory");
	if (!(spec = fopen(spec_path, "r"))) {
		rc = errbuf_set(eb, errno, "%s: %s", spec_path, strerror(errno));
		goto done;
	}
	for (unsigned lineno = 1; fgets(line, sizeof(line), spec); lineno++) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (n == MAX_ENTRIES) {
			rc = errbuf_set(eb, E2BIG, "%s: more than %d entries", spec_path, MAX_ENTRIES);
			goto done;
		}
		if ((rc = parse_line(line, &entries[n], eb)) < 0) {
			errbuf_prefix(eb, "%s:%u", spec_path, lineno);
			goto done;
		}
		n++;
	}
	qsort(entries, n, sizeof(*entries), entry_cmp);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(entries[i - 1].name, entries[i].name)) {
			rc = errbuf_set(eb, EINVAL, "%s: /%s listed twice", spec_path, entries[i].name);
			goto done;
		}

	if (!(out = fopen(out_path, "wb"))) {
		rc = errbuf_set(eb, errno, "%s: %s", out_path, strerror(errno));
		goto done;
	}
	struct writer w = { .out = out, .offset = 0, .ino = 1, .mtime = mtime };
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = put_entry(&w, &entries[i], eb);
		if (rc < 0)
			errbuf_prefix(eb, "/%s", entries[i].name);
	}
	if (rc == 0) {
		w.ino = 0;
		if (put_header(&w, "TRAILER!!!", 0, 1, 0, 0, 0) < 0)
			rc = errbuf_set(eb, EIO, "%s: write failed", out_path);
	}
	if (fclose(out) != 0 && rc == 0)
		rc = errbuf_set(eb, EIO, "%s: write failed", out_path);
	if (rc < 0)
		unlink(out_path);
done:
	if (spec)
		fclose(spec);
	for (size_t i = 0; i < n; i++) {
		free(entries[i].name);
		free(entries[i].source);
	}
	free(entries);
	return rc;
}

static int opt_mtime(const char *prog, char *value, void *dest)
{
	if (parse_u32(value, dest) < 0)
		return cli_usage_error(prog, "--mtime: not a number of seconds");
	return CLI_OK;
}

int main(int argc, char **argv)
{
	const char *prog = "parma-mkcpio";
	uint32_t mtime = 0;
	const struct cli_opt opts[] = {
		CLI_FUNC("mtime", 0, opt_mtime, &mtime),
	};
	const struct cli_spec spec = {
		.usage = "Usage: %s [--mtime SECONDS] SPEC OUTPUT\n"
			 "Write a deterministic newc cpio archive from a gen_init_cpio-style spec.\n",
		.opts = opts, .n_opts = CLI_ARRAY_SIZE(opts),
		.min_operands = 2, .max_operands = 2,
		.operands_error = "expected SPEC and OUTPUT",
	};
	int code, first = cli_start(prog, &spec, argc, argv, &code);
	if (first < 0)
		return code;
	struct errbuf eb = { 0 };
	if (run(argv[first], argv[first + 1], mtime, &eb) < 0)
		return cli_error(prog, CLI_BAD_INPUT, "%s", errbuf_msg(&eb));
	return CLI_OK;
}
