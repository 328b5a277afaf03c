#include "ember/codegen/llvm_backend.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "codegen/llvm_expr.h"
#include "codegen/llvm_loops.h"
#include "ember/codegen/backend.h"
#include "ember/codegen/disk_cache.h"
#include "ember/codegen/legalize.h"
#include "ember/codegen/plan.h"
#include "ember/runtime/hash.h"
#include "ember/runtime/log.h"

namespace ember::codegen {
namespace {

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

// The process-wide JIT, with an O3 pipeline for the host CPU on every module.
class Jit {
 public:
  static Jit& instance() {
    static Jit jit;
    return jit;
  }

  // quick: LLVM O1 and fast instruction selection, kept in memory only (the first tier).
  llvm::orc::ExecutorAddr compile(const KernelIR& k, const KernelCacheOptions& options,
                                  bool quick = false);
  // The optimized object code of k (from the disk cache, or emitted and stored), not linked; and
  // object code of k linked in (a no-op when k is already), for binaries made elsewhere.
  std::string binary(const KernelIR& k, const KernelCacheOptions& options);
  llvm::orc::ExecutorAddr load(const KernelIR& k, std::string_view object);
  // Whether the optimized kernel is in memory or (as a file, not yet checked) on disk.
  bool has_optimized(const KernelIR& k, const KernelCacheOptions& options);
  // Runs task on the background compile thread.
  void background(std::function<void()> task);
  void wait_for_background();
  int64_t compiles() const { return compiles_.load(); }
  int64_t quick_compiles() const { return quick_compiles_.load(); }
  int64_t disk_hits() const { return disk_hits_.load(); }
  // An exported model's object code (position-independent) and the target it is for.
  std::string pic_object(const KernelIR& k, const std::string& symbol) {
    return emit_object(k, symbol, false, true);
  }
  HostTarget host() const {
    HostTarget h;
    h.description =
        target_machine_->getTargetTriple().str() + " " + target_machine_->getTargetCPU().str();
    std::stringstream features(target_machine_->getTargetFeatureString().str());
    for (std::string f; std::getline(features, f, ',');)
      if (f.size() > 1 && f[0] == '+') h.features.push_back(f.substr(1));
    h.libmvec = have_libmvec_;
    return h;
  }

