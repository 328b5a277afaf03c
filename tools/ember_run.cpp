// ember-run: runs an exported model (ember::export_model) on NumPy .npy inputs, through the
// standalone runtime's C ABI only (it links Ember::aot_runtime, not the tensor library).
//
//   ember-run model.ember --input input0=x.npy [--input name=y.npy ...] [--output out.npy ...]
//             [--bench N] [--threads T]
//
// Prints each output's dtype and shape; --output writes outputs in order; --bench N runs the
// model N more times and prints the median and minimum latency.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "aot/abi_dtypes.h"
#include "ember/aot_runtime.h"
#include "ember/runtime/npy.h"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: ember-run MODEL.ember --input NAME=FILE.npy ... [--output FILE.npy ...] "
               "[--bench N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const char* model_path = argv[1];
  std::map<std::string, std::string> input_files;
  std::vector<std::string> positional_inputs, output_files;
  int bench = 0;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--input" || a == "--output" || a == "--bench") && i + 1 >= argc) return usage();
    if (a == "--input") {
      const std::string v = argv[++i];
      const size_t eq = v.find('=');
      if (eq == std::string::npos)
        positional_inputs.push_back(v);
      else
        input_files[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (a == "--output") {
      output_files.push_back(argv[++i]);
    } else if (a == "--bench") {
      bench = std::atoi(argv[++i]);
    } else {
      return usage();
    }
  }
  ember_model* model = nullptr;
  if (ember_model_load(model_path, &model) != EMBER_OK) {
    std::fprintf(stderr, "ember-run: %s\n", ember_last_error());
    return 1;
  }
  const int n_in = ember_model_num_inputs(model), n_out = ember_model_num_outputs(model);
  std::vector<ember::NpyArray> arrays(static_cast<size_t>(n_in));
  std::vector<ember_tensor> inputs(static_cast<size_t>(n_in));
  try {
    for (int i = 0; i < n_in; ++i) {
      const std::string name = ember_model_input_name(model, i);
      std::string file;
      if (input_files.count(name)) {
        file = input_files[name];
        input_files.erase(name);
      } else if (size_t(i) < positional_inputs.size() && input_files.empty()) {
        file = positional_inputs[size_t(i)];
      } else {
        std::fprintf(stderr, "ember-run: no --input %s=FILE.npy for the model's input %d\n",
                     name.c_str(), i);
        return 2;
      }
      arrays[size_t(i)] = ember::read_npy(file, "ember-run");
      const std::optional<ember_dtype> dtype = ember::aot::to_abi(arrays[size_t(i)].dtype);
      inputs[size_t(i)] = {*dtype, int32_t(arrays[size_t(i)].sizes.size()),
                           arrays[size_t(i)].sizes.data(), arrays[size_t(i)].data.data()};
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  for (const auto& [name, file] : input_files) {
    std::fprintf(stderr, "ember-run: the model has no input named '%s'\n", name.c_str());
    return 2;
  }
  std::vector<ember_tensor> outputs(static_cast<size_t>(n_out));
  if (ember_model_run(model, inputs.data(), n_in, outputs.data(), n_out) != EMBER_OK) {
    std::fprintf(stderr, "ember-run: %s\n", ember_last_error());
    return 1;
  }
  int status = 0;
  for (int o = 0; o < n_out; ++o) {
    const ember_tensor& t = outputs[size_t(o)];
    const ember::DType dtype = *ember::aot::from_abi(int(t.dtype));
    std::printf("output %d: %s[", o, ember::dtype_name(dtype));
    for (int d = 0; d < t.ndim; ++d) std::printf("%s%lld", d ? ", " : "", (long long)t.shape[d]);
    std::printf("]\n");
    if (size_t(o) < output_files.size()) {
      try {
        ember::write_npy(output_files[size_t(o)], dtype,
                         std::vector<int64_t>(t.shape, t.shape + t.ndim), t.data, "ember-run");
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        status = 1;
      }
    }
  }
  for (ember_tensor& t : outputs) ember_tensor_free(&t);
  if (bench > 0) {
    std::vector<double> ms;
    for (int r = 0; r < bench; ++r) {
      const auto start = std::chrono::steady_clock::now();
      if (ember_model_run(model, inputs.data(), n_in, outputs.data(), n_out) != EMBER_OK) {
        std::fprintf(stderr, "ember-run: %s\n", ember_last_error());
        return 1;
      }
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      for (ember_tensor& t : outputs) ember_tensor_free(&t);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("bench: %d runs, median %.4f ms, min %.4f ms\n", bench, ms[ms.size() / 2], ms[0]);
  }
  ember_model_free(model);
  return status;
}
