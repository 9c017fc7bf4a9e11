/*
 * alloc.h - the only allocation entry points of the library. Sizes above
 * MG_MAX_ALLOCATION are refused. Builds with MG_ALLOC_HOOKS can fail the
 * Nth allocation (torture tests, STYLE rule 17).
 */
#ifndef MG_CORE_ALLOC_H
#define MG_CORE_ALLOC_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>

#include "core/limits.h"

#define MG_WARN_UNUSED __attribute__((warn_unused_result))

MG_WARN_UNUSED void *mg_malloc(size_t n);
MG_WARN_UNUSED void *mg_calloc(size_t count, size_t size);
MG_WARN_UNUSED void *mg_realloc(void *p, size_t n);
/* realloc to count*size, with overflow check. */
MG_WARN_UNUSED void *mg_reallocarray(void *p, size_t count, size_t size);
void mg_free(void *p);
MG_WARN_UNUSED char *mg_strdup(const char *s);
MG_WARN_UNUSED char *mg_strndup(const char *s, size_t n);

#ifdef MG_ALLOC_HOOKS
/* Test hooks: fail the nth allocation from now (1-based), 0 disables.
   mg_alloc_count() returns allocations made since the last reset. */
void mg_alloc_fail_at(unsigned long n);
unsigned long mg_alloc_count(void);
#endif

#endif
