#ifndef MG_CORE_SCANNER_H
#define MG_CORE_SCANNER_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include "modelgate/modelgate.h"

struct mg_scanner {
    struct mg_options opt;
    const struct mg_policy *policy;
    char errmsg[256];
};

__attribute__((format(printf, 3, 4))) enum mg_status
mg_set_error(struct mg_scanner *s, enum mg_status st, const char *fmt, ...);

/* Scan an input the caller opened (modelgate convert scans and then reads
   the same open file). As mg_scan_file, without opening anything. */
struct mg_input;
enum mg_status mg_scan_opened(struct mg_scanner *s,
                              struct mg_input *in,
                              const char *path,
                              struct mg_report **out);

#endif
