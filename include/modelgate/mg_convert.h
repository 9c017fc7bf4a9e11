/*
 * mg_convert.h - PyTorch checkpoints to safetensors, without running the
 * pickle (modelgate convert).
 *
 * Pattern of use:
 *
 *     struct mg_convert_options o;
 *     mg_convert_options_init(&o);            // defaults; o.force = 0
 *     struct mg_conversion *c = NULL;
 *     enum mg_status st =
 *         mg_convert_file(&o, "pytorch_model.bin", "model.safetensors", &c);
 *     // st says whether the conversion could run; the outcome is in c:
 *     if (c && mg_conversion_result(c) != MG_CONVERTED)
 *         puts(mg_conversion_reason(c));
 *     mg_conversion_free(c);
 *
 * The input is scanned first (the same scan as mg_scan_file); a dangerous
 * finding always refuses, an unknown or suspicious one refuses unless
 * force is set. The checkpoint is then rebuilt by the symbolic pickle
 * machine, which accepts only the constructs that rebuild tensors and
 * plain containers; nothing in the file is executed. The output is written
 * to a temporary file in the destination folder and renamed, so that a
 * refusal or a failure never leaves a partial file behind.
 */
#ifndef MODELGATE_CONVERT_H
#define MODELGATE_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of a conversion. Initialise with mg_convert_options_init(). */
struct mg_convert_options {
    /** Limits and policy of the scan and of reading the checkpoint. */
    struct mg_options scan;
    /** Convert despite unknown or suspicious findings (never dangerous
        ones, never an incomplete scan). */
    int force;
};

/** Fill *o with the defaults (force off). */
MG_API void mg_convert_options_init(struct mg_convert_options *o);

/** Outcome of a conversion. */
enum mg_convert_result {
    MG_CONVERTED = 0,           /**< every output file was written */
    MG_REFUSED_UNSAFE = 1,      /**< the scan's verdict forbids it */
    MG_REFUSED_UNSUPPORTED = 2, /**< the checkpoint is not convertible:
                                     a construct outside the accepted set,
                                     missing or short storages, sizes that
                                     overflow, a limit */
    MG_CONVERT_FAILED = 3       /**< reading or writing failed (I/O) */
};

/** The result of one conversion (opaque). */
struct mg_conversion;

/**
 * Convert one checkpoint (PyTorch ZIP or legacy format) to one
 * safetensors file. out_path may name a folder: the file is then
 * folder/<input name with "pytorch_model" made "model" and the extension
 * ".safetensors"> (as the Hugging Face converter names it).
 *
 * @param[out] out receives the result (free with mg_conversion_free())
 *   whenever the status is MG_OK, MG_E_IO or MG_E_NOMEM after it was
 *   allocated; NULL only when nothing could be allocated.
 * @return MG_OK when a decision was reached (converted or refused: see
 *   mg_conversion_result()), MG_E_IO when reading or writing failed,
 *   MG_E_NOMEM, MG_E_INVALID for NULL arguments.
 */
MG_API enum mg_status mg_convert_file(const struct mg_convert_options *o,
                                      const char *in_path,
                                      const char *out_path,
                                      struct mg_conversion **out);

/**
 * Convert a sharded checkpoint: index_path is a pytorch_model.bin.index
 * .json (its "weight_map" names the shard files, which live next to it).
 * Writes model-0000N-of-0000M.safetensors for each shard and
 * model.safetensors.index.json into out_dir (created if missing). Either
 * every file is written or none is. Returns as mg_convert_file().
 */
MG_API enum mg_status mg_convert_sharded(const struct mg_convert_options *o,
                                         const char *index_path,
                                         const char *out_dir,
                                         struct mg_conversion **out);

/** Free a result; NULL is a no-op. */
MG_API void mg_conversion_free(struct mg_conversion *c);

MG_API enum mg_convert_result
mg_conversion_result(const struct mg_conversion *c);

/** Why it was refused or failed, one line of English; "" when converted.
    Valid until mg_conversion_free(). */
MG_API const char *mg_conversion_reason(const struct mg_conversion *c);

/** Tensors written, names stored as aliases of an identical tensor (in
    the "__metadata__" of the file, as the Hugging Face converter does),
    and bytes of tensor data written. */
MG_API size_t mg_conversion_tensors(const struct mg_conversion *c);
MG_API size_t mg_conversion_aliases(const struct mg_conversion *c);
MG_API uint64_t mg_conversion_data_bytes(const struct mg_conversion *c);

/** Notes: what was left out or changed (a non-tensor entry skipped, a view
    materialised, a byte order converted). Strings valid until
    mg_conversion_free(); NULL when i is out of range. */
MG_API size_t mg_conversion_note_count(const struct mg_conversion *c);
MG_API const char *mg_conversion_note(const struct mg_conversion *c, size_t i);

/** The scan report of each input file, in the order scanned. Owned by the
    result; NULL when i is out of range. */
MG_API size_t mg_conversion_report_count(const struct mg_conversion *c);
MG_API const struct mg_report *
mg_conversion_report(const struct mg_conversion *c, size_t i);

/** The files written (only when converted). */
MG_API size_t mg_conversion_output_count(const struct mg_conversion *c);
MG_API const char *mg_conversion_output(const struct mg_conversion *c,
                                        size_t i);

#ifdef __cplusplus
}
#endif
#endif /* MODELGATE_CONVERT_H */
