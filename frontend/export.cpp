// export_model: trace and compile like compile() (PathBuilder, with the dynamic dims the options
// name symbolic), then write the model file: graph, weights, plan, and the kernels' machine code
// linked into one shared object by the system's compiler driver.
#include "ember/frontend/export.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "codegen/model_file.h"
#include "ember/codegen/backend.h"
#include "ember/codegen/llvm_backend.h"
#include "ember/frontend/autograd.h"
#include "ember/ir/mlir.h"
#include "ember/passes/pipeline.h"
#include "ember/runtime/hash.h"
#include "ember/runtime/kernels.h"
#include "ember/runtime/log.h"
#include "frontend/engine/path.h"
#include "frontend/engine/signature.h"

extern char** environ;

namespace ember::detail {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void write_file(const fs::path& p, const std::string& bytes, const char* what) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  EMBER_CHECK(bool(out.flush()), Error, "export_model: cannot write ", what, " ", p.string());
}

// A temporary directory, removed with everything in it when this goes.
struct TempDir {
  fs::path path;
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/ember-export-XXXXXX";
    EMBER_CHECK(mkdtemp(templ.data()) != nullptr, Error,
                "export_model: cannot make a temporary directory (", std::strerror(errno), ")");
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The compiler driver that links the shared object: $EMBER_CC, the C compiler Ember was built
// with, or cc from PATH.
std::string linker_driver() {
  if (const char* cc = std::getenv("EMBER_CC"); cc && *cc) return cc;
#ifdef EMBER_HOST_CC
  if (fs::exists(EMBER_HOST_CC)) return EMBER_HOST_CC;
#endif
  return "cc";
}

// Links objects into a shared object and returns its bytes; Error with the driver's output when
// it fails.
std::string link_shared_object(const std::vector<std::string>& objects, bool libmvec) {
  TempDir dir;
  std::vector<std::string> args = {linker_driver(), "-shared", "-o", (dir.path / "kernels.so")};
  for (size_t i = 0; i < objects.size(); ++i) {
    const fs::path p = dir.path / ("k" + std::to_string(i) + ".o");
    write_file(p, objects[i], "a kernel's object code to");
    args.push_back(p);
  }
  // Kernels call libm (expf, ...) and, vectorized, glibc's libmvec; the stack is never executable.
  if (libmvec) args.push_back("-lmvec");
  for (const char* a : {"-lm", "-Wl,-z,noexecstack", "-Wl,-z,now"}) args.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = dir.path / "link.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EMBER_CHECK(spawned == 0, Error, "export_model: cannot run the linker '", args[0], "' (",
              std::strerror(spawned), "); set EMBER_CC to a C compiler driver");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  EMBER_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, Error,
              "export_model: linking the kernels into a shared object with '", args[0],
              "' failed:\n", read_file(log));
  return read_file(dir.path / "kernels.so");
}

// The call an export traces: fn's arguments as contiguous tensors (the C ABI's; numbers would be
// fixed at export, so they are refused) and the signature with the options' dynamic dims.
struct ExportCall {
  std::vector<CompileArg> args;
  Signature signature;
};
ExportCall export_call(const std::vector<CompileArg>& example_args, const ExportOptions& options,
                       const char* what) {
  ExportCall call;
  std::vector<CompileArg>& args = call.args;
  for (size_t i = 0; i < example_args.size(); ++i) {
    const Tensor* t = std::get_if<Tensor>(&example_args[i]);
    EMBER_CHECK(t != nullptr, ValueError, what, ": argument ", i,
                " is a number; an exported model takes tensors only (capture the number in fn)");
    EMBER_CHECK(t->defined() && !t->is_traced(), ValueError, what, ": argument ", i,
                " is undefined or traced");
    args.push_back(t->detach().contiguous());
  }
  EMBER_CHECK(options.input_names.empty() || options.input_names.size() == args.size(), ValueError,
              what, ": ", options.input_names.size(), " input names for ", args.size(), " inputs");
  std::vector<std::vector<bool>> symbolic(args.size());
  for (size_t i = 0; i < args.size(); ++i)
    symbolic[i].assign(size_t(std::get<Tensor>(args[i]).dim()), false);
  for (const auto& [input, dim] : options.dynamic_dims) {
    EMBER_CHECK(input >= 0 && size_t(input) < args.size(), IndexError, what,
                ": a dynamic dim names input ", input, " of ", args.size());
    const Tensor& t = std::get<Tensor>(args[size_t(input)]);
    EMBER_CHECK(dim >= 0 && dim < t.dim(), IndexError, what, ": input ", input, " has no dim ", dim,
                " (its shape is ", shape_str(t.sizes()), ")");
    EMBER_CHECK(t.size(dim) >= 2, ValueError, what, ": input ", input, " dim ", dim,
                " is dynamic but its example size is ", t.size(dim),
                " (give an example of size >= 2)");
    symbolic[size_t(input)][size_t(dim)] = true;
  }
  call.signature = make_signature(args, symbolic);
  return call;
}

