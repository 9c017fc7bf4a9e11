/*
 * modelgate.h - public API of libmodelgate, the static model-file scanner.
 *
 * Pattern of use:
 *
 *     struct mg_options opt;
 *     mg_options_init(&opt);                  // defaults for every limit
 *     struct mg_scanner *s = NULL;
 *     if (mg_scanner_new(&opt, &s) != MG_OK) ...
 *     struct mg_report *r = NULL;
 *     enum mg_status st = mg_scan_file(s, "model.pt", &r);
 *     // st says whether the scan could run; the verdict is in the report:
 *     enum mg_verdict v = mg_report_verdict(r);
 *     for (size_t i = 0; i < mg_report_count(r); i++) use(mg_report_get(r, i));
 *     mg_report_free(r);
 *     mg_scanner_free(s);
 *
 * Nothing in a scanned file is ever executed. A scanner is used by one
 * thread at a time; a policy is immutable once built and may be shared by
 * any number of scanners and threads. The library never prints and keeps no
 * global state.
 */
#ifndef MODELGATE_H
#define MODELGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MG_API __attribute__((visibility("default")))
#else
#define MG_API
#endif

#define MG_VERSION_STRING "0.1.0"
/** Version of the JSON report schema (docs/json-schema.md). */
#define MG_JSON_SCHEMA_VERSION 1

/** Status of an operation: whether it could run, never what it found. */
enum mg_status {
    MG_OK = 0,
    MG_E_NOMEM,         /**< allocation failed or exceeded its cap */
    MG_E_IO,            /**< the operating system refused a read/write */
    MG_E_MALFORMED,     /**< input is not what it claims to be */
    MG_E_TRUNCATED,     /**< input ends before a structure does */
    MG_E_LIMIT,         /**< a named limit was reached */
    MG_E_UNSUPPORTED,   /**< valid, but not handled by this version */
    MG_E_BAD_SIGNATURE, /**< a signature did not verify */
    MG_E_SANDBOX,       /**< the sandbox could not be set up */
    MG_E_INVALID,       /**< bad argument from the caller */
    MG_E_INTERNAL       /**< a bug: please report it */
};

/** Static English text for a status; never NULL. */
MG_API const char *mg_strerror(enum mg_status st);

/** Severity of one finding, in increasing order. */
enum mg_severity {
    MG_SEV_INFO = 0,       /**< a fact worth showing */
    MG_SEV_UNKNOWN = 1,    /**< not in the allowlist, not known to be bad */
    MG_SEV_SUSPICIOUS = 2, /**< a deliberate anomaly or attack primitive */
    MG_SEV_DANGEROUS = 3   /**< loading runs code or touches the system */
};

/** Per-file verdict. */
enum mg_verdict {
    MG_VERDICT_SAFE = 0,       /**< read completely, only allowlisted content */
    MG_VERDICT_UNKNOWN = 1,    /**< read completely, worst finding unknown */
    MG_VERDICT_SUSPICIOUS = 2, /**< worst finding suspicious */
    MG_VERDICT_DANGEROUS = 3,  /**< worst finding dangerous */
    MG_VERDICT_ERROR = 4       /**< not fully read, nothing worse found */
};

MG_API const char *mg_severity_name(enum mg_severity s);
MG_API const char *mg_verdict_name(enum mg_verdict v);

/**
 * One finding. Every string is owned by the report and valid until
 * mg_report_free(); optional strings are NULL when absent.
 */
struct mg_finding {
    enum mg_severity severity;
    const char *rule;      /**< stable rule id, e.g. "pickle-global" */
    const char *message;   /**< one line of English */
    const char *layer;     /**< "data.pkl" or "model.7z!archive/data.pkl";
                              NULL for the file itself */
    uint64_t offset;       /**< byte offset inside the innermost layer */
    int has_offset;        /**< 0 when offset is meaningless */
    const char *module;    /**< module involved, if any */
    const char *name;      /**< qualified name involved, if any */
    const char *indicator; /**< indicator string (URL, IP...), if any */
    uint64_t count;        /**< occurrences merged into this finding */
};

/**
 * Limits. Each has a default (MG_DEFAULT_* in docs/limits.md), can be set,
 * and when hit makes the file's verdict MG_VERDICT_ERROR (unless something
 * worse was found) with a "limit" finding naming it.
 */
