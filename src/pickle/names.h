#ifndef MG_PICKLE_NAMES_H
#define MG_PICKLE_NAMES_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>

/*
 * The Python 2 name mapping CPython applies in find_class() when the
 * stream's protocol is below 3. Returns 0 when nothing maps, 1 when only
 * the module maps (*omod set, *oname NULL), 2 when the pair maps (both
 * set). Outputs are static strings.
 */
int mg_compat_map(const char *mod,
                  size_t modlen,
                  const char *name,
                  size_t namelen,
                  const char **omod,
                  const char **oname);

#endif
