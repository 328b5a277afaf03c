// The standalone runtime of exported models: the C ABI of <ember/aot_runtime.h> over a model file
// (codegen/model_file.h), an ExecutablePlan whose backend is the file's machine code (a shared
// object loaded from memory), and the eager kernels for node steps. Built into
// libember_aot_runtime.so with the runtime, IR and plan layers' objects, no LLVM and no oneDNN;
// only the C functions are exported.
#include "ember/aot_runtime.h"

#include <dlfcn.h>
#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "aot/abi_dtypes.h"
#include "codegen/model_file.h"
#include "ember/codegen/backend.h"
#include "ember/codegen/plan.h"
#include "ember/ir/interpreter.h"
#include "ember/runtime/checked.h"
#include "ember/runtime/kernels.h"

namespace {

using namespace ember;

thread_local std::string last_error;

struct Failure {
  int code;
  std::string message;
};

int fail(int code, std::string message) {
  last_error = std::move(message);
  return code;
}

// Runs body, turning every exception into an error code and this thread's message.
template <class F>
int guarded(const char* what, F&& body) {
  try {
    body();
    return EMBER_OK;
  } catch (const Failure& f) {
    return fail(f.code, std::string(what) + ": " + f.message);
  } catch (const ir::GuardFailure& e) {
    return fail(EMBER_ERROR_GUARD, std::string(what) +
                                       ": the inputs take a path the model was not exported for (" +
                                       e.what() + ")");
  } catch (const std::bad_alloc&) {
    return fail(EMBER_ERROR_RUNTIME, std::string(what) + ": out of memory");
  } catch (const OutOfMemoryError& e) {
    return fail(EMBER_ERROR_RUNTIME, std::string(what) + ": " + e.what());
  } catch (const std::exception& e) {
    return fail(EMBER_ERROR_RUNTIME, std::string(what) + ": " + e.what());
  } catch (...) {
    return fail(EMBER_ERROR_RUNTIME, std::string(what) + ": an unknown error");
  }
}

[[noreturn]] void raise(int code, std::string message) { throw Failure{code, std::move(message)}; }

ember_dtype abi_dtype(DType d) {
  if (std::optional<ember_dtype> a = aot::to_abi(d)) return *a;
  raise(EMBER_ERROR_RUNTIME, std::string("an output of dtype ") + dtype_name(d));
}

// Whether this CPU has a feature LLVM's target string names; unknown names are not checked
// (nullopt).
std::optional<bool> cpu_has(const std::string& f) {
  __builtin_cpu_init();
#define EMBER_FEATURE(llvm_name, gcc_name) \
  if (f == llvm_name) return bool(__builtin_cpu_supports(gcc_name));
  EMBER_FEATURE("sse4.2", "sse4.2")
  EMBER_FEATURE("avx", "avx")
  EMBER_FEATURE("avx2", "avx2")
  EMBER_FEATURE("fma", "fma")
  EMBER_FEATURE("f16c", "f16c")
  EMBER_FEATURE("bmi", "bmi")
  EMBER_FEATURE("bmi2", "bmi2")
  EMBER_FEATURE("avx512f", "avx512f")
  EMBER_FEATURE("avx512bw", "avx512bw")
  EMBER_FEATURE("avx512dq", "avx512dq")
  EMBER_FEATURE("avx512vl", "avx512vl")
  EMBER_FEATURE("avx512cd", "avx512cd")
  EMBER_FEATURE("avx512vnni", "avx512vnni")
  EMBER_FEATURE("avx512bf16", "avx512bf16")
  EMBER_FEATURE("avx512fp16", "avx512fp16")
#undef EMBER_FEATURE
  return std::nullopt;
}

// The file's shared object, loaded from memory (a memfd), or from a temporary file where memfd
// is not available. Checked to be a 64-bit x86-64 ELF shared object first. The memfd stays open
// while the code is loaded (*memfd, closed after dlclose): the loader knows libraries by path,
// and /proc/self/fd/N must not name another model's code while this one is loaded.
void* load_code(const std::string& code, int* memfd) {
  EMBER_CHECK(code.size() >= sizeof(Elf64_Ehdr), ValueError, "the code section is too short");
  Elf64_Ehdr h;
  std::memcpy(&h, code.data(), sizeof h);
  if (std::memcmp(h.e_ident, ELFMAG, SELFMAG) != 0 || h.e_ident[EI_CLASS] != ELFCLASS64 ||
      h.e_type != ET_DYN)
    raise(EMBER_ERROR_FILE, "the code section is not a 64-bit ELF shared object");
  if (h.e_machine != EM_X86_64)
    raise(EMBER_ERROR_UNSUPPORTED, "the machine code is not for x86-64");
  std::string where;
  int fd = int(syscall(SYS_memfd_create, "ember-model", 1u /* MFD_CLOEXEC */));
  std::string temp;
  if (fd >= 0) {
    where = "/proc/self/fd/" + std::to_string(fd);
  } else {
    const char* tmp = std::getenv("TMPDIR");
    temp = std::string(tmp && *tmp ? tmp : "/tmp") + "/ember-model-XXXXXX";
    fd = mkstemp(temp.data());
    EMBER_CHECK(fd >= 0, Error, "cannot make a file for the machine code: ", std::strerror(errno));
    where = temp;
  }
  size_t done = 0;
  while (done < code.size()) {
    const ssize_t n = write(fd, code.data() + done, code.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      if (!temp.empty()) unlink(temp.c_str());
      throw Error(std::string("cannot write the machine code: ") + std::strerror(errno));
    }
    done += size_t(n);
  }
  void* handle = dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL);
  const char* why = handle ? nullptr : dlerror();
  if (!temp.empty()) {
    unlink(temp.c_str());
    close(fd);
  } else if (handle) {
    *memfd = fd;
  } else {
    close(fd);
  }
  if (!handle) raise(EMBER_ERROR_FILE, std::string("cannot load the machine code: ") + why);
  return handle;
}