struct mg_limits {
    uint64_t max_opcodes;      /**< pickle opcodes per stream */
    uint64_t max_stack;        /**< pickle stack depth (values + marks) */
    uint64_t max_memo;         /**< pickle memo entries */
    uint64_t max_string;       /**< bytes kept of one pickle string/bytes */
    uint64_t max_values;       /**< symbolic values per stream */
    uint64_t max_value_depth;  /**< nesting when rendering values */
    uint64_t max_findings;     /**< findings per file */
    uint64_t max_streams;      /**< pickle streams per layer */
    uint64_t max_depth;        /**< container nesting depth */
    uint64_t max_members;      /**< members per archive */
    uint64_t max_member_bytes; /**< decompressed bytes of one member */
    uint64_t max_total_bytes;  /**< decompressed bytes of one input file */
    uint64_t max_ratio;        /**< decompressed/compressed ratio */
    uint64_t max_spool_bytes;  /**< a member held in memory for random
                                    access (a ZIP inside a 7z...) */
    uint64_t max_header_bytes; /**< JSON/metadata headers */
    uint64_t max_json_depth;   /**< JSON nesting */
    uint64_t max_json_values;  /**< values in one JSON document */
    uint64_t max_tensors;      /**< tensors per safetensors/GGUF file */
    uint64_t max_nesting;      /**< GGUF array / protobuf nesting */
    uint64_t max_seconds;      /**< wall-clock budget per file (0: none) */
};

struct mg_policy;

/** Options of a scanner. Initialise with mg_options_init(). */
struct mg_options {
    struct mg_limits limits;
    /** Policy to apply; NULL means the built-in one. Borrowed: must outlive
        every scanner created with these options. */
    const struct mg_policy *policy;
    /** Report info-level findings (imports judged safe, formats). */
    int report_info;
};

/** Fill *opt with the defaults. */
MG_API void mg_options_init(struct mg_options *opt);

/*
 * Policies: the built-in allowlist, optionally extended.
 */

/** Create a policy holding the built-in tables. */
MG_API enum mg_status mg_policy_new(struct mg_policy **out);
/** Free a policy; NULL is a no-op. */
MG_API void mg_policy_free(struct mg_policy *p);
/**
 * Mark "module.name" (or "module.*" for the whole module) as safe, or set
 * its severity. Entries the built-in table calls dangerous cannot be made
 * safe by "module.*"; an exact "module.name" can.
 */
MG_API enum mg_status
mg_policy_set(struct mg_policy *p, const char *qualname, enum mg_severity sev);
/**
 * Load a policy file (docs/policy.md). On failure *errline is set to the
 * 1-based line at fault (0 for I/O errors).
 */
MG_API enum mg_status
mg_policy_load(struct mg_policy *p, const char *path, unsigned *errline);
/** Classify module.name as the scanner would (for tools and tests). */
MG_API enum mg_severity mg_policy_classify(const struct mg_policy *p,
                                           const char *module,
                                           const char *name);

/*
 * Scanning.
 */
struct mg_scanner;
struct mg_report;

/**
 * Create a scanner. The options are copied; the policy they name is
 * borrowed. @param[out] out receives the scanner; free with
 * mg_scanner_free().
 */
MG_API enum mg_status mg_scanner_new(const struct mg_options *opt,
                                     struct mg_scanner **out);
MG_API void mg_scanner_free(struct mg_scanner *s);
/** Last error message on this handle; valid until the next call on it. */
MG_API const char *mg_scanner_errmsg(const struct mg_scanner *s);

/**
 * Scan a file. Returns MG_OK when a report was produced (whatever it
 * found); *out is then a new report to free with mg_report_free(). A file
 * that cannot be opened still yields a report with verdict error and an
 * "io" finding, and the status MG_E_IO.
 */
MG_API enum mg_status
mg_scan_file(struct mg_scanner *s, const char *path, struct mg_report **out);
/**
 * Scan a buffer. @param name is used in messages (may be NULL). The buffer
 * is borrowed for the duration of the call.
 */
MG_API enum mg_status mg_scan_buffer(struct mg_scanner *s,
                                     const void *buf,
                                     size_t len,
                                     const char *name,
                                     struct mg_report **out);

MG_API void mg_report_free(struct mg_report *r);
MG_API const char *mg_report_path(const struct mg_report *r);
MG_API enum mg_verdict mg_report_verdict(const struct mg_report *r);
/** Worst severity among the findings (MG_SEV_INFO when none). */
MG_API enum mg_severity mg_report_max_severity(const struct mg_report *r);
/** 1 when every byte was examined, 0 when a limit or error cut it short. */
MG_API int mg_report_complete(const struct mg_report *r);
/** Detected format of the outermost layer ("pickle", "zip", ...). */
MG_API const char *mg_report_format(const struct mg_report *r);
/** Bytes read from the file by the scan. */
MG_API uint64_t mg_report_bytes_read(const struct mg_report *r);
/** Size of the file. */
MG_API uint64_t mg_report_file_size(const struct mg_report *r);
MG_API size_t mg_report_count(const struct mg_report *r);
/** The i-th finding, in the order found; NULL when i is out of range. */
MG_API const struct mg_finding *mg_report_get(const struct mg_report *r,
                                              size_t i);

/*
 * Disassembly (modelgate disasm): calls back once per decoded opcode and
 * once per stream break. Never executes anything.
 */
