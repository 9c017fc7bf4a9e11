#ifndef MG_PICKLE_POLICY_TABLES_H
#define MG_PICKLE_POLICY_TABLES_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>

#include "pickle/policy.h"

struct mg_pol_mod {
    const char *module;
    enum mg_severity sev;
    enum mg_cat cat;
};

struct mg_pol_name {
    const char *module;
    const char *name;
    enum mg_severity sev;
    enum mg_cat cat;
};

/* Sorted by bytes (module, then name): binary-searched. */
extern const struct mg_pol_mod mg_pol_modules[];
extern const size_t mg_pol_nmodules;
extern const struct mg_pol_name mg_pol_names[];
extern const size_t mg_pol_nnames;
extern const struct mg_pol_mod mg_pol_components[];
extern const size_t mg_pol_ncomponents;

#endif