// The file's kernels as a backend: each kernel step's entry point is a symbol of the shared
// object; a kernel without one runs as its node steps.
class ModelBackend final : public codegen::Backend {
 public:
  ModelBackend(void* handle, std::unordered_map<std::string, std::string> symbols)
      : handle_(handle), symbols_(std::move(symbols)) {}
  const char* name() const override { return "exported model"; }
  std::optional<std::string> unsupported(const codegen::KernelIR& kernel) const override {
    if (symbols_.count(kernel.text())) return std::nullopt;
    return "the file has no machine code for " + kernel.name;
  }
  std::shared_ptr<codegen::TieredKernel> compile(const codegen::KernelIR& kernel,
                                                 const codegen::KernelCacheOptions&) override {
    const std::string& symbol = symbols_.at(kernel.text());
    void* address = handle_ ? dlsym(handle_, symbol.c_str()) : nullptr;
    if (!address)
      throw BackendError(name(), kernel.name, "the machine code has no symbol " + symbol);
    auto handle = std::make_shared<codegen::TieredKernel>();
    handle->set(uint64_t(reinterpret_cast<uintptr_t>(address)), true);
    return handle;
  }
  std::string binary(const codegen::KernelIR& kernel, const codegen::KernelCacheOptions&) override {
    throw BackendError(name(), kernel.name, "an exported model compiles nothing");
  }
  std::shared_ptr<codegen::TieredKernel> load(const codegen::KernelIR& kernel,
                                              std::string_view) override {
    throw BackendError(name(), kernel.name, "an exported model loads no other code");
  }
  void launch(const codegen::TieredKernel& compiled, const codegen::KernelIR& kernel,
              const Array* const* buffers, size_t num_buffers, IntArrayRef domain,
              int64_t reduced) override {
    codegen::launch_host_kernel(compiled, kernel, buffers, num_buffers, domain, reduced);
  }

 private:
  void* handle_;
  std::unordered_map<std::string, std::string> symbols_;
};

}  // namespace

struct ember_model {
  std::string name;
  std::vector<std::string> input_names;
  std::vector<codegen::Plan::InputType> inputs;  // the user's
  std::vector<Array> weights;
  size_t num_outputs = 0;
  void* handle = nullptr;
  int memfd = -1;
  std::unique_ptr<ModelBackend> backend;
  std::unique_ptr<codegen::ExecutablePlan> plan;
  ~ember_model() {
    plan.reset();
    if (handle) dlclose(handle);
    if (memfd >= 0) close(memfd);
  }
};