 private:
  Jit() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb)
      throw BackendError("llvm", "", "cannot describe the host: " + error_text(jtmb.takeError()));
    jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    jtmb_ = *jtmb;
    auto tm = jtmb->createTargetMachine();
    if (!tm) throw BackendError("llvm", "", error_text(tm.takeError()));
    target_machine_ = std::move(*tm);
    auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*jtmb)).create();
    if (!jit)
      throw BackendError("llvm", "", "cannot create the JIT: " + error_text(jit.takeError()));
    jit_ = std::move(*jit);
    // libm's functions (expf, erff, ...) come from the process.
    auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit_->getDataLayout().getGlobalPrefix());
    if (!gen) throw BackendError("llvm", "", error_text(gen.takeError()));
    jit_->getMainJITDylib().addGenerator(std::move(*gen));
    // The vector math functions the vectorizer calls; without them (an older glibc) the
    // vectorizer is simply not told about them.
    have_libmvec_ = !llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
    // What object code depends on besides the kernel: the target, the compiler, and this
    // backend's code (its build time, so a rebuilt backend never reuses stale object code).
    target_id_ = "target " + target_machine_->getTargetTriple().str() + " " +
                 target_machine_->getTargetCPU().str() + " " +
                 target_machine_->getTargetFeatureString().str() + " libmvec " +
                 std::to_string(have_libmvec_) +
                 "\nllvm " LLVM_VERSION_STRING "\nember " EMBER_VERSION_STRING
                 " codegen built " __DATE__ " " __TIME__ "\n";
  }

  ~Jit() { stop_background(); }
  // Stops the background thread: what is queued is dropped, the task running finishes.
  void stop_background() {
    {
      std::lock_guard<std::mutex> lock(background_mutex_);
      stop_ = true;
      tasks_.clear();
    }
    background_cv_.notify_all();
    if (background_thread_.joinable()) background_thread_.join();
  }

  // Links object code for k under its symbol; mutex_ held.
  llvm::orc::ExecutorAddr link(const KernelIR& k, const std::string& key, const std::string& symbol,
                               std::string_view object);
  // LLVM IR -> optimized -> object code.
  std::string emit_object(const KernelIR& k, const std::string& symbol, bool quick,
                          bool pic = false);
  std::string key_of(const KernelIR& k, bool quick) const {
    return k.text() + target_id_ + (quick ? "tier quick\n" : "");
  }
  DiskCache disk_cache(const KernelCacheOptions& options) const {
    return DiskCache("cpu", "o", options);
  }

  // A target machine for this thread: kernels compile concurrently, and a TargetMachine is not
  // safe to share between threads that emit code.
  // The quick tier's selects instructions without optimizing (-O0 code generation).
  // An exported model's is position-independent, with the small code model: its objects are
  // linked into a shared object.
  llvm::TargetMachine& thread_target_machine(bool quick, bool pic = false) {
    thread_local std::unique_ptr<llvm::TargetMachine> tm[3];
    std::unique_ptr<llvm::TargetMachine>& t = tm[pic ? 2 : quick];
    if (!t) {
      std::lock_guard<std::mutex> lock(mutex_);
      llvm::orc::JITTargetMachineBuilder builder = *jtmb_;
      if (quick) builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::None);
      if (pic) {
        builder.setRelocationModel(llvm::Reloc::PIC_);
        builder.setCodeModel(llvm::CodeModel::Small);
      }
      auto made = builder.createTargetMachine();
      if (!made) throw BackendError("llvm", "", error_text(made.takeError()));
      t = std::move(*made);
    }
    return *t;
  }

  void optimize(llvm::Module& m, llvm::TargetMachine& target, bool quick) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    // glibc's libmvec gives the vectorizer vector versions of expf, logf, erff, tanhf, ...
    llvm::TargetLibraryInfoImpl tlii(target.getTargetTriple());
    if (have_libmvec_)
      tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                              target.getTargetTriple());
    fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
    llvm::PassBuilder pb(&target);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(quick ? llvm::OptimizationLevel::O1
                                           : llvm::OptimizationLevel::O2)
        .run(m, mam);
  }

  std::mutex mutex_;
  std::optional<llvm::orc::JITTargetMachineBuilder> jtmb_;
  std::unique_ptr<llvm::TargetMachine> target_machine_;  // describes the host (the cache key)
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unordered_map<std::string, llvm::orc::ExecutorAddr> cache_;
  std::unordered_map<std::string, std::string> key_of_symbol_;
  std::unordered_set<std::string> in_flight_;  // being compiled by some thread
  std::condition_variable compiled_cv_;
  std::atomic<int64_t> compiles_{0}, disk_hits_{0}, quick_compiles_{0};
  bool have_libmvec_ = false;
  std::string target_id_;
  // The background compile thread (second tiers); declared last, so joined first on exit.
  std::mutex background_mutex_;
  std::condition_variable background_cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false, busy_ = false;
  std::thread background_thread_;
};

// LLVM's diagnostics for one kernel: remarks and warnings (a loop hint it could not honour) go
// to EMBER_LOG=llvm instead of the user's stderr; errors are kept, and emit_object raises them.
struct Diagnostics {
  std::string errors;
  static void handle(const llvm::DiagnosticInfo* info, void* self) {
    std::string text;
    llvm::raw_string_ostream os(text);
    llvm::DiagnosticPrinterRawOStream printer(os);
    info->print(printer);
    if (info->getSeverity() == llvm::DS_Error)
      static_cast<Diagnostics*>(self)->errors += os.str() + "\n";
    else if (log_enabled("llvm"))
      log_message("llvm", os.str());
  }
};

std::string Jit::emit_object(const KernelIR& k, const std::string& symbol, bool quick, bool pic) {
  llvm::LLVMContext context;
  Diagnostics diagnostics;
  context.setDiagnosticHandlerCallBack(Diagnostics::handle, &diagnostics);
  llvm::Module module("ember", context);
  module.setDataLayout(jit_->getDataLayout());
  llvm::TargetMachine& target = thread_target_machine(quick, pic);
  if (pic) module.setPICLevel(llvm::PICLevel::BigPIC);
  module.setTargetTriple(target.getTargetTriple().str());
  KernelIR named = k;
  named.name = symbol;
  if (k.rows)
    llvm_backend::emit_row_kernel(module, named);
  else
    llvm_backend::emit_kernel(module, named);
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(module, &os))
    throw InternalError("codegen produced invalid LLVM IR for " + k.name + ": " + os.str());
  const auto start = std::chrono::steady_clock::now();
  optimize(module, target, quick);
  const auto optimized = std::chrono::steady_clock::now();
  if (log_enabled("llvm")) {
    std::string text;
    llvm::raw_string_ostream ir_os(text);
    module.print(ir_os, nullptr);
    log_message("llvm", k.name + " (" + symbol + "):\n" + ir_os.str());
  }
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream object_os(object);
  llvm::legacy::PassManager pm;
  if (target.addPassesToEmitFile(pm, object_os, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw BackendError("llvm", k.name, "the target cannot emit object files");
  pm.run(module);
  if (!diagnostics.errors.empty())
    throw BackendError("llvm", k.name, "LLVM reported: " + diagnostics.errors);
  ++(quick ? quick_compiles_ : compiles_);
  if (log_enabled("cache")) {
    using ms = std::chrono::duration<double, std::milli>;
    std::ostringstream msg;
    msg << k.name << (quick ? " (quick tier)" : "") << ": optimized in "
        << ms(optimized - start).count() << " ms, machine code in "
        << ms(std::chrono::steady_clock::now() - optimized).count() << " ms";
    log_message("cache", msg.str());
  }
  return std::string(object.begin(), object.end());
}

bool Jit::has_optimized(const KernelIR& k, const KernelCacheOptions& options) {
  const std::string key = key_of(k, false);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cache_.count(key)) return true;
  }
  return disk_cache(options).contains(key);
}

