#include "tools/fuzz/targets.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ember/codegen/disk_cache.h"
#include "ember/ember.h"
#include "ember/passes/pipeline.h"

namespace ember::fuzz {
namespace {

namespace fs = std::filesystem;

// A file of this process's for loaders that read paths.
std::string scratch_path(const char* extension) {
  return (fs::temp_directory_path() / ("ember-fuzz-" + std::to_string(::getpid()) + extension))
      .string();
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Small graphs only go through the passes (a constant of 2^30 elements would fold for a while).
bool small(const ir::Graph& g) {
  if (g.nodes().size() > 256) return false;
  auto fits = [](const ir::Value* v) {
    int64_t n = 1;
    for (const ir::SymInt& d : v->shape) {
      if (!d.is_constant()) continue;
      if (d.value() > 4096) return false;
      n *= d.value();
      if (n > 4096) return false;
    }
    return true;
  };
  for (const ir::Value* v : g.inputs())
    if (!fits(v)) return false;
  for (const auto& n : g.nodes())
    if (n->output && !fits(n->output)) return false;
  return true;
}

// IR text: a graph that parses prints back to text that parses to the same print, and the pass
// pipeline either optimizes it into a graph that still verifies and prints, or raises an Error.
bool run_ir(const std::string& input) {
  std::unique_ptr<ir::Graph> g;
  try {
    g = ir::parse(input);
  } catch (const Error&) {
    return false;
  }
  const std::string printed = ir::print(*g);
  std::unique_ptr<ir::Graph> again;
  try {
    again = ir::parse(printed);
  } catch (const Error& e) {
    throw TargetFailure(std::string("the printed graph does not parse: ") + e.what() + "\n" +
                        printed);
  }
  if (ir::print(*again) != printed)
    throw TargetFailure("the printed graph prints back differently:\n" + printed);
  if (!small(*g)) return true;
  try {
    passes::run_pipeline(*again);
  } catch (const Error&) {
    return true;  // a pass may refuse a graph (a shape it cannot handle): with an Error
  }
  ir::verify(*again);
  const std::string optimized = ir::print(*again);
  try {
    ir::parse(optimized);
  } catch (const Error& e) {
    throw TargetFailure(std::string("the optimized graph does not parse: ") + e.what() + "\n" +
                        optimized);
  }
  return true;
}

std::vector<std::string> ir_seeds() {
  return {
      "graph @f(%x: f32[4, 8], %b: f32[8]) -> (f32[4, 1]) {\n"
      "  %0 = add(%x, %b) : f32[4, 8]\n"
      "  %1 = exp(%0) : f32[4, 8]\n"
      "  %2 = reduce_sum(%1) {dims = [1], keepdim = true} : f32[4, 1]\n"
      "  return %2\n}\n",
      "graph @g(%x: f32[s0, 16]) -> (f32[s0, 16]) {\n"
      "  %0 = softmax(%x) {dim = 1} : f32[s0, 16]\n"
      "  %1 = slice(%0) {dim = 1, end = 8, start = 0, step = 2} : f32[s0, 4]\n"
      "  %2 = concat(%1, %1, %1, %1) {dim = 1} : f32[s0, 16]\n"
      "  return %2\n}\n",
  };
}

// A disk-cache entry: bytes a crafted or damaged file may hold, for the key "key".
bool run_cache(const std::string& input) {
  std::string why;
  const std::optional<std::string> binary = codegen::parse_cache_entry(input, "key", why);
  if (!binary && why.empty()) throw TargetFailure("a rejected entry without a reason");
  return binary.has_value();
}

std::vector<std::string> cache_seeds() {
  const fs::path dir =
      fs::temp_directory_path() / ("ember-fuzz-cache-" + std::to_string(::getpid()));
  codegen::KernelCacheOptions options;
  options.dir = dir.string();
  const codegen::DiskCache cache("cpu", "o", options);
  std::vector<std::string> out;
  for (const std::string& binary : {std::string(), std::string("\x7f"
                                                               "ELF object code",
                                                               16)}) {
    cache.store("key", binary);
    out.push_back(read_file(cache.path_of("key")));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return out;
}

// A safetensors file: every tensor it declares is read, or an Error says what is wrong.
bool run_safetensors(const std::string& input) {
  const std::string path = scratch_path(".safetensors");
  write_file(path, input);
  try {
    std::map<std::string, std::string> metadata;
    for (const auto& [name, t] : load_safetensors(path, &metadata))
      if (!t.defined() || t.numel() < 0) throw TargetFailure("tensor '" + name + "' is undefined");
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::vector<std::string> safetensors_seeds() {
  const std::string path = scratch_path(".safetensors");
  save_safetensors({{"w", arange(6, kFloat32).reshape({2, 3})},
                    {"b", ones({3}, kInt64)},
                    {"e", zeros({0, 2}, kFloat16)}},
                   path, {{"format", "pt"}});
  std::vector<std::string> out{read_file(path)};
  save_safetensors({{"x", tensor({true, false})}}, path);
  out.push_back(read_file(path));
  return out;
}

// A .npy file.
bool run_npy(const std::string& input) {
  const std::string path = scratch_path(".npy");
  write_file(path, input);
  try {
    const Tensor t = load_npy(path);
    if (!t.defined()) throw TargetFailure("load_npy returned an undefined tensor");
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::vector<std::string> npy_seeds() {
  const std::string path = scratch_path(".npy");
  std::vector<std::string> out;
  for (const Tensor& t : {arange(12, kFloat32).reshape({3, 4}), tensor({int64_t(7)}), zeros({0}),
                          ones({2, 2}, kUInt8)}) {
    save_npy(t, path);
    out.push_back(read_file(path));
  }
  return out;
}

}  // namespace

void write_file(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("ember-fuzz: cannot write " + path);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"ir", run_ir, ir_seeds},
      {"cache", run_cache, cache_seeds},
      {"safetensors", run_safetensors, safetensors_seeds},
      {"npy", run_npy, npy_seeds},
  };
  return all;
}

void remove_scratch_files() {
  std::error_code ec;
  for (const char* extension : {".safetensors", ".npy"}) fs::remove(scratch_path(extension), ec);
}

const Target* find_target(const std::string& name) {
  for (const Target& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

}  // namespace ember::fuzz