namespace {

std::unique_ptr<ember_model> load_model(const char* path) {
  if (!path) raise(EMBER_ERROR_INVALID_ARGUMENT, "the path is null");
  std::ifstream in(path, std::ios::binary);
  if (!in) raise(EMBER_ERROR_FILE, std::string("cannot open ") + path);
  std::ostringstream os;
  os << in.rdbuf();
  const std::string bytes = os.str();
  codegen::ModelFile file;
  codegen::Plan plan;
  try {
    file = codegen::ModelFile::parse(bytes);
    plan = codegen::Plan::deserialize(file.plan);
  } catch (const ValueError& e) {
    raise(EMBER_ERROR_FILE, std::string(path) + ": " + e.what());
  }
  for (const std::string& f : file.cpu_features)
    if (cpu_has(f) == false)
      raise(EMBER_ERROR_UNSUPPORTED, std::string(path) + ": its machine code was compiled for " +
                                         file.target + " and needs the CPU feature " + f +
                                         ", which this CPU lacks");
  auto model = std::make_unique<ember_model>();
  model->name = file.name;
  model->input_names = file.input_names;
  const size_t n = file.input_names.size();
  if (plan.inputs.size() != n + file.weights.size())
    raise(EMBER_ERROR_FILE, std::string(path) + ": the plan takes " +
                                std::to_string(plan.inputs.size()) + " inputs, the file gives " +
                                std::to_string(n) + " inputs and " +
                                std::to_string(file.weights.size()) + " weights");
  model->inputs.assign(plan.inputs.begin(), plan.inputs.begin() + long(n));
  for (size_t w = 0; w < file.weights.size(); ++w) {
    const codegen::ModelFile::Weight& t = file.weights[w];
    const codegen::Plan::InputType& want = plan.inputs[n + w];
    const Shape sizes(t.sizes);
    if (t.dtype != want.dtype || !ir::is_static(want.shape) ||
        ir::evaluate_shape(want.shape) != sizes)
      raise(EMBER_ERROR_FILE, std::string(path) + ": weight " + std::to_string(w) +
                                  " does not have the type the plan reads");
    Array a = Array::empty(sizes, t.dtype);
    if (!t.data.empty()) std::memcpy(a.data(), t.data.data(), t.data.size());
    model->weights.push_back(std::move(a));
  }
  model->num_outputs = plan.outputs.size();
  std::unordered_map<std::string, std::string> symbols;
  for (const auto& [step, symbol] : file.kernels) {
    if (step >= plan.steps.size() || plan.steps[step].kind == codegen::Plan::Step::Kind::Node)
      raise(EMBER_ERROR_FILE, std::string(path) + ": machine code for step " +
                                  std::to_string(step) + ", which is not a kernel step");
    symbols[plan.steps[step].kernel.text()] = symbol;
  }
  if (!file.kernels.empty()) model->handle = load_code(file.code, &model->memfd);
  model->backend = std::make_unique<ModelBackend>(model->handle, std::move(symbols));
  codegen::KernelCacheOptions no_cache;
  no_cache.disk = false;
  no_cache.tiered = false;
  model->plan =
      std::make_unique<codegen::ExecutablePlan>(std::move(plan), *model->backend, no_cache);
  return model;
}

std::string sizes_text(const Shape& sizes) {
  std::ostringstream os;
  os << shape_str(sizes);
  return os.str();
}

std::string describe_input(const ember_model& m, size_t i) {
  return "input " + std::to_string(i) + " ('" + m.input_names[i] + "', " +
         std::string(dtype_name(m.inputs[i].dtype)) + ir::shape_text(m.inputs[i].shape) + ")";
}

void run_model(ember_model* m, const ember_tensor* in, int n_in, ember_tensor* out, int n_out) {
  if (!m) raise(EMBER_ERROR_INVALID_ARGUMENT, "the model is null");
  if (n_in < 0 || size_t(n_in) != m->inputs.size() || (n_in > 0 && !in))
    raise(EMBER_ERROR_INVALID_ARGUMENT, "the model takes " + std::to_string(m->inputs.size()) +
                                            " inputs, got " + std::to_string(n_in));
  if (n_out < 0 || size_t(n_out) != m->num_outputs || (n_out > 0 && !out))
    raise(EMBER_ERROR_INVALID_ARGUMENT, "the model returns " + std::to_string(m->num_outputs) +
                                            " outputs, room for " + std::to_string(n_out) +
                                            " was given");
  std::vector<Array> inputs;
  for (size_t i = 0; i < size_t(n_in); ++i) {
    const ember_tensor& t = in[i];
    const codegen::Plan::InputType& want = m->inputs[i];
    const std::optional<DType> dtype = aot::from_abi(int(t.dtype));
    if (dtype != want.dtype)
      raise(EMBER_ERROR_INVALID_ARGUMENT,
            describe_input(*m, i) + ": got dtype " +
                (dtype ? std::string(dtype_name(*dtype)) : std::string("(not an ember_dtype)")));
    if (t.ndim < 0 || size_t(t.ndim) != want.shape.size() || (t.ndim > 0 && !t.shape))
      raise(EMBER_ERROR_INVALID_ARGUMENT,
            describe_input(*m, i) + ": got " + std::to_string(t.ndim) + " dims");
    Shape sizes(std::vector<int64_t>(t.shape, t.shape + t.ndim));
    int64_t numel = 1;
    for (size_t d = 0; d < sizes.size(); ++d) {
      const bool dynamic = !want.shape[d].is_constant();
      if (sizes[d] < 0 || (dynamic && sizes[d] < 2) ||
          (!dynamic && sizes[d] != want.shape[d].value()))
        raise(EMBER_ERROR_INVALID_ARGUMENT,
              describe_input(*m, i) + ": got shape " + sizes_text(sizes) + "; dim " +
                  std::to_string(d) +
                  (dynamic ? " is dynamic and takes sizes >= 2" : " is fixed at export"));
      numel = checked_mul(numel, sizes[d], "ember_model_run");
    }
    if (numel > 0 && !t.data)
      raise(EMBER_ERROR_INVALID_ARGUMENT, describe_input(*m, i) + ": data is null");
    const size_t nbytes = size_t(numel) * itemsize(want.dtype);
    auto storage = Storage::wrap(t.data, nbytes, Device());
    inputs.emplace_back(std::move(storage), want.dtype, sizes, contiguous_strides(sizes), 0);
  }
  for (const Array& w : m->weights) inputs.push_back(w);
  std::vector<Array> results;
  try {
    results = m->plan->run(std::move(inputs));
  } catch (const ValueError& e) {
    // Shared sizes (two dims of one symbol) that differ: the plan's binding says which.
    raise(EMBER_ERROR_INVALID_ARGUMENT, e.what());
  }
  std::vector<ember_tensor> made(results.size(), ember_tensor{EMBER_F32, 0, nullptr, nullptr});
  try {
    for (size_t o = 0; o < results.size(); ++o) {
      const Array c = kernels::contiguous(results[o]);
      ember_tensor& t = made[o];
      t.dtype = abi_dtype(c.dtype());
      t.ndim = int32_t(c.dim());
      t.shape = static_cast<int64_t*>(
          std::malloc(sizeof(int64_t) * size_t(std::max<int64_t>(c.dim(), 1))));
      const size_t nbytes = size_t(c.numel()) * c.itemsize();
      t.data = std::malloc(std::max<size_t>(nbytes, 1));
      if (!t.shape || !t.data) throw std::bad_alloc();
      for (int64_t d = 0; d < c.dim(); ++d) t.shape[d] = c.size(d);
      if (nbytes) std::memcpy(t.data, c.data(), nbytes);
    }
  } catch (...) {
    for (ember_tensor& t : made) ember_tensor_free(&t);
    throw;
  }
  for (size_t o = 0; o < made.size(); ++o) out[o] = made[o];
}

}  // namespace