void Jit::background(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(background_mutex_);
  if (!background_thread_.joinable()) {
    // At exit the thread must stop before static objects it may be using are destroyed:
    // LLVM keeps some in function-local statics (SelectionDAG's extended value types) that
    // exist only once code has been generated. An optimized compile of a small vector kernel
    // here creates them, and the exit hook registered after it runs before their destructors.
    KernelIR warm;
    warm.name = "ember_warm_up";
    warm.buffers = {{DType::Float32, false}, {DType::Float32, true}};
    KernelIR::Expr load{};
    load.kind = KernelIR::ExprKind::Load;
    load.dtype = DType::Float32;
    load.buffer = 0;
    KernelIR::Expr e = load;
    e.kind = KernelIR::ExprKind::Op;
    e.op = ir::Op::Exp;
    e.buffer = -1;
    e.args = {0};
    warm.exprs = {load, e};
    warm.stores = {{1, 1}};
    KernelCacheOptions no_disk;
    no_disk.disk = false;
    compile(warm, no_disk);
    --compiles_;  // not a kernel of the program: the counts stay the program's
    std::atexit([] { Jit::instance().stop_background(); });
    background_thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(background_mutex_);
      for (;;) {
        background_cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (stop_) return;
        std::function<void()> next = std::move(tasks_.front());
        tasks_.pop_front();
        busy_ = true;
        lock.unlock();
        next();
        lock.lock();
        busy_ = false;
        background_cv_.notify_all();
      }
    });
  }
  tasks_.push_back(std::move(task));
  background_cv_.notify_all();
}

void Jit::wait_for_background() {
  std::unique_lock<std::mutex> lock(background_mutex_);
  background_cv_.wait(lock, [this] { return stop_ || (tasks_.empty() && !busy_); });
}

llvm::orc::ExecutorAddr Jit::compile(const KernelIR& k, const KernelCacheOptions& options,
                                     bool quick) {
  const std::string key = key_of(k, quick);
  const bool log = log_enabled("cache");
  const uint64_t hash = fnv1a64(key);
  const std::string symbol = "ember_kernel_" + hex64(hash);
  {
    // A kernel another thread is compiling is waited for, not compiled twice.
    std::unique_lock<std::mutex> lock(mutex_);
    compiled_cv_.wait(lock, [&] { return !in_flight_.count(key); });
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (log) log_message("cache", "memory hit: " + k.name);
      return it->second;
    }
    auto known = key_of_symbol_.find(symbol);
    EMBER_CHECK(known == key_of_symbol_.end(), InternalError, "kernel cache: two kernels hash to ",
                symbol);
    in_flight_.insert(key);
  }
  // Whatever happens below, the key stops being in flight.
  struct Done {
    Jit& jit;
    const std::string& key;
    ~Done() {
      {
        std::lock_guard<std::mutex> lock(jit.mutex_);
        jit.in_flight_.erase(key);
      }
      jit.compiled_cv_.notify_all();
    }
  } done{*this, key};
  // Reading the disk cache, optimizing and emitting run unlocked: kernels compile in parallel.
  // The quick tier stays in memory.
  KernelCacheOptions where = options;
  where.disk = options.disk && !quick;
  const DiskCache disk = disk_cache(where);
  std::optional<std::string> object = disk.load(key);
  if (object) {
    ++disk_hits_;
    if (log) log_message("cache", "disk hit: " + k.name + " from " + disk.path_of(key));
  } else {
    const auto start = std::chrono::steady_clock::now();
    object = emit_object(k, symbol, quick);
    disk.store(key, *object);
    if (log) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      std::ostringstream msg;
      msg << "miss: " << k.name << " compiled in " << ms << " ms"
          << (disk.enabled() ? ", written to " + disk.path_of(key)
                             : std::string(" (disk cache off)"));
      log_message("cache", msg.str());
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  return link(k, key, symbol, *object);
}

