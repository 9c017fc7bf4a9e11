#ifndef MG_CORE_REPORT_H
#define MG_CORE_REPORT_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include "core/ctx.h"
#include "modelgate/modelgate.h"

struct mg_report *mg_report_new(const char *path, uint64_t max_findings);
/* Add (copying every string), merging duplicates. MG_E_NOMEM only. */
enum mg_status mg_report_add(struct mg_report *r,
                             const char *layer,
                             const struct mg_finding_in *f);
void mg_report_set_incomplete(struct mg_report *r);
void mg_report_set_format(struct mg_report *r, const char *format);
void mg_report_replace_format(struct mg_report *r, const char *format);
void mg_report_set_sizes(struct mg_report *r,
                         uint64_t file_size,
                         uint64_t bytes_read);
/* Called once when the scan is over: notes dropped findings. */
enum mg_status mg_report_finish(struct mg_report *r);

#endif
