// The MLIR export (ir::to_mlir, export_mlir): every harness case whose ops have a linalg form is
// traced, simplified (the pipeline before fusion), written as MLIR, verified by mlir-opt-19,
// lowered to LLVM and run by mlir-cpu-runner-19 on the case's inputs; the printed bits must equal
// the reference interpreter's outputs within the case's tolerances. Skips (with a message) where
// the MLIR tools are not installed (scripts/setup.sh installs them).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "ember/ember.h"
#include "ember/frontend/export.h"
#include "ember/ir/mlir.h"
#include "ember/passes/pipeline.h"
#include "tests/harness/cases.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kSeed = 20261122;

bool tools_found() {
  return fs::exists(EMBER_MLIR_OPT) && fs::exists(EMBER_MLIR_CPU_RUNNER) &&
         fs::exists(EMBER_MLIR_RUNNER_UTILS) && fs::exists(EMBER_MLIR_C_RUNNER_UTILS);
}
#define SKIP_WITHOUT_MLIR_TOOLS()                                                              \
  if (!tools_found())                                                                          \
  GTEST_SKIP() << "mlir-opt-19 / mlir-cpu-runner-19 or the MLIR runner libraries are missing " \
                  "(install mlir-19-tools and libmlir-19-dev: scripts/setup.sh)"

