#include "out.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct rule_help {
    const char *id;
    const char *severities;
    enum mg_severity top;
    const char *brief;
    const char *text;
    const char *markdown;
};

static const struct rule_help rules[] = {
#define RULE(id, sevs, top, brief, text, md) {id, sevs, top, brief, text, md},
#include "rules_table.h"
#undef RULE
};
#define NRULES (sizeof(rules) / sizeof(rules[0]))

#define SARIF_SCHEMA                                                      \
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/" \
    "sarif-schema-2.1.0.json"

int
out_parse_format(const char *name, enum out_kind *kind)
{
    static const char *const names[] = {"text", "json", "jsonl", "sarif"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0) {
            *kind = (enum out_kind)i;
            return 0;
        }
    return -1;
}

void
out_init(struct out *o,
         enum out_kind kind,
         FILE *f,
         int verbose,
         int color,
         int summary)
{
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->f = f;
    o->verbose = verbose;
    o->color = color;
    o->summary = summary;
}

void
out_begin(struct out *o)
{
    switch (o->kind) {
    case OUT_JSON:
        fprintf(o->f,
                "{\"schema\":%d,\"tool\":\"modelgate\",\"version\":\"%s\","
                "\"files\":[",
                MG_JSON_SCHEMA_VERSION, MG_VERSION_STRING);
        break;
    case OUT_SARIF:
        /* Results first: the rules list that follows then also names the
           rule ids that docs/rules.md does not know (member order does not
           matter in JSON). */
        fputs("{\"$schema\":\"" SARIF_SCHEMA "\",\"version\":\"2.1.0\","
              "\"runs\":[{\"results\":[",
              o->f);
        break;
    case OUT_TEXT:
    case OUT_JSONL:
    default:
        break;
    }
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

/* Findings that text and SARIF show: everything above info, and the info
   findings that make a verdict "error"; with -v, all. */
static int
shown(const struct out *o, const struct mg_finding *f)
{
    return f->severity != MG_SEV_INFO || o->verbose ||
           strcmp(f->rule, "limit") == 0 || strcmp(f->rule, "io-error") == 0;
}

static void
text_file(struct out *o, const struct mg_report *r)
{
    const char *path = mg_report_path(r);
    size_t n = mg_report_count(r);
    for (size_t i = 0; i < n; i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (!shown(o, f))
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

/* "layer", "offset", "module", "name", "indicator" and "count" of a
   finding: in json/jsonl findings and in SARIF result properties. */
static void
finding_members(FILE *f, const struct mg_finding *x)
{
    fputs("\"layer\":", f);
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
    fprintf(f, ",\"count\":%" PRIu64, x->count);
}

/* The members of one file object, shared by json and jsonl. */
static void
json_file_members(FILE *f, const struct mg_report *r)
{
    fputs("\"path\":", f);
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
        fputc(',', f);
        finding_members(f, x);
        fputc('}', f);
    }
    fputc(']', f);
}

static void
json_summary_members(FILE *f, const struct summary *s)
{
    fprintf(
        f,
        "\"files\":%" PRIu64 ",\"safe\":%" PRIu64 ",\"unknown\":%" PRIu64
        ",\"suspicious\":%" PRIu64 ",\"dangerous\":%" PRIu64
        ",\"error\":%" PRIu64 ",\"not_scanned\":%" PRIu64 ",\"bytes\":%" PRIu64
        ",\"cached\":%" PRIu64 ",\"seconds\":%.3f,\"exit_code\":%d",
        s->files, s->by_verdict[MG_VERDICT_SAFE],
        s->by_verdict[MG_VERDICT_UNKNOWN], s->by_verdict[MG_VERDICT_SUSPICIOUS],
        s->by_verdict[MG_VERDICT_DANGEROUS], s->by_verdict[MG_VERDICT_ERROR],
        s->failed + s->errors_walk, s->bytes, s->cached, s->seconds,
        s->exit_code);
}

/* ---- SARIF ---- */

static const char *
sarif_level(const struct mg_finding *f)
{
    switch (f->severity) {
    case MG_SEV_DANGEROUS:
        return "error";
    case MG_SEV_SUSPICIOUS:
        return "warning";
    case MG_SEV_UNKNOWN:
        return "note";
    case MG_SEV_INFO:
    default:
        /* a scan that could not finish is worth a warning */
        return strcmp(f->rule, "limit") == 0 || strcmp(f->rule, "io-error") == 0
                   ? "warning"
                   : "note";
    }
}

/* GitHub's security-severity scale: 9+ critical, 7+ high, 4+ medium. */
static const char *
security_severity(enum mg_severity s)
{
    switch (s) {
    case MG_SEV_DANGEROUS:
        return "9.8";
    case MG_SEV_SUSPICIOUS:
        return "7.5";
    case MG_SEV_UNKNOWN:
        return "4.0";
    case MG_SEV_INFO:
    default:
        return "1.0";
    }
}

static long
rule_index(struct out *o, const char *id)
{
    for (size_t i = 0; i < NRULES; i++)
        if (strcmp(rules[i].id, id) == 0)
            return (long)i;
    for (size_t i = 0; i < o->nextra; i++)
        if (strcmp(o->extra_rules[i], id) == 0)
            return (long)(NRULES + i);
    if (o->nextra == o->capextra) {
        size_t nc = o->capextra ? o->capextra * 2 : 8;
        char **nv = realloc(o->extra_rules, nc * sizeof(*nv));
        if (nv == NULL)
            return -1;
        o->extra_rules = nv;
        o->capextra = nc;
    }
    char *d = strdup(id);
    if (d == NULL)
        return -1;
    o->extra_rules[o->nextra++] = d;
    return (long)(NRULES + o->nextra - 1);
}

/* A path as a URI reference: relative paths stay relative, absolute ones
   become file:// URIs; bytes outside the unreserved set are escaped. */
static void
sarif_uri(FILE *f, const char *path)
{
    fputc('"', f);
    if (path[0] == '/')
        fputs("file://", f);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-._~/!$&'()*+,;=:@", c))
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
    fputc('"', f);
}

static uint64_t
fnv_str(uint64_t h, const char *s)
{
    for (; s != NULL && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= s == NULL ? 0xff : 0xfe;
    return h * 0x100000001b3ULL;
}

static void
sarif_file(struct out *o, const struct mg_report *r)
{
    FILE *f = o->f;
    const char *path = mg_report_path(r);
    size_t n = mg_report_count(r);
    for (size_t i = 0; i < n; i++) {
        const struct mg_finding *x = mg_report_get(r, i);
        if (!shown(o, x))
            continue;
        long idx = rule_index(o, x->rule);
        if (o->nresults++ > 0)
            fputc(',', f);
        fputs("{\"ruleId\":", f);
        json_str(f, x->rule);
        if (idx >= 0)
            fprintf(f, ",\"ruleIndex\":%ld", idx);
        fprintf(f, ",\"level\":\"%s\",\"message\":{\"text\":", sarif_level(x));
        json_str(f, x->message);
        fputs("},\"locations\":[{\"physicalLocation\":{"
              "\"artifactLocation\":{\"uri\":",
              f);
        sarif_uri(f, path);
        fputc('}', f);
        /* An offset inside a member is not an offset in the file. */
        if (x->has_offset && x->layer == NULL)
            fprintf(f, ",\"region\":{\"byteOffset\":%" PRIu64 "}", x->offset);
        fputc('}', f);
        if (x->layer != NULL) {
            fputs(",\"logicalLocations\":[{\"name\":", f);
            json_str(f, x->layer);
            fputs(",\"fullyQualifiedName\":", f);
            char fq[4096];
            snprintf(fq, sizeof(fq), "%s!%s", path, x->layer);
            json_str(f, fq);
            fputs("}]", f);
        }
        uint64_t h = 0xcbf29ce484222325ULL;
        h = fnv_str(h, x->rule);
        h = fnv_str(h, x->layer);
        h = fnv_str(h, x->module);
        h = fnv_str(h, x->name);
        h = fnv_str(h, x->indicator);
        h = fnv_str(h, x->message);
        fprintf(
            f,
            "}],\"partialFingerprints\":{\"modelgateFinding/v1\":\"%016" PRIx64
            "\"},\"properties\":{\"severity\":\"%s\",",
            h, mg_severity_name(x->severity));
        finding_members(f, x);
        fprintf(f, ",\"verdict\":\"%s\"}}",
                mg_verdict_name(mg_report_verdict(r)));
    }
}

static void
sarif_rule(FILE *f,
           const char *id,
           const char *brief,
           const char *text,
           const char *markdown,
           enum mg_severity top)
{
    fputs("{\"id\":", f);
    json_str(f, id);
    fputs(",\"shortDescription\":{\"text\":", f);
    json_str(f, brief);
    fputs("},\"fullDescription\":{\"text\":", f);
    json_str(f, text);
    fputs("},\"help\":{\"text\":", f);
    json_str(f, text);
    fputs(",\"markdown\":", f);
    json_str(f, markdown);
    struct mg_finding probe = {.severity = top, .rule = id};
    fprintf(f,
            "},\"defaultConfiguration\":{\"level\":\"%s\"},"
            "\"properties\":{\"tags\":[\"security\",\"model-file\"],"
            "\"security-severity\":\"%s\"}}",
            sarif_level(&probe), security_severity(top));
}

static void
sarif_end(struct out *o, const struct summary *s)
{
    FILE *f = o->f;
    fputs("],\"tool\":{\"driver\":{\"name\":\"modelgate\",\"version\":"
          "\"" MG_VERSION_STRING "\",\"semanticVersion\":\"" MG_VERSION_STRING
          "\",\"rules\":[",
          f);
    for (size_t i = 0; i < NRULES; i++) {
        if (i > 0)
            fputc(',', f);
        sarif_rule(f, rules[i].id, rules[i].brief, rules[i].text,
                   rules[i].markdown, rules[i].top);
    }
    for (size_t i = 0; i < o->nextra; i++) {
        fputc(',', f);
        sarif_rule(f, o->extra_rules[i],
                   "a rule of a newer modelgate; see its docs/rules.md",
                   "a rule of a newer modelgate; see its docs/rules.md",
                   "a rule of a newer modelgate; see its `docs/rules.md`",
                   MG_SEV_SUSPICIOUS);
    }
    fprintf(f,
            "]}},\"invocations\":[{\"executionSuccessful\":%s,"
            "\"exitCode\":%d}],\"properties\":{\"summary\":{",
            s->exit_code == EXIT_ERROR ? "false" : "true", s->exit_code);
    json_summary_members(f, s);
    fputs("}}}]}\n", f);
}

void
out_file(struct out *o, const struct mg_report *r)
{
    switch (o->kind) {
    case OUT_JSON:
        if (o->nfiles > 0)
            fputc(',', o->f);
        fputc('{', o->f);
        json_file_members(o->f, r);
        fputc('}', o->f);
        break;
    case OUT_JSONL:
        fprintf(o->f, "{\"schema\":%d,\"type\":\"file\",",
                MG_JSON_SCHEMA_VERSION);
        json_file_members(o->f, r);
        fputs("}\n", o->f);
        break;
    case OUT_SARIF:
        sarif_file(o, r);
        break;
    case OUT_TEXT:
    default:
        text_file(o, r);
        break;
    }
    o->nfiles++;
}

static void
text_end(struct out *o, const struct summary *s)
{
    FILE *f = o->f;
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
    fprintf(f, "; %" PRIu64 " bytes read in %.2f s", s->bytes, s->seconds);
    if (s->cached > 0)
        fprintf(f, " (%" PRIu64 " from the cache)", s->cached);
    fputc('\n', f);
}

void
out_end(struct out *o, const struct summary *s)
{
    FILE *f = o->f;
    switch (o->kind) {
    case OUT_JSON:
        fputs("],\"summary\":{", f);
        json_summary_members(f, s);
        fputs("}}\n", f);
        break;
    case OUT_JSONL:
        fprintf(f,
                "{\"schema\":%d,\"type\":\"summary\",\"tool\":\"modelgate\","
                "\"version\":\"%s\",",
                MG_JSON_SCHEMA_VERSION, MG_VERSION_STRING);
        json_summary_members(f, s);
        fputs("}\n", f);
        break;
    case OUT_SARIF:
        sarif_end(o, s);
        break;
    case OUT_TEXT:
    default:
        text_end(o, s);
        break;
    }
    fflush(f);
    for (size_t i = 0; i < o->nextra; i++)
        free(o->extra_rules[i]);
    free(o->extra_rules);
    o->extra_rules = NULL;
    o->nextra = o->capextra = 0;
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
