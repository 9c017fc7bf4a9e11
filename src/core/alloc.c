#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "io/ckd.h"

#ifdef MG_ALLOC_HOOKS
/* The one mutable global of the library, present only in test builds. */
static unsigned long alloc_fail_at_n;
static unsigned long alloc_count_n;

void
mg_alloc_fail_at(unsigned long n)
{
    alloc_fail_at_n = n;
    alloc_count_n = 0;
}

unsigned long
mg_alloc_count(void)
{
    return alloc_count_n;
}

static int
alloc_should_fail(void)
{
    alloc_count_n++;
    return alloc_fail_at_n != 0 && alloc_count_n == alloc_fail_at_n;
}
#else
static int
alloc_should_fail(void)
{
    return 0;
}
#endif

void *
mg_malloc(size_t n)
{
    if (n > MG_MAX_ALLOCATION || alloc_should_fail())
        return NULL;
    return malloc(n == 0 ? 1 : n);
}

void *
mg_calloc(size_t count, size_t size)
{
    size_t n;
    if (ckd_mul_size(&n, count, size) || n > MG_MAX_ALLOCATION ||
        alloc_should_fail())
        return NULL;
    return calloc(n == 0 ? 1 : n, 1);
}

void *
mg_realloc(void *p, size_t n)
{
    if (n > MG_MAX_ALLOCATION || alloc_should_fail())
        return NULL;
    return realloc(p, n == 0 ? 1 : n);
}

void *
mg_reallocarray(void *p, size_t count, size_t size)
{
    size_t n;
    if (ckd_mul_size(&n, count, size))
        return NULL;
    return mg_realloc(p, n);
}

void
mg_free(void *p)
{
    free(p);
}

char *
mg_strndup(const char *s, size_t n)
{
    char *d = mg_malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *
mg_strdup(const char *s)
{
    return mg_strndup(s, strlen(s));
}