struct mg_disasm_line {
    uint64_t offset;    /**< offset of the opcode */
    const char *opcode; /**< pickletools name, e.g. "SHORT_BINUNICODE" */
    unsigned char code; /**< the opcode byte */
    const char *arg;    /**< rendered argument, "" when none */
    unsigned stream;    /**< 0-based index of the pickle stream */
    unsigned depth;     /**< open marks, as pickletools.dis indents */
    const char *error;  /**< non-NULL for a break: why it stopped */
};
typedef int (*mg_disasm_cb)(void *user, const struct mg_disasm_line *line);

/** Disassemble every pickle stream of a buffer. */
MG_API enum mg_status mg_disasm_buffer(struct mg_scanner *s,
                                       const void *buf,
                                       size_t len,
                                       mg_disasm_cb cb,
                                       void *user);

/*
 * Results caches and tools (modelgate scan --cache, explain).
 */

/**
 * A fingerprint of a policy (built-in tables and user entries): two
 * policies with the same fingerprint classify every import alike. NULL
 * stands for the built-in policy.
 */
MG_API uint64_t mg_policy_fingerprint(const struct mg_policy *p);

/**
 * Rebuild a report from saved results (a results cache): the findings
 * (their strings are copied, count included), the outermost format,
 * whether the scan was complete, the worst severity seen (it can exceed
 * the findings' when some were dropped by max-findings) and the sizes.
 * @param[out] out receives a report to free with mg_report_free().
 */
MG_API enum mg_status mg_report_restore(const char *path,
                                        const char *format,
                                        int complete,
                                        enum mg_severity max_severity,
                                        uint64_t file_size,
                                        uint64_t bytes_read,
                                        const struct mg_finding *findings,
                                        size_t n,
                                        struct mg_report **out);

/**
 * The bytes of one member of a container file ("FILE!MEMBER"), or of the
 * file itself when member is NULL, read within the scanner's limits
 * (max-member-bytes). Members of nested containers are named with '!'
 * ("outer.zip!inner.tar!data.pkl"), exactly as in findings' layers: the
 * file is read as a scan reads it, skipping every layer off the way, and
 * the first member of that name is taken. MG_E_UNSUPPORTED when there is
 * no such member, MG_E_LIMIT when a limit kept it from being read (the
 * reason in mg_scanner_errmsg()).
 * @param[out] buf receives the bytes, to free with mg_buffer_free().
 */
MG_API enum mg_status mg_extract_member(struct mg_scanner *s,
                                        const char *path,
                                        const char *member,
                                        void **buf,
                                        size_t *len);
/** Free a buffer returned by the library; NULL is a no-op. */
MG_API void mg_buffer_free(void *buf);

/*
 * Explanation (modelgate explain): what loading a pickle would do, as
 * pseudo-Python, one line per step, in the order an unpickler runs them.
 */
enum mg_explain_kind {
    MG_EXPLAIN_STREAM = 0, /**< a pickle stream starts (comment only) */
    MG_EXPLAIN_IMPORT,     /**< an import: "from os import system" */
    MG_EXPLAIN_CALL,       /**< a call: "_1 = system('id')" */
    MG_EXPLAIN_METHOD,     /**< an implicit method call: "_1.append(x)" */
    MG_EXPLAIN_NOTE,       /**< an anomaly or a fact (comment only) */
    MG_EXPLAIN_RESULT,     /**< what load() returns: "result = {...}" */
    MG_EXPLAIN_BREAK,      /**< the stream breaks here (comment only) */
    MG_EXPLAIN_END         /**< end of the input (comment only) */
};

struct mg_explain_line {
    enum mg_explain_kind kind;
    unsigned stream;           /**< 0-based pickle stream */
    uint64_t offset;           /**< offset of the opcode responsible */
    int has_offset;            /**< 0 when offset is meaningless */
    const char *opcode;        /**< its pickletools name, "" when none */
    const char *code;          /**< pseudo-Python; "" for comment-only lines;
                                    may hold newlines (long values) */
    const char *comment;       /**< explanation, "" when none */
    enum mg_severity severity; /**< the policy's view of this step */
};
typedef int (*mg_explain_cb)(void *user, const struct mg_explain_line *line);

/** Every call and method call, not only those the allowlist does not
    cover; values are shown as built, not as compact tensors. */
#define MG_EXPLAIN_FULL 0x1u

/**
 * Explain every pickle stream of a buffer, calling cb once per line
 * (strings valid during the call only); a non-zero return stops early.
 * Returns MG_OK when the whole input was explained (a broken stream is
 * explained up to its break), MG_E_LIMIT when a limit cut it short (the
 * last line says which), MG_E_NOMEM.
 */
MG_API enum mg_status mg_explain_buffer(struct mg_scanner *s,
                                        const void *buf,
                                        size_t len,
                                        unsigned flags,
                                        mg_explain_cb cb,
                                        void *user);

#ifdef __cplusplus
}
#endif
#endif /* MODELGATE_H */
