/*
 * limits.h - every limit of modelgate, named in one place. The MG_DEFAULT_*
 * values fill struct mg_limits (mg_options_init); each is settable from the
 * command line (--max-*) and reported when hit. docs/limits.md lists them.
 */
#ifndef MG_CORE_LIMITS_H
#define MG_CORE_LIMITS_H
#ifndef MG_BUILDING
#error "private header"
#endif

/* Hard cap on any single allocation (not settable). */
#define MG_MAX_ALLOCATION ((size_t)1 << 31)

/* Pickle opcodes decoded per stream: 10^8 is ~100x a large checkpoint. */
#define MG_DEFAULT_MAX_OPCODES 100000000ULL
/* Pickle stack depth, values and marks together (CPython has no limit;
   real files stay below a few hundred). */
#define MG_DEFAULT_MAX_STACK 1000000ULL
/* Memo entries per stream. */
#define MG_DEFAULT_MAX_MEMO 4000000ULL
/* Largest single string/bytes argument accepted (it is skipped, not held;
   only a prefix is kept in the symbolic value). */
#define MG_DEFAULT_MAX_STRING (4ULL << 30)
/* Symbolic values created per stream (memory: ~48 bytes each + strings);
   also reported when the value arena (MG_ARENA_CAP) is full. */
#define MG_DEFAULT_MAX_VALUES 4000000ULL
/* Nesting followed when resolving or rendering a symbolic value. */
#define MG_DEFAULT_MAX_VALUE_DEPTH 64ULL
/* Findings kept per file (more are counted, not stored). */
#define MG_DEFAULT_MAX_FINDINGS 1000ULL
/* Pickle streams scanned per layer (legacy torch has 5; concatenations). */
#define MG_DEFAULT_MAX_STREAMS 1000ULL
/* Container nesting depth (file itself is depth 0). */
#define MG_DEFAULT_MAX_DEPTH 16ULL
/* Members per archive. */
#define MG_DEFAULT_MAX_MEMBERS 100000ULL
/* Decompressed bytes of one member that are examined. */
#define MG_DEFAULT_MAX_MEMBER_BYTES (8ULL << 30)
/* Decompressed bytes per input file, all layers together. */
#define MG_DEFAULT_MAX_TOTAL_BYTES (64ULL << 30)
/* Decompressed/compressed ratio of one member before it is a bomb. */
#define MG_DEFAULT_MAX_RATIO 1000ULL
/* A member that needs random access (a ZIP inside a 7z or a gzip stream)
   is held in memory: at most this much. */
#define MG_DEFAULT_MAX_SPOOL_BYTES (512ULL << 20)
/* JSON and metadata headers (safetensors, GGUF, Keras config). */
#define MG_DEFAULT_MAX_HEADER_BYTES (100ULL << 20)
/* JSON nesting depth. */
#define MG_DEFAULT_MAX_JSON_DEPTH 64ULL
/* JSON values (and keys) in one document: each costs 16 bytes of parse
   tree, so 10^7 bound it to 160 MB; a safetensors header with 10^5
   tensors has about 10^6. */
#define MG_DEFAULT_MAX_JSON_VALUES 10000000ULL
/* Tensors declared by one safetensors header or GGUF file (the largest
   real files have tens of thousands). */
#define MG_DEFAULT_MAX_TENSORS 1000000ULL
/* Nesting of GGUF arrays and of protobuf messages followed (ONNX
   subgraphs, TensorFlow function attributes). */
#define MG_DEFAULT_MAX_NESTING 64ULL
/* Wall-clock seconds per input file; 0 is no limit. */
#define MG_DEFAULT_MAX_SECONDS 0ULL

/* Internal caps that are not user settings. */
/* Bytes of a string kept in a symbolic value (longer ones are truncated
   and marked so; truncated strings never resolve a global). */
#define MG_KEEP_STRING 4096u
/* Elements kept per symbolic container (the rest are counted). */
#define MG_KEEP_ITEMS 256u
/* Bytes of one string searched for indicators. */
#define MG_INDICATOR_SCAN_BYTES (1u << 20)
/* Window of the sequential stream reader. */
#define MG_STREAM_WINDOW (1u << 20)
/* Bytes of symbolic values per stream; past half of it containers stop
   keeping items. */
#define MG_ARENA_CAP (384ULL << 20)
/* String bytes kept per stream; later strings are "forgotten" (only their
   length is kept, and they can never resolve a name). */
#define MG_STRING_BUDGET (64ULL << 20)
/* Bytes searched for a resumable pickle after a break. */
#define MG_RESYNC_WINDOW (64u << 20)
/* Bytes handed to libarchive per read: how precisely the compressed bytes
   behind a member are known, so the ratio of a member is judged against
   its compressed bytes plus this (no member below max-ratio times this
   size is a bomb by ratio alone). */
