/* arena: one policy's allocations in a few large blocks, freed at once, so
 * that the parser's many error paths need no per-field cleanup. */
#include <stdlib.h>
#include <string.h>

#include "policy/lang/policy_internal.h"

#define ARENA_BLOCK 65536

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

void *policy_arena_alloc(struct arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	struct arena_block *b = a->head;
	if (!b || b->size - b->used < size) {
		size_t bsize = size > ARENA_BLOCK / 4 ? size : ARENA_BLOCK;
		b = malloc(sizeof(*b) + bsize);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = bsize;
		if (a->head && size > ARENA_BLOCK / 4) {
			/* keep filling the current block; park the big one behind it */
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
		a->total += bsize;
	}
	void *p = b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *policy_arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = policy_arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void policy_arena_free(struct arena *a)
{
	struct arena_block *b = a->head;
	while (b) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->total = 0;
}
