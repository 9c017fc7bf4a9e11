#ifndef MG_FORMATS_NUMPY_H
#define MG_FORMATS_NUMPY_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

/*
 * Bytes per element of a numpy type string ('<f4', '|O', '<U5', 'f8',
 * 'V16'...), 0 when unknown. *object is set to 1 for object types.
 */
uint64_t mg_numpy_type_size(const char *s, size_t n, int *object);

#endif
