#include "out.h"

#include <inttypes.h>
#include <string.h>

#include "cli.h"

void
out_init(struct out *o,
         const char *format,
         FILE *f,
         int verbose,
         int color,
         int summary)
{
    memset(o, 0, sizeof(*o));
    o->format = format;
    o->f = f;
    o->verbose = verbose;
    o->color = color;
    o->summary = summary;
}

static int
is_json(const struct out *o)
{
    return strcmp(o->format, "json") == 0;
}

void
out_begin(struct out *o)
{
    if (is_json(o))
        fprintf(o->f,
                "{\"schema\":%d,\"tool\":\"modelgate\",\"version\":\"%s\","
                "\"files\":[",
                MG_JSON_SCHEMA_VERSION, MG_VERSION_STRING);
}

static const char *
sev_color(enum mg_severity s)
{
    switch (s) {
    case MG_SEV_DANGEROUS:
        return "\033[1;31m";
    case MG_SEV_SUSPICIOUS:
        return "\033[33m";
    case MG_SEV_UNKNOWN:
        return "\033[36m";
    case MG_SEV_INFO:
    default:
        return "\033[2m";
    }
}

static const char *
verdict_color(enum mg_verdict v)
{
    switch (v) {
    case MG_VERDICT_DANGEROUS:
        return "\033[1;31m";
    case MG_VERDICT_SUSPICIOUS:
        return "\033[33m";
    case MG_VERDICT_UNKNOWN:
        return "\033[36m";
    case MG_VERDICT_ERROR:
        return "\033[35m";
    case MG_VERDICT_SAFE:
    default:
        return "\033[32m";
    }
}

static void
upper(char *dst, const char *s, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        dst[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
    dst[i] = '\0';
}

static void
text_file(struct out *o, const struct mg_report *r)
{
    const char *path = mg_report_path(r);
    size_t n = mg_report_count(r);
    for (size_t i = 0; i < n; i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (f->severity == MG_SEV_INFO && !o->verbose &&
            strcmp(f->rule, "limit") != 0 && strcmp(f->rule, "io-error") != 0)
            continue;
        char sev[16];
        upper(sev, mg_severity_name(f->severity), sizeof(sev));
        fprintf(o->f, "%s%s%s: %s%s%s %s %s", path, f->layer ? "!" : "",
                f->layer ? f->layer : "",
                o->color ? sev_color(f->severity) : "", sev,
                o->color ? "\033[0m" : "", f->rule, f->message);
        if (f->has_offset)
            fprintf(o->f, " [offset %" PRIu64 "]", f->offset);
        if (f->count > 1)
            fprintf(o->f, " (x%" PRIu64 ")", f->count);
        fputc('\n', o->f);
    }
    enum mg_verdict v = mg_report_verdict(r);
    fprintf(o->f, "%s: %sverdict %s%s (%s)\n", path,
            o->color ? verdict_color(v) : "", mg_verdict_name(v),
            o->color ? "\033[0m" : "", mg_report_format(r));
}

static void
json_file(struct out *o, const struct mg_report *r)
{
    FILE *f = o->f;
    if (o->nfiles > 0)
        fputc(',', f);
    fputs("{\"path\":", f);
    json_str(f, mg_report_path(r));
    fprintf(f, ",\"verdict\":\"%s\",\"format\":",
            mg_verdict_name(mg_report_verdict(r)));
    json_str(f, mg_report_format(r));
    fprintf(f,
            ",\"complete\":%s,\"max_severity\":\"%s\",\"size\":%" PRIu64
            ",\"bytes_read\":%" PRIu64 ",\"findings\":[",
            mg_report_complete(r) ? "true" : "false",
            mg_severity_name(mg_report_max_severity(r)), mg_report_file_size(r),
            mg_report_bytes_read(r));
    size_t n = mg_report_count(r);
    for (size_t i = 0; i < n; i++) {
        const struct mg_finding *x = mg_report_get(r, i);
        if (i > 0)
            fputc(',', f);
        fprintf(
            f, "{\"severity\":\"%s\",\"rule\":", mg_severity_name(x->severity));
        json_str(f, x->rule);
        fputs(",\"message\":", f);
        json_str(f, x->message);
        fputs(",\"layer\":", f);
        json_str_or_null(f, x->layer);
        if (x->has_offset)
            fprintf(f, ",\"offset\":%" PRIu64, x->offset);
        else
            fputs(",\"offset\":null", f);
        fputs(",\"module\":", f);
        json_str_or_null(f, x->module);
        fputs(",\"name\":", f);
        json_str_or_null(f, x->name);
        fputs(",\"indicator\":", f);
        json_str_or_null(f, x->indicator);
        fprintf(f, ",\"count\":%" PRIu64 "}", x->count);
    }
    fputs("]}", f);
}

void
out_file(struct out *o, const struct mg_report *r)
{
    if (is_json(o))
        json_file(o, r);
    else
        text_file(o, r);
    o->nfiles++;
    fflush(o->f);
}

void
out_end(struct out *o, const struct summary *s)
{
    FILE *f = o->f;
    if (is_json(o)) {
        fprintf(f,
                "],\"summary\":{\"files\":%" PRIu64 ",\"safe\":%" PRIu64
                ",\"unknown\":%" PRIu64 ",\"suspicious\":%" PRIu64
                ",\"dangerous\":%" PRIu64 ",\"error\":%" PRIu64
                ",\"not_scanned\":%" PRIu64 ",\"bytes\":%" PRIu64
                ",\"seconds\":%.3f,\"exit_code\":%d}}\n",
                s->files, s->by_verdict[MG_VERDICT_SAFE],
                s->by_verdict[MG_VERDICT_UNKNOWN],
                s->by_verdict[MG_VERDICT_SUSPICIOUS],
                s->by_verdict[MG_VERDICT_DANGEROUS],
                s->by_verdict[MG_VERDICT_ERROR], s->failed + s->errors_walk,
                s->bytes, s->seconds, s->exit_code);
        return;
    }
    if (!o->summary)
        return;
    fprintf(
        f,
        "modelgate: %" PRIu64 " files: %" PRIu64 " dangerous, %" PRIu64
        " suspicious, %" PRIu64 " unknown, %" PRIu64 " safe, %" PRIu64 " error",
        s->files, s->by_verdict[MG_VERDICT_DANGEROUS],
        s->by_verdict[MG_VERDICT_SUSPICIOUS], s->by_verdict[MG_VERDICT_UNKNOWN],
        s->by_verdict[MG_VERDICT_SAFE], s->by_verdict[MG_VERDICT_ERROR]);
    if (s->failed + s->errors_walk > 0)
        fprintf(f, ", %" PRIu64 " not scanned", s->failed + s->errors_walk);
    fprintf(f, "; %" PRIu64 " bytes read in %.2f s\n", s->bytes, s->seconds);
}

void
summary_add(struct summary *s, const struct mg_report *r, int fail_on)
{
    s->files++;
    s->by_verdict[mg_report_verdict(r)]++;
    s->bytes += mg_report_bytes_read(r);
    if ((int)mg_report_max_severity(r) >= fail_on)
        s->reached++;
}

int
summary_exit(const struct summary *s)
{
    if (s->reached > 0)
        return EXIT_FOUND;
    if (s->by_verdict[MG_VERDICT_ERROR] > 0 || s->failed > 0 ||
        s->errors_walk > 0 || s->oom)
        return EXIT_ERROR;
    return EXIT_CLEAN;
}
