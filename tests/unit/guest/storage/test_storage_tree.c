/* storage_tree: removing a tree a container wrote (guest/storage/tree.c) on the host's file
 * system: everything below goes, symlinks are removed and never followed, nesting beyond the
 * limit is refused, hostile paths are refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest/storage/storage.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void dir(const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(mkdir(p, 0700), 0);
}

/* rel -> the absolute path root/target */
static void link_to(const char *target, const char *rel)
{
	char t[512], p[512];
	snprintf(t, sizeof(t), "%s/%s", root, target);
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(symlink(t, p), 0);
}

static bool exists(const char *rel)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/parma-tree-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	struct errbuf eb = { 0 };
	return storage_remove_tree(root, &eb);
}

static void storage_tree_removes_everything_and_follows_no_symlink(void **state)
{
	(void)state;
	struct errbuf eb = { 0 };
	char p[512];
	/* the victim: outside the tree, reachable through symlinks inside it */
	dir("victim");
	put("victim/keep", "precious");
	dir("c1");
	dir("c1/upper");
	dir("c1/upper/etc");
	put("c1/upper/etc/passwd", "x");
	dir("c1/work");
	for (int i = 0; i < 300; i++) { /* many entries in one directory */
		char name[64];
		snprintf(name, sizeof(name), "c1/upper/f%d", i);
		put(name, "y");
	}
	link_to("victim", "c1/upper/to-dir");
	link_to("victim/keep", "c1/upper/to-file");
	snprintf(p, sizeof(p), "%s/c1", root);
	assert_int_equal(storage_remove_tree(p, &eb), 0);
	assert_false(exists("c1"));
	assert_true(exists("victim/keep"));
	/* a missing tree is already removed */
	assert_int_equal(storage_remove_tree(p, &eb), 0);
	/* a symlink as the tree itself is removed as a name */
	link_to("victim", "link");
	snprintf(p, sizeof(p), "%s/link", root);
	assert_int_equal(storage_remove_tree(p, &eb), 0);
	assert_false(exists("link"));
	assert_true(exists("victim/keep"));
}

static void storage_tree_refuses_deep_nesting_and_bad_paths(void **state)
{
	(void)state;
	struct errbuf eb = { 0 };
	char rel[8192] = "deep";
	dir(rel);
	for (unsigned i = 0; i < STORAGE_TREE_DEPTH_MAX + 2; i++) {
		strcat(rel, "/d");
		dir(rel);
	}
	char p[512];
	snprintf(p, sizeof(p), "%s/deep", root);
	assert_int_equal(storage_remove_tree(p, &eb), -ELOOP);
	assert_non_null(strstr(eb.msg, "nested too deeply"));
	assert_true(exists("deep"));
	/* the part within the limit can be removed from below */
	rel[strlen("deep") + 2 * 10] = '\0';
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(storage_remove_tree(p, &eb), 0);
	assert_false(exists(rel));
	assert_int_equal(storage_remove_tree("relative/path", &eb), -EINVAL);
	assert_int_equal(storage_remove_tree("/tmp/../etc", &eb), -EINVAL);
	assert_int_equal(storage_remove_tree("/tmp/x/..", &eb), -EINVAL);
	assert_int_equal(storage_remove_tree("/tmp/", &eb), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(storage_tree_removes_everything_and_follows_no_symlink),
		cmocka_unit_test(storage_tree_refuses_deep_nesting_and_bad_paths),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
