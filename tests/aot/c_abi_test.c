/* A C program linked only against Ember::aot_runtime: runs the exported MLP and attention block
 * (written by aot_fixtures) at three batch sizes against eager Ember's outputs, and checks the
 * error codes and messages for a wrong shape, a wrong dtype, and truncated, bit-flipped and
 * version-mismatched files. Usage: aot_c_test DIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/aot_runtime.h"

static int failures = 0;
#define CHECK(cond, ...)                                     \
  do {                                                       \
    if (!(cond)) {                                           \
      fprintf(stderr, "FAILED %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                          \
      fprintf(stderr, "\n");                                 \
      ++failures;                                            \
    }                                                        \
  } while (0)

static char* read_all(const char* path, long* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* data = malloc((size_t)*size + 1);
  if (fread(data, 1, (size_t)*size, f) != (size_t)*size) *size = -1;
  fclose(f);
  return data;
}

static void write_all(const char* path, const char* data, long size) {
  FILE* f = fopen(path, "wb");
  fwrite(data, 1, (size_t)size, f);
  fclose(f);
}

/* Runs dir/<name>.ember on <name>_in_<batch>.bin and compares with <name>_out_<batch>.bin. */
static void run_case(const char* dir, const char* name, ember_model* m, int64_t batch,
                     const int64_t* rest, int rest_dims) {
  char path[1024];
  long in_size = 0, want_size = 0;
  snprintf(path, sizeof path, "%s/%s_in_%lld.bin", dir, name, (long long)batch);
  float* in_data = (float*)read_all(path, &in_size);
  snprintf(path, sizeof path, "%s/%s_out_%lld.bin", dir, name, (long long)batch);
  float* want = (float*)read_all(path, &want_size);
  CHECK(in_data && want, "cannot read the fixtures for %s batch %lld", name, (long long)batch);
  if (!in_data || !want) return;
  int64_t shape[4] = {batch, 0, 0, 0};
  for (int d = 0; d < rest_dims; ++d) shape[d + 1] = rest[d];
  ember_tensor in = {EMBER_F32, rest_dims + 1, shape, in_data};
  ember_tensor out;
  const int rc = ember_model_run(m, &in, 1, &out, 1);
  CHECK(rc == EMBER_OK, "%s batch %lld: %s", name, (long long)batch, ember_last_error());
  if (rc == EMBER_OK) {
    long n = 1;
    for (int d = 0; d < out.ndim; ++d) n *= (long)out.shape[d];
    CHECK(out.dtype == EMBER_F32 && out.shape[0] == batch && n * 4 == want_size,
          "%s batch %lld: output of %ld elements", name, (long long)batch, n);
    double worst = 0;
    for (long i = 0; i < n && n * 4 == want_size; ++i) {
      const double d = fabs((double)((float*)out.data)[i] - (double)want[i]);
      if (d > worst) worst = d;
    }
    CHECK(worst <= 1e-4, "%s batch %lld: differs from eager by %g", name, (long long)batch, worst);
    printf("%s batch %lld: max difference from eager %g\n", name, (long long)batch, worst);
    ember_tensor_free(&out);
  }
  free(in_data);
  free(want);
}