// This process's scratch folder, removed when it exits.
fs::path work_dir() {
  struct Dir {
    fs::path path = fs::temp_directory_path() / ("ember_mlir_test_" + std::to_string(getpid()));
    Dir() { fs::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a shell command; its exit status, with stdout and stderr in `output`.
int shell(const std::string& command, std::string& output) {
  const fs::path log = work_dir() / "command.log";
  const int rc = std::system((command + " > " + log.string() + " 2>&1").c_str());
  output = read_text(log);
  return rc;
}

const char* kLowering =
    "--convert-elementwise-to-linalg --one-shot-bufferize=\"bufferize-function-boundaries\" "
    "--convert-linalg-to-loops --convert-math-to-libm --expand-strided-metadata --lower-affine "
    "--convert-scf-to-cf --convert-math-to-llvm --convert-arith-to-llvm "
    "--finalize-memref-to-llvm --convert-func-to-llvm --convert-cf-to-llvm "
    "--reconcile-unrealized-casts";

std::string mlir_type(const std::string& shape_prefix, const char* elem) {
  return "tensor<" + shape_prefix + elem + ">";
}
std::string shape_prefix(IntArrayRef sizes) {
  std::string s;
  for (int64_t d : sizes) s += std::to_string(d) + "x";
  return s;
}
// The types in the exported function's signature: the argument list and the result list.
struct Signature {
  std::vector<std::string> args, results;
};
Signature signature_of(const std::string& mlir, const std::string& fn) {
  const size_t at = mlir.find("func.func @" + fn + "(");
  EXPECT_NE(at, std::string::npos) << mlir;
  const size_t open = mlir.find('(', at), arrow = mlir.find(") -> (", open);
  const size_t close = mlir.find(") {", arrow);
  Signature s;
  const std::regex type(R"(tensor<[^>]*>)");
  const std::string args = mlir.substr(open, arrow - open);
  const std::string results = mlir.substr(arrow + 5, close - arrow - 5);
  for (std::sregex_iterator it(args.begin(), args.end(), type), end; it != end; ++it)
    s.args.push_back(it->str());
  for (std::sregex_iterator it(results.begin(), results.end(), type), end; it != end; ++it)
    s.results.push_back(it->str());
  return s;
}

// A module of the exported function and a @main that calls it on the inputs (dense constants,
// cast to the argument types where those have `?` dims) and prints every output's bits: floats
// widened to f32 (halves) and bitcast to integers, integers and booleans widened to i64.
std::string driver(const std::string& mlir, const std::string& fn,
                   const std::vector<Tensor>& inputs, const std::vector<DType>& output_dtypes) {
  const Signature sig = signature_of(mlir, fn);
  EXPECT_EQ(sig.args.size(), inputs.size());
  EXPECT_EQ(sig.results.size(), output_dtypes.size());
  std::ostringstream m;
  m << "func.func private @printMemrefI32(tensor<*xi32>) attributes {llvm.emit_c_interface}\n"
       "func.func private @printMemrefI64(tensor<*xi64>) attributes {llvm.emit_c_interface}\n"
    << mlir << "func.func @main() {\n";
  std::vector<std::string> args;
  for (size_t i = 0; i < inputs.size() && i < sig.args.size(); ++i) {
    const std::string type = mlir_type(shape_prefix(inputs[i].sizes()),
                                       ir::mlir_element_type(inputs[i].dtype()).c_str());
    const std::string a = "%a" + std::to_string(i);
    m << "  " << a << " = arith.constant " << ir::dense_literal(inputs[i].contiguous().array())
      << " : " << type << "\n";
    if (type != sig.args[i]) {
      m << "  " << a << "c = tensor.cast " << a << " : " << type << " to " << sig.args[i] << "\n";
      args.push_back(a + "c");
    } else {
      args.push_back(a);
    }
  }
  const size_t n = sig.results.size();
  m << "  %r" << (n > 1 ? ":" + std::to_string(n) : "") << " = call @" << fn << "(";
  for (size_t i = 0; i < args.size(); ++i) m << (i ? ", " : "") << args[i];
  m << ") : (";
  for (size_t i = 0; i < sig.args.size(); ++i) m << (i ? ", " : "") << sig.args[i];
  m << ") -> (";
  for (size_t i = 0; i < n; ++i) m << (i ? ", " : "") << sig.results[i];
  m << ")\n";
  for (size_t k = 0; k < n && k < output_dtypes.size(); ++k) {
    const std::string r = n > 1 ? "%r#" + std::to_string(k) : "%r";
    const std::string type = sig.results[k];
    const size_t x = type.rfind('x');
    const std::string prefix = x == std::string::npos ? "" : type.substr(7, x + 1 - 7);
    const DType d = output_dtypes[k];
    const std::string o = "%o" + std::to_string(k);
    std::string printed = mlir_type(prefix, "i64"), value = r, print = "printMemrefI64";
    if (d == kFloat32 || d == kFloat16 || d == kBFloat16) {
      std::string f32 = r;
      if (d != kFloat32) {
        f32 = o + "w";
        m << "  " << f32 << " = arith.extf " << r << " : " << type << " to "
          << mlir_type(prefix, "f32") << "\n";
      }
      printed = mlir_type(prefix, "i32");
      print = "printMemrefI32";
      m << "  " << o << " = arith.bitcast " << f32 << " : " << mlir_type(prefix, "f32") << " to "
        << printed << "\n";
    } else if (d == kFloat64) {
      m << "  " << o << " = arith.bitcast " << r << " : " << type << " to " << printed << "\n";
    } else if (d == kInt64) {
      m << "  " << o << " = tensor.cast " << r << " : " << type << " to " << type << "\n";
    } else {
      m << "  " << o << " = arith." << (d == kBool || d == kUInt8 ? "extui " : "extsi ") << r
        << " : " << type << " to " << printed << "\n";
    }
    const std::string elem = print == "printMemrefI32" ? "i32" : "i64";
    m << "  " << o << "u = tensor.cast " << o << " : " << printed << " to tensor<*x" << elem
      << ">\n"
      << "  call @" << print << "(" << o << "u) : (tensor<*x" << elem << ">) -> ()\n";
  }
  m << "  return\n}\n";
  return m.str();
}

// Verifies the exported text alone, then lowers and runs the driver; the printed outputs as
// doubles, one vector per output. Fails the test (and returns nothing) when a tool fails.
std::vector<std::vector<double>> run_mlir(const std::string& mlir, const std::string& fn,
                                          const std::vector<Tensor>& inputs,
                                          const std::vector<DType>& output_dtypes,
                                          const std::string& what) {
  const fs::path dir = work_dir();
  const fs::path exported = dir / (what + ".mlir"), main = dir / (what + ".main.mlir"),
                 lowered = dir / (what + ".ll.mlir");
  std::ofstream(exported) << mlir;
  std::string out;
  if (shell(std::string(EMBER_MLIR_OPT) + " " + exported.string(), out) != 0) {
    ADD_FAILURE() << what << ": mlir-opt rejects the export:\n" << out << "\n" << mlir;
    return {};
  }
  std::ofstream(main) << driver(mlir, fn, inputs, output_dtypes);
  if (shell(std::string(EMBER_MLIR_OPT) + " " + main.string() + " " + kLowering + " -o " +
                lowered.string(),
            out) != 0) {
    ADD_FAILURE() << what << ": lowering fails:\n" << out << "\n" << read_text(main);
    return {};
  }
  if (shell(std::string(EMBER_MLIR_CPU_RUNNER) + " " + lowered.string() +
                " -e main -entry-point-result=void -shared-libs=" + EMBER_MLIR_RUNNER_UTILS + "," +
                EMBER_MLIR_C_RUNNER_UTILS,
            out) != 0) {
    ADD_FAILURE() << what << ": mlir-cpu-runner fails:\n" << out;
    return {};
  }
  // Each print: "Unranked Memref base@ = ... data = " then the nested lists of integers.
  std::vector<std::vector<double>> results;
  size_t at = 0;
  while ((at = out.find("data =", at)) != std::string::npos) {
    at += 6;
    const size_t end = std::min(out.find("Unranked Memref", at), out.size());
    const std::string data = out.substr(at, end - at);
    const DType d = output_dtypes[std::min(results.size(), output_dtypes.size() - 1)];
    std::vector<double> values;
    const std::regex integer(R"(-?\d+)");
    for (std::sregex_iterator it(data.begin(), data.end(), integer), e; it != e; ++it) {
      const long long bits = std::stoll(it->str());
      if (d == kFloat32 || d == kFloat16 || d == kBFloat16) {
        const int32_t b = int32_t(bits);
        float f;
        std::memcpy(&f, &b, 4);
        values.push_back(f);
      } else if (d == kFloat64) {
        const int64_t b = bits;
        double f;
        std::memcpy(&f, &b, 8);
        values.push_back(f);
      } else {
        values.push_back(double(bits));
      }
    }
    results.push_back(std::move(values));
    at = end;
  }
  EXPECT_EQ(results.size(), output_dtypes.size()) << what << ":\n" << out;
  return results;
}

void expect_outputs(const std::vector<std::vector<double>>& got, const std::vector<Tensor>& want,
                    double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t k = 0; k < got.size(); ++k) {
    const std::vector<double> expected = values_of(want[k]);
    ASSERT_EQ(got[k].size(), expected.size()) << what << " output " << k;
    for (size_t i = 0; i < expected.size(); ++i) {
      const double e = expected[i], g = got[k][i];
      if (std::isnan(e))
        EXPECT_TRUE(std::isnan(g)) << what << " output " << k << " element " << i;
      else if (std::isinf(e))
        EXPECT_EQ(g, e) << what << " output " << k << " element " << i;
      else
        EXPECT_LE(std::fabs(g - e), atol + rtol * std::fabs(e))
            << what << " output " << k << " element " << i << ": expected " << e << ", got " << g;
    }
  }
}

std::vector<DType> dtypes_of(const std::vector<Tensor>& ts) {
  std::vector<DType> d;
  for (const Tensor& t : ts) d.push_back(t.dtype());
  return d;
}

// The case as MLIR (its captured tensors embedded), or the ValueError's message when an op has
// no form in the export.
struct Exported {
  std::string mlir, refused;
  std::vector<Tensor> expected;
  std::vector<Tensor> inputs;
};
Exported export_case(const Case& c) {
  Exported e;
  e.inputs = c.make_inputs(kSeed);
  manual_seed(kSeed);
  const TracedGraph traced = trace(c.fn, e.inputs, c.name);
  e.expected = traced.run(e.inputs);
  passes::run_pipeline_without_fusion(*traced.graph);
  ir::MlirOptions options;
  for (const Tensor& p : traced.params) options.params.push_back(p.contiguous().array());
  try {
    e.mlir = ir::to_mlir(*traced.graph, options);
  } catch (const ValueError& err) {
    e.refused = err.what();
  }
  return e;
}

// The cases the export must cover (each of the model blocks among them).
const std::set<std::string>& required_cases() {
  static const std::set<std::string> names = {"add_mul_chain",
                                              "exp_log_sqrt",
                                              "activations",
                                              "compare_where",
                                              "casts",
                                              "broadcasting",
                                              "permute_reshape",
                                              "cat_stack",
                                              "sum_dims_keepdim",
                                              "argmax_argmin",
                                              "softmax_last",
                                              "layer_norm_affine",
                                              "matmul_batched",
                                              "matmul_1d",
                                              "mlp_block",
                                              "attention_block",
                                              "transformer_block",
                                              "causal_attention",
                                              "conv_block",
                                              "half_precision",
                                              "float64_mlp"};
  return names;
}

class MlirHarness : public ::testing::TestWithParam<size_t> {};

TEST_P(MlirHarness, VerifiesAndRunsEqualToTheInterpreter) {
  SKIP_WITHOUT_MLIR_TOOLS();
  const Case& c = harness_cases()[GetParam()];
  const Exported e = export_case(c);
  if (!e.refused.empty()) {
    EXPECT_EQ(required_cases().count(c.name), 0u) << c.name << " must export: " << e.refused;
    GTEST_SKIP() << c.name << " is not covered by the MLIR export: " << e.refused;
  }
  const auto got = run_mlir(e.mlir, c.name, e.inputs, dtypes_of(e.expected), c.name);
  if (!got.empty()) expect_outputs(got, e.expected, c.rtol, c.atol, c.name);
}

INSTANTIATE_TEST_SUITE_P(Cases, MlirHarness, ::testing::Range<size_t>(0, harness_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return harness_cases()[info.param].name;
                         });

// Which cases the export covers is checked without the tools: all but the ones whose ops have no
// linalg form (index_add and index_copy, scans and sorts, random draws).
TEST(MlirExport, CoversTheHarnessCasesWithALinalgForm) {
  std::vector<std::string> refused;
  for (const Case& c : harness_cases()) {
    const Exported e = export_case(c);
    if (!e.refused.empty()) refused.push_back(c.name);
    EXPECT_TRUE(e.refused.empty() || required_cases().count(c.name) == 0) << e.refused;
  }
  EXPECT_EQ(refused, (std::vector<std::string>{"index_add", "cumsum_sort_topk", "tensor_indexing",
                                               "dropout_train"}));
}

TEST(MlirExport, RefusesOpsWithoutALinalgFormNamingTheNode) {
  const TraceableFn fn = [](const std::vector<Tensor>& x) -> std::vector<Tensor> {
    return {x[0].cumsum(1)};
  };
  const TracedGraph traced = trace(fn, {ones({2, 3})}, "scan");
  expect_error<ValueError>([&] { ir::to_mlir(*traced.graph); }, "cumsum(%");
}

TEST(MlirExport, ParamValuesMustMatchTheParams) {
  const Tensor w = ones({3, 3});
  const TraceableFn fn = [&](const std::vector<Tensor>& x) -> std::vector<Tensor> {
    return {x[0].matmul(w)};
  };
  const TracedGraph traced = trace(fn, {ones({2, 3})}, "mm");
  ir::MlirOptions options;
  options.params = {ones({3, 4}).array()};
  expect_error<ValueError>([&] { ir::to_mlir(*traced.graph, options); }, "not f32[3, 3]");
  options.params.clear();
  // Without values, the param is an argument.
  EXPECT_NE(ir::to_mlir(*traced.graph).find("tensor<3x3xf32>) -> (tensor<2x3xf32>)"),
            std::string::npos);
}

// export_mlir with a dynamic batch: the signature says `?`, and one function runs at several
// batch sizes equal to eager.
TEST(MlirExport, DynamicBatchRunsAtEveryBatchSizeEqualToEager) {
  SKIP_WITHOUT_MLIR_TOOLS();
  manual_seed(7);
  const Tensor w1 = randn({16, 32}) * 0.2, b1 = randn({32}), w2 = randn({32, 8}) * 0.2;
  auto mlp = [&](const Tensor& x) { return softmax(gelu(x.matmul(w1) + b1).matmul(w2), -1); };
  ExportOptions options;
  options.dynamic_dims = {{0, 0}};
  options.name = "mlp";
  const std::string mlir = export_mlir(mlp, {randn({4, 16})}, options);
  EXPECT_NE(mlir.find("func.func @mlp(%input0: tensor<?x16xf32>) -> (tensor<?x8xf32>)"),
            std::string::npos)
      << mlir;
  for (int64_t batch : {2, 5, 9}) {
    const Tensor x = randn({batch, 16});
    const auto got = run_mlir(mlir, "mlp", {x}, {kFloat32}, "mlp_batch" + std::to_string(batch));
    if (!got.empty()) expect_outputs(got, {mlp(x)}, 1e-5, 1e-6, "batch " + std::to_string(batch));
  }
}

TEST(MlirExport, ExportMlirChecksItsArguments) {
  auto fn = [](const Tensor& x) { return x * 2; };
  ExportOptions options;
  options.dynamic_dims = {{0, 3}};
  expect_error<IndexError>([&] { export_mlir(fn, {ones({2, 2})}, options); }, "has no dim 3");
  expect_error<ValueError>([&] { export_mlir(fn, {1.5}); }, "is a number");
}

}  // namespace
}  // namespace ember::testing