#define MG_ARCHIVE_BLOCK (64u << 10)
/* Bytes of a member name kept for messages and layer paths. */
#define MG_ARCHIVE_NAME_MAX 1024u
/* New libarchive sessions after a 7z member that cannot be decoded, to
   reach the members after it (each passes over the entries seen). */
#define MG_ARCHIVE_RESTARTS 8u

/* Conversion to safetensors (src/convert). Not user settings: each bounds
   what one checkpoint can make us hold or write. The pickles themselves
   are bounded by the pickle limits above; data.pkl and deflated storages
   are held in memory within max-spool-bytes. */
/* Bytes of a safetensors header: what the safetensors readers accept
   (MAX_HEADER_SIZE of huggingface/safetensors). */
#define MG_CONVERT_MAX_HEADER 100000000u
/* Dimensions of one tensor (PyTorch allows 64 at most in practice). */
#define MG_CONVERT_MAX_DIMS 64u
/* Bytes of one flattened tensor name ("encoder.layers.0.weight"). */
#define MG_CONVERT_MAX_NAME 65536u
/* Bytes of storage a non-contiguous view may span: they are held in
   memory to gather the view's elements. */
#define MG_CONVERT_MAX_VIEW_BYTES (1u << 30)
/* Views larger than this may repeat their storage's bytes (stride 0) at
   most max-ratio times; all tensors together are bounded by
   max-total-bytes. */
#define MG_CONVERT_RATIO_FLOOR (1u << 20)
/* Copy buffer (tensor data passes through it in pieces of this size). */
#define MG_CONVERT_CHUNK (8u << 20)
/* Notes kept per conversion (more are counted). */
#define MG_CONVERT_MAX_NOTES 200u
/* Shard files of one sharded checkpoint. */
#define MG_CONVERT_MAX_SHARDS 65536u
/* Bytes of a shard index (pytorch_model.bin.index.json). */
#define MG_CONVERT_MAX_INDEX_BYTES (64u << 20)

/* Formats other than pickle (src/formats/<format>). Not user settings:
   they bound what is reported, never what is examined. */
/* Bytes of a hostile string quoted in a message. */
#define MG_QUOTE_BYTES 160u
/* Findings of one kind per layer before the rest are only counted (gaps
   between tensors, dangerous TensorFlow ops...). */
#define MG_FORMAT_MAX_REPORTS 32u
/* Bytes of one GGUF string value examined as a chat template, or kept to
   resolve a TensorFlow constant; longer values are examined up to here
   and reported as limited. */
#define MG_TEMPLATE_MAX_BYTES (16u << 20)
/* Bytes of a protobuf string field copied out to be examined (op names,
   paths, constant strings); longer ones are shown truncated. */
#define MG_PROTO_MAX_STRING 4096u
/* Bytes of a base64 string decoded to look for bytecode or a pickle. */
#define MG_B64_MAX_DECODE (64u << 20)
/* libhdf5 runs in a child process (src/formats/keras/h5.c): its
   wall-clock and CPU seconds when max-seconds is not set, and the address
   space it may add to what it inherits. */
#define MG_H5_CHILD_SECONDS 30u
#define MG_H5_CHILD_MEMORY  (1ULL << 30)
/* HDF5 attributes with more elements than this are not read (a Keras
   configuration is one string). */
#define MG_H5_MAX_ATTR_ELEMENTS 1000000

/* Signing and verification (src/sign). Not user settings: each bounds
   hostile input (a bundle, a key file, a model folder) or our memory. */
/* Bytes of a signature bundle read (1M files take ~250 MB). */
#define MG_SIG_MAX_BUNDLE_BYTES (256u << 20)
/* Files in one model (signed resources, or files met on disk). */
#define MG_SIG_MAX_FILES 1000000u
/* Bytes of one model-relative file name. */
#define MG_SIG_MAX_NAME 4096u
/* Folder nesting walked below the model root (bounds open fds). */
#define MG_SIG_MAX_DEPTH 128u
/* Ignore paths (given plus recorded in a bundle). */
#define MG_SIG_MAX_IGNORES 10000u
/* Bytes of a PEM key file. */
#define MG_SIG_MAX_KEY_BYTES (1u << 20)
/* Keys in a keyring folder. */
#define MG_SIG_MAX_KEYRING_KEYS 1024u
/* Reasons kept in a result (more are counted). */
#define MG_SIG_MAX_REASONS 1000u
/* DSSE signatures looked at in an envelope (only the first is used, as
   model_signing does; more are refused as malformed). */
#define MG_SIG_MAX_SIGNATURES 16u
/* Read buffer of one hashing thread. */
#define MG_SIG_HASH_BUFFER (4u << 20)

#endif