static void expect_load_error(const char* path, int code, const char* words) {
  ember_model* m = NULL;
  const int rc = ember_model_load(path, &m);
  CHECK(rc == code && m == NULL, "loading %s: code %d, expected %d", path, rc, code);
  CHECK(strstr(ember_last_error(), words) != NULL, "loading %s: message '%s' lacks '%s'", path,
        ember_last_error(), words);
  printf("%s: %s\n", path, ember_last_error());
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: aot_c_test DIR\n");
    return 2;
  }
  const char* dir = argv[1];
  char path[1024];
  const int64_t mlp_rest[1] = {24}, attention_rest[2] = {12, 16};
  const int64_t batches[3] = {3, 8, 17};
  for (int which = 0; which < 2; ++which) {
    const char* name = which == 0 ? "mlp" : "attention";
    snprintf(path, sizeof path, "%s/%s.ember", dir, name);
    ember_model* m = NULL;
    const int rc = ember_model_load(path, &m);
    CHECK(rc == EMBER_OK, "loading %s: %s", path, ember_last_error());
    if (rc != EMBER_OK) continue;
    CHECK(ember_model_num_inputs(m) == 1 && ember_model_num_outputs(m) == 1, "%s: counts", name);
    for (int b = 0; b < 3; ++b)
      run_case(dir, name, m, batches[b], which == 0 ? mlp_rest : attention_rest, which + 1);
    if (which == 0) {
      /* A wrong fixed size, a wrong rank, a wrong dtype, a dynamic size below 2, wrong counts. */
      float data[3 * 25];
      int64_t shape[2] = {3, 25};
      ember_tensor in = {EMBER_F32, 2, shape, data}, out;
      CHECK(ember_model_run(m, &in, 1, &out, 1) == EMBER_ERROR_INVALID_ARGUMENT &&
                strstr(ember_last_error(), "dim 1 is fixed at export"),
            "wrong size: %s", ember_last_error());
      printf("wrong size: %s\n", ember_last_error());
      in.ndim = 1;
      CHECK(ember_model_run(m, &in, 1, &out, 1) == EMBER_ERROR_INVALID_ARGUMENT &&
                strstr(ember_last_error(), "got 1 dims"),
            "wrong rank: %s", ember_last_error());
      in.ndim = 2;
      shape[1] = 24;
      in.dtype = EMBER_F64;
      CHECK(ember_model_run(m, &in, 1, &out, 1) == EMBER_ERROR_INVALID_ARGUMENT &&
                strstr(ember_last_error(), "got dtype float64"),
            "wrong dtype: %s", ember_last_error());
      printf("wrong dtype: %s\n", ember_last_error());
      in.dtype = EMBER_F32;
      shape[0] = 1;
      CHECK(ember_model_run(m, &in, 1, &out, 1) == EMBER_ERROR_INVALID_ARGUMENT &&
                strstr(ember_last_error(), "takes sizes >= 2"),
            "batch 1: %s", ember_last_error());
      shape[0] = 3;
      CHECK(ember_model_run(m, &in, 2, &out, 1) == EMBER_ERROR_INVALID_ARGUMENT, "two inputs: %s",
            ember_last_error());
      CHECK(ember_model_run(m, &in, 1, NULL, 1) == EMBER_ERROR_INVALID_ARGUMENT,
            "no room for outputs: %s", ember_last_error());
    }
    ember_model_free(m);
  }

  /* Damaged files: truncated, one bit flipped (in the header, the table, the plan and the
   * code), and another version. */
  snprintf(path, sizeof path, "%s/mlp.ember", dir);
  long size = 0;
  char* file = read_all(path, &size);
  CHECK(file && size > 4096, "cannot read %s", path);
  if (!file) return 1;
  char damaged[1024];
  snprintf(damaged, sizeof damaged, "%s/damaged.ember", dir);
  const long cuts[4] = {0, 10, 100, size - 1};
  for (int i = 0; i < 4; ++i) {
    write_all(damaged, file, cuts[i]);
    expect_load_error(damaged, EMBER_ERROR_FILE,
                      cuts[i] < 24 ? "truncated" : "corrupt or truncated");
  }
  const long flips[5] = {3, 30, 200, size / 2, size - 2};
  for (int i = 0; i < 5; ++i) {
    file[flips[i]] ^= 0x10;
    write_all(damaged, file, size);
    expect_load_error(damaged, EMBER_ERROR_FILE, flips[i] < 8 ? "bad magic" : "corrupt");
    file[flips[i]] ^= 0x10;
  }
  file[8] = 9; /* the version field */
  write_all(damaged, file, size);
  expect_load_error(damaged, EMBER_ERROR_FILE, "version 9, this runtime reads version 1");
  free(file);
  snprintf(path, sizeof path, "%s/no-such-file.ember", dir);
  expect_load_error(path, EMBER_ERROR_FILE, "cannot open");
  CHECK(ember_model_load(NULL, NULL) == EMBER_ERROR_INVALID_ARGUMENT, "null arguments");
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("all C ABI checks passed\n");
  return failures ? 1 : 0;
}
