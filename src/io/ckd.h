/*
 * ckd.h - checked integer arithmetic. Every size or offset that comes from
 * the input and is used in an allocation, a seek or a sum goes through
 * these. gcc 12 has no <stdckdint.h>, so they wrap the builtins.
 */
#ifndef MG_IO_CKD_H
#define MG_IO_CKD_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each returns true on overflow (like ckd_add), leaving *r unspecified. */
static inline bool
ckd_add_size(size_t *r, size_t a, size_t b)
{
    return __builtin_add_overflow(a, b, r);
}

static inline bool
ckd_mul_size(size_t *r, size_t a, size_t b)
{
    return __builtin_mul_overflow(a, b, r);
}

static inline bool
ckd_add_u64(uint64_t *r, uint64_t a, uint64_t b)
{
    return __builtin_add_overflow(a, b, r);
}

static inline bool
ckd_mul_u64(uint64_t *r, uint64_t a, uint64_t b)
{
    return __builtin_mul_overflow(a, b, r);
}

/* u64 to size_t, false when it does not fit. */
static inline bool
ckd_u64_to_size(size_t *r, uint64_t v)
{
    if (v > (uint64_t)SIZE_MAX)
        return true;
    *r = (size_t)v;
    return false;
}

#endif