// What an exported model cannot do: draw random numbers, write to tensors that outlive it, read
// numbers from the host on every call.
void check_exportable(const TracedGraph& traced, const ExportOptions& options, const char* what) {
  EMBER_CHECK(traced.rng_states.empty(), ValueError, what, ": ", options.name,
              " draws random numbers; an exported model cannot (yet)");
  EMBER_CHECK(traced.writes.empty(), ValueError, what, ": ", options.name,
              " writes to a captured tensor or an argument; an exported model cannot");
  EMBER_CHECK(traced.host_scalars.empty(), ValueError, what, ": ", options.name,
              " reads numbers from the host on every call; an exported model cannot");
}

std::string input_name(const ExportOptions& options, size_t i) {
  return options.input_names.empty() ? "input" + std::to_string(i) : options.input_names[i];
}

}  // namespace

void export_model(const std::vector<CompileArg>& example_args, Body body, const std::string& path,
                  const ExportOptions& options) {
  const ExportCall call = export_call(example_args, options, "export_model");
  const std::vector<CompileArg>& args = call.args;
  NoGradGuard no_grad;  // an exported model is for inference
  codegen::KernelCacheOptions cache;
  cache.tiered = false;
  PathBuilder builder(options.name, cache);
  CompileStats stats;
  const std::shared_ptr<Path> built = builder.build(args, call.signature, body, stats);
  const TracedGraph& traced = built->traced;
  check_exportable(traced, options, "export_model");
  const codegen::Plan& plan = built->plan->plan();
  EMBER_CHECK(plan.inputs.size() == args.size() + traced.params.size(), InternalError,
              "export_model: the plan has ", plan.inputs.size(), " inputs for ", args.size(),
              " arguments and ", traced.params.size(), " captured tensors");

  codegen::ModelFile file;
  file.name = options.name;
  for (size_t i = 0; i < args.size(); ++i) file.input_names.push_back(input_name(options, i));
  file.graph = ir::print(*traced.graph);
  file.plan = plan.serialize();
  for (const Tensor& p : traced.params) {
    const Array a = kernels::contiguous(p.array());
    codegen::ModelFile::Weight w;
    w.dtype = a.dtype();
    w.sizes.assign(a.sizes().begin(), a.sizes().end());
    w.data.assign(a.data(), size_t(a.numel()) * a.itemsize());
    file.weights.push_back(std::move(w));
  }
  // Every kernel the CPU backend covers, as position-independent code; one it refuses runs as
  // its node steps in the runtime too.
  const codegen::HostTarget host = codegen::host_target();
  file.target = host.description;
  file.cpu_features = host.features;
  std::vector<std::string> objects;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const codegen::Plan::Step& s = plan.steps[i];
    if (s.kind == codegen::Plan::Step::Kind::Node) continue;
    if (codegen::cpu_backend().unsupported(s.kernel)) continue;
    const std::string symbol =
        "ember_aot_" + std::to_string(i) + "_" + codegen::hex64(fnv1a64(s.kernel.text()));
    try {
      objects.push_back(codegen::export_object(s.kernel, symbol));
    } catch (const BackendError& e) {
      if (log_enabled("kernels"))
        log_message("kernels", "export: " + s.kernel.name + " runs as nodes: " + e.what());
      continue;
    }
    file.kernels.push_back({i, symbol});
  }
  if (!objects.empty()) file.code = link_shared_object(objects, host.libmvec);
  // Written whole or not at all.
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  write_file(tmp, file.serialize(), "the model file");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp);
  EMBER_CHECK(!ec, Error, "export_model: cannot write ", path, " (", ec.message(), ")");
}

std::string export_mlir(const std::vector<CompileArg>& example_args, Body body,
                        const ExportOptions& options) {
  const ExportCall call = export_call(example_args, options, "export_mlir");
  NoGradGuard no_grad;
  PathBuilder builder(options.name, codegen::KernelCacheOptions{});
  CompileStats stats;
  const TracedGraph traced = builder.trace_checked(call.args, call.signature, body, stats);
  check_exportable(traced, options, "export_mlir");
  passes::run_pipeline_without_fusion(*traced.graph);
  ir::MlirOptions mlir;
  for (const Tensor& p : traced.params) mlir.params.push_back(kernels::contiguous(p.array()));
  for (size_t i = 0; i < call.args.size(); ++i) mlir.arg_names.push_back(input_name(options, i));
  return ir::to_mlir(*traced.graph, mlir);
}

}  // namespace ember::detail