extern "C" {

int ember_model_load(const char* path, ember_model** out) {
  if (!out) return fail(EMBER_ERROR_INVALID_ARGUMENT, "ember_model_load: out is null");
  *out = nullptr;
  std::unique_ptr<ember_model> model;
  const int rc = guarded("ember_model_load", [&] { model = load_model(path); });
  if (rc == EMBER_OK) *out = model.release();
  return rc;
}

int ember_model_run(ember_model* model, const ember_tensor* in, int n_in, ember_tensor* out,
                    int n_out) {
  return guarded("ember_model_run", [&] { run_model(model, in, n_in, out, n_out); });
}

void ember_tensor_free(ember_tensor* tensor) {
  if (!tensor) return;
  std::free(tensor->shape);
  std::free(tensor->data);
  tensor->shape = nullptr;
  tensor->data = nullptr;
  tensor->ndim = 0;
}

void ember_model_free(ember_model* model) { delete model; }

const char* ember_last_error(void) { return last_error.c_str(); }

int ember_model_num_inputs(const ember_model* model) {
  return model ? int(model->inputs.size()) : -1;
}
int ember_model_num_outputs(const ember_model* model) {
  return model ? int(model->num_outputs) : -1;
}
const char* ember_model_input_name(const ember_model* model, int i) {
  if (!model || i < 0 || size_t(i) >= model->input_names.size()) return nullptr;
  return model->input_names[size_t(i)].c_str();
}

}  // extern "C"
