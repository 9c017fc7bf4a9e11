/*
 * policy.h - classification of imports (module, qualified name) into
 * safe / unknown / suspicious / dangerous. Allowlist first: only entries
 * of the safe table (or the user's) are safe; the dangerous and suspicious
 * tables give severity and a reason to what is not.
 */
#ifndef MG_PICKLE_POLICY_H
#define MG_PICKLE_POLICY_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

/* Why something has its severity. */
enum mg_cat {
    CAT_SAFE = 0,    /* in the allowlist */
    CAT_UNKNOWN,     /* not in any table */
    CAT_EXEC,        /* runs code */
    CAT_PROCESS,     /* starts processes, signals */
    CAT_FILE,        /* reads or writes files */
    CAT_NETWORK,     /* opens connections */
    CAT_DESER,       /* nested deserialisation */
    CAT_IMPORT,      /* import machinery: imports modules by name */
    CAT_PRIMITIVE,   /* attack primitive: attribute access, wrappers */
    CAT_INTERNALS,   /* reaches interpreter internals */
    CAT_OBFUSCATION, /* decodes or decompresses hidden data */
    CAT_DYNAMIC,     /* cannot be resolved statically */
    CAT_USER         /* set by the user's policy */
};

struct mg_class {
    enum mg_severity sev;
    enum mg_cat cat;
    int safe; /* allowlisted (sev is then MG_SEV_INFO) */
};

/* The built-in policy, shared by every scanner that names none. */
const struct mg_policy *mg_policy_builtin(void);

/* Classify a global; module and name are length-delimited (they may hold
   any bytes). */
struct mg_class mg_policy_class(const struct mg_policy *p,
                                const char *mod,
                                size_t modlen,
                                const char *name,
                                size_t namelen);

const char *mg_cat_text(enum mg_cat c);

/* A hash of the policy (built-in tables and user entries), for caches. */
uint64_t mg_policy_hash(const struct mg_policy *p);

#endif
