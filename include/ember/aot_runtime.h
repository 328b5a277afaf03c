/* Ember's standalone runtime for exported models (ember::export_model): a plain C ABI.
 * CMake target Ember::aot_runtime (libember_aot_runtime.so), which links only libc, libm,
 * pthreads and the BLAS: no LLVM, no compiler, no Ember tensor library.
 *
 *   ember_model* m;
 *   if (ember_model_load("mlp.ember", &m) != 0) { puts(ember_last_error()); ... }
 *   int64_t shape[2] = {8, 64};
 *   ember_tensor in = {EMBER_F32, 2, shape, data}, out;
 *   if (ember_model_run(m, &in, 1, &out, 1) != 0) { puts(ember_last_error()); ... }
 *   ... out.shape, out.data ...
 *   ember_tensor_free(&out);
 *   ember_model_free(m);
 *
 * Loading checks the file (magic, version, every section's bounds and checksum, every field)
 * before any byte is trusted, and that this CPU has the features the machine code was compiled
 * for. A run checks each input's dtype and shape against the model (dims exported as dynamic
 * take any size >= 2) and the guards the trace recorded. Functions return 0 on success, else one
 * of the EMBER_ERROR_ codes, with ember_last_error() saying what went wrong; no exception or
 * signal crosses the ABI. A model may be run from several threads at once. */
#ifndef EMBER_AOT_RUNTIME_H
#define EMBER_AOT_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  EMBER_F32,
  EMBER_F64,
  EMBER_F16,
  EMBER_BF16,
  EMBER_I64,
  EMBER_I32,
  EMBER_I8,
  EMBER_U8,
  EMBER_BOOL
} ember_dtype;

/* A contiguous (row-major) tensor. Inputs are the caller's; outputs are allocated by the runtime
 * and released with ember_tensor_free. */
typedef struct {
  ember_dtype dtype;
  int32_t ndim;
  int64_t* shape;
  void* data;
} ember_tensor;

typedef struct ember_model ember_model;

#define EMBER_OK 0
#define EMBER_ERROR_INVALID_ARGUMENT 1 /* a null pointer, a wrong count, dtype or shape */
#define EMBER_ERROR_FILE 2             /* the file cannot be read or is not a valid model */
#define EMBER_ERROR_UNSUPPORTED 3      /* this machine cannot run the model's code */
#define EMBER_ERROR_GUARD 4            /* the inputs take a path the model was not traced for */
#define EMBER_ERROR_RUNTIME 5          /* running failed (out of memory, an op's error) */

int ember_model_load(const char* path, ember_model** out);                /* 0 on success */
int ember_model_run(ember_model* model, const ember_tensor* in, int n_in, /* outputs: shape and */
                    ember_tensor* out, int n_out); /* data allocated by the runtime */
void ember_tensor_free(ember_tensor* tensor);
void ember_model_free(ember_model* model);
const char* ember_last_error(void); /* this thread's last failure, in words */

/* What a loaded model takes and returns: counts, and input i's name (valid while the model is).
 * Not in DESIGN.md's first draft of the ABI; tools such as ember-run need them. */
int ember_model_num_inputs(const ember_model* model);
int ember_model_num_outputs(const ember_model* model);
const char* ember_model_input_name(const ember_model* model, int i);

#ifdef __cplusplus
}
#endif

#endif /* EMBER_AOT_RUNTIME_H */