llvm::orc::ExecutorAddr Jit::link(const KernelIR& k, const std::string& key,
                                  const std::string& symbol, std::string_view object) {
  if (auto e = jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object, symbol)))
    throw BackendError("llvm", k.name, error_text(std::move(e)));
  auto address = jit_->lookup(symbol);
  if (!address) throw BackendError("llvm", k.name, error_text(address.takeError()));
  key_of_symbol_[symbol] = key;
  cache_[key] = *address;
  return *address;
}

std::string Jit::binary(const KernelIR& k, const KernelCacheOptions& options) {
  const std::string key = key_of(k, false);
  const DiskCache disk = disk_cache(options);
  if (std::optional<std::string> object = disk.load(key)) return *object;
  std::string object = emit_object(k, "ember_kernel_" + hex64(fnv1a64(key)), false);
  disk.store(key, object);
  return object;
}

llvm::orc::ExecutorAddr Jit::load(const KernelIR& k, std::string_view object) {
  const std::string key = key_of(k, false);
  std::unique_lock<std::mutex> lock(mutex_);
  compiled_cv_.wait(lock, [&] { return !in_flight_.count(key); });
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;  // linked already
  return link(k, key, "ember_kernel_" + hex64(fnv1a64(key)), object);
}

}  // namespace

InnerLoopFn compile_cpu(const KernelIR& kernel, const KernelCacheOptions& options) {
  EMBER_CHECK(!kernel.rows, Error, "compile_cpu: ", kernel.name, " is a row kernel (compile_rows)");
  return Jit::instance().compile(kernel, options).toPtr<InnerLoopFn>();
}
RowKernelFn compile_rows(const KernelIR& kernel, const KernelCacheOptions& options) {
  EMBER_CHECK(kernel.rows, Error, "compile_rows: ", kernel.name, " is not a row kernel");
  return Jit::instance().compile(kernel, options).toPtr<RowKernelFn>();
}
std::shared_ptr<TieredKernel> compile_tiered(const KernelIR& kernel,
                                             const KernelCacheOptions& options) {
  Jit& jit = Jit::instance();
  auto handle = std::make_shared<TieredKernel>();
  if (!options.tiered || jit.has_optimized(kernel, options)) {
    handle->set(jit.compile(kernel, options).getValue(), true);
    return handle;
  }
  handle->set(jit.compile(kernel, options, true).getValue(), false);
  jit.background([handle, kernel, options] {
    // The quick tier stays when the optimized compile fails. A refusal of LLVM's is logged; a
    // bug of ours cannot reach the caller from this thread, so it is reported on stderr.
    try {
      handle->set(Jit::instance().compile(kernel, options).getValue(), true);
      if (log_enabled("cache")) log_message("cache", kernel.name + ": optimized tier in place");
    } catch (const Error& e) {
      if (log_enabled("kernels"))
        log_message("kernels", kernel.name + ": no optimized tier: " + std::string(e.what()));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ember: internal error compiling the optimized tier of %s: %s\n",
                   kernel.name.c_str(), e.what());
    }
  });
  return handle;
}

namespace {

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  std::optional<std::string> unsupported(const KernelIR& kernel) const override {
    return first_uncovered(kernel, "CPU");
  }
  std::shared_ptr<TieredKernel> compile(const KernelIR& kernel,
                                        const KernelCacheOptions& options) override {
    return compile_tiered(kernel, options);
  }
  std::string binary(const KernelIR& kernel, const KernelCacheOptions& options) override {
    return Jit::instance().binary(kernel, options);
  }
  std::shared_ptr<TieredKernel> load(const KernelIR& kernel, std::string_view binary) override {
    auto handle = std::make_shared<TieredKernel>();
    handle->set(Jit::instance().load(kernel, binary).getValue(), true);
    return handle;
  }
  void launch(const TieredKernel& compiled, const KernelIR& kernel, const Array* const* buffers,
              size_t num_buffers, IntArrayRef domain, int64_t reduced) override {
    launch_host_kernel(compiled, kernel, buffers, num_buffers, domain, reduced);
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

std::string export_object(const KernelIR& kernel, const std::string& symbol) {
  return Jit::instance().pic_object(kernel, symbol);
}
HostTarget host_target() { return Jit::instance().host(); }

ExecutablePlan::ExecutablePlan(Plan plan, const KernelCacheOptions& cache)
    : ExecutablePlan(std::move(plan), cpu_backend(), cache) {}

void wait_for_background_compiles() { Jit::instance().wait_for_background(); }
int64_t cpu_quick_compile_count() { return Jit::instance().quick_compiles(); }
int64_t cpu_compile_count() { return Jit::instance().compiles(); }
int64_t cpu_disk_cache_hits() { return Jit::instance().disk_hits(); }

}  // namespace ember::codegen
