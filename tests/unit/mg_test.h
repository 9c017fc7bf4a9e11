/*
 * mg_test.h - helpers shared by the unit tests (header-only: each test
 * file is its own executable).
 */
#ifndef MG_TEST_H
#define MG_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modelgate/modelgate.h"

/* Read a fixture (relative to tests/fixtures) into a malloc'd buffer. */
static inline unsigned char *
mgt_fixture(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", MG_FIXTURES, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *len = 0;
        fail_msg("cannot open fixture %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Scan a buffer with options (NULL: defaults) and info findings on. */
static inline struct mg_report *
mgt_scan_opts(const void *buf, size_t len, const struct mg_options *opt)
{
    struct mg_options o;
    if (opt != NULL)
        o = *opt;
    else
        mg_options_init(&o);
    o.report_info = 1;
    struct mg_scanner *s = NULL;
    assert_int_equal(mg_scanner_new(&o, &s), MG_OK);
    struct mg_report *r = NULL;
    assert_int_equal(mg_scan_buffer(s, buf, len, "buf", &r), MG_OK);
    assert_non_null(r);
    mg_scanner_free(s);
    return r;
}

static inline struct mg_report *
mgt_scan(const void *buf, size_t len)
{
    return mgt_scan_opts(buf, len, NULL);
}

static inline struct mg_report *
mgt_scan_fixture(const char *rel)
{
    size_t len = 0;
    unsigned char *b = mgt_fixture(rel, &len);
    struct mg_report *r = mgt_scan(b, len);
    free(b);
    return r;
}

/* First finding matching rule (and module/name when not NULL). */
static inline const struct mg_finding *
mgt_find(const struct mg_report *r,
         const char *rule,
         const char *module,
         const char *name)
{
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (strcmp(f->rule, rule) != 0)
            continue;
        if (module && (!f->module || strcmp(f->module, module) != 0))
            continue;
        if (name && (!f->name || strcmp(f->name, name) != 0))
            continue;
        return f;
    }
    return NULL;
}

static inline void
mgt_dump(const struct mg_report *r)
{
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        print_message("  %s %s %s [%llu]\n", mg_severity_name(f->severity),
                      f->rule, f->message, (unsigned long long)f->offset);
    }
}

#define assert_finding(r, rule, mod, name)                               \
    do {                                                                 \
        if (mgt_find((r), (rule), (mod), (name)) == NULL) {              \
            mgt_dump(r);                                                 \
            fail_msg("no finding %s %s.%s", (rule), (mod) ? (mod) : "*", \
                     (name) ? (name) : "*");                             \
        }                                                                \
    } while (0)

#define assert_verdict(r, v)                                \
    do {                                                    \
        if (mg_report_verdict(r) != (v)) {                  \
            mgt_dump(r);                                    \
            fail_msg("verdict %s, expected %s",             \
                     mg_verdict_name(mg_report_verdict(r)), \
                     mg_verdict_name(v));                   \
        }                                                   \
    } while (0)

#endif
