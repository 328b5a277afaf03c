#include "codegen/model_file.h"

#include <algorithm>
#include <cstring>

#include "codegen/bytes.h"
#include "ember/runtime/checked.h"
#include "ember/runtime/hash.h"

namespace ember::codegen {
namespace {

constexpr char kMagic[8] = {'E', 'M', 'B', 'E', 'R', 'A', 'O', 'T'};
enum class Section : uint32_t { Meta = 1, Graph, Plan, Weights, Code };
constexpr uint32_t kNumSections = 5;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 8;
constexpr size_t kEntryBytes = 4 + 4 + 8 + 8 + 8;
constexpr size_t kAlign = 64;
constexpr const char* kSectionNames[] = {"", "meta", "graph", "plan", "weights", "code"};
constexpr size_t kMaxRank = 64;

std::string meta_bytes(const ModelFile& m) {
  ByteWriter w;
  w.str(m.name);
  w.str(m.target);
  w.size(m.cpu_features.size());
  for (const std::string& f : m.cpu_features) w.str(f);
  w.size(m.input_names.size());
  for (const std::string& n : m.input_names) w.str(n);
  w.size(m.kernels.size());
  for (const auto& [step, symbol] : m.kernels) {
    w.size(step);
    w.str(symbol);
  }
  return w.take();
}

std::string weight_bytes(const ModelFile& m) {
  ByteWriter w;
  w.size(m.weights.size());
  for (const ModelFile::Weight& t : m.weights) {
    w.dtype(t.dtype);
    w.size(t.sizes.size());
    for (int64_t s : t.sizes) w.num(s);
    w.str(t.data);
  }
  return w.take();
}

void parse_meta(std::string_view bytes, ModelFile& m) {
  ByteReader r(bytes, "model file: meta");
  m.name = r.str("name");
  m.target = r.str("target");
  m.cpu_features.resize(r.count("cpu features"));
  for (std::string& f : m.cpu_features) f = r.str("cpu feature");
  m.input_names.resize(r.count("inputs"));
  for (std::string& n : m.input_names) n = r.str("input name");
  m.kernels.resize(r.count("kernels"));
  for (auto& [step, symbol] : m.kernels) {
    step = r.num<uint64_t>("kernel step");
    symbol = r.str("kernel symbol");
    EMBER_CHECK(!symbol.empty() && symbol.size() < 256, ValueError,
                "model file: meta: a kernel symbol of ", symbol.size(), " characters");
  }
  EMBER_CHECK(r.done(), ValueError, "model file: meta: bytes after the last field");
}

void parse_weights(std::string_view bytes, ModelFile& m) {
  ByteReader r(bytes, "model file: weights");
  m.weights.resize(r.count("weights"));
  for (ModelFile::Weight& t : m.weights) {
    t.dtype = r.dtype("weight");
    const size_t rank = r.count("weight rank");
    EMBER_CHECK(rank <= kMaxRank, ValueError, "model file: weights: rank ", rank);
    uint64_t numel = 1;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t s = r.num<int64_t>("weight size");
      EMBER_CHECK(s >= 0 && s < (int64_t(1) << 48), ValueError, "model file: weights: size ", s);
      t.sizes.push_back(s);
      numel = numel == 0 || s == 0 ? 0 : uint64_t(checked_mul(int64_t(numel), s, "model file"));
    }
    t.data = r.str("weight data");
    EMBER_CHECK(
        t.data.size() % itemsize(t.dtype) == 0 && t.data.size() / itemsize(t.dtype) == numel,
        ValueError, "model file: weights: a ", dtype_name(t.dtype), " tensor of ", numel,
        " elements holds ", t.data.size(), " bytes");
  }
  EMBER_CHECK(r.done(), ValueError, "model file: weights: bytes after the last tensor");
}

}  // namespace

std::string ModelFile::serialize() const {
  const std::string sections[kNumSections] = {meta_bytes(*this), graph, plan, weight_bytes(*this),
                                              code};
  ByteWriter table;
  std::string body;
  size_t offset = kHeaderBytes + kNumSections * kEntryBytes;
  auto pad_to = [](size_t at) { return (at + kAlign - 1) / kAlign * kAlign; };
  for (uint32_t i = 0; i < kNumSections; ++i) {
    const size_t start = pad_to(offset);
    body.append(start - offset, '\0');
    table.num(uint32_t(i + 1));
    table.num(uint32_t(0));
    table.size(start);
    table.size(sections[i].size());
    table.num(fnv1a64(sections[i]));
    body += sections[i];
    offset = start + sections[i].size();
  }
  const std::string rest = table.take() + body;
  ByteWriter out;
  out.bytes(kMagic, sizeof kMagic);
  out.num(kModelFileVersion);
  out.num(kNumSections);
  out.num(fnv1a64(rest));
  return out.take() + rest;
}

void ModelFile::refresh_checksums(std::string& bytes) {
  if (bytes.size() < kHeaderBytes + kNumSections * kEntryBytes) return;
  for (uint32_t i = 0; i < kNumSections; ++i) {
    char* entry = bytes.data() + kHeaderBytes + i * kEntryBytes;
    uint64_t offset, size;
    std::memcpy(&offset, entry + 8, 8);
    std::memcpy(&size, entry + 16, 8);
    if (offset > bytes.size() || size > bytes.size() - offset) continue;
    const uint64_t sum = fnv1a64(std::string_view(bytes).substr(size_t(offset), size_t(size)));
    std::memcpy(entry + 24, &sum, 8);
  }
  const uint64_t sum = fnv1a64(std::string_view(bytes).substr(kHeaderBytes));
  std::memcpy(bytes.data() + kHeaderBytes - 8, &sum, 8);
}

ModelFile ModelFile::parse(std::string_view bytes) {
  ByteReader r(bytes, "model file");
  char magic[sizeof kMagic];
  r.bytes(magic, sizeof magic, "magic");
  EMBER_CHECK(std::equal(magic, magic + sizeof magic, kMagic), ValueError,
              "model file: not an exported Ember model (bad magic)");
  const uint32_t version = r.num<uint32_t>("version");
  EMBER_CHECK(version == kModelFileVersion, ValueError, "model file: version ", version,
              ", this runtime reads version ", kModelFileVersion);
  const uint32_t count = r.num<uint32_t>("section count");
  EMBER_CHECK(count == kNumSections, ValueError, "model file: ", count, " sections, expected ",
              kNumSections);
  const uint64_t file_sum = r.num<uint64_t>("file checksum");
  EMBER_CHECK(fnv1a64(bytes.substr(kHeaderBytes)) == file_sum, ValueError,
              "model file: the checksum does not match (the file is corrupt or truncated)");
  const std::string_view table = r.view(count * kEntryBytes, "section table");
  ByteReader t(table, "model file: section table");
  std::string_view section[kNumSections + 1];
  bool seen[kNumSections + 1] = {};
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t kind = t.num<uint32_t>("section kind");
    EMBER_CHECK(kind >= 1 && kind <= kNumSections && !seen[kind], ValueError,
                "model file: section kind ", kind, " is unknown or repeated");
    EMBER_CHECK(t.num<uint32_t>("reserved") == 0, ValueError,
                "model file: a reserved field is not 0");
    const uint64_t offset = t.num<uint64_t>("section offset");
    const uint64_t size = t.num<uint64_t>("section size");
    const uint64_t sum = t.num<uint64_t>("section checksum");
    EMBER_CHECK(offset >= kHeaderBytes + count * kEntryBytes && offset <= bytes.size() &&
                    size <= bytes.size() - offset,
                ValueError, "model file: the ", kSectionNames[kind], " section (", size,
                " bytes at ", offset, ") lies outside the file of ", bytes.size(), " bytes");
    seen[kind] = true;
    section[kind] = bytes.substr(size_t(offset), size_t(size));
    EMBER_CHECK(fnv1a64(section[kind]) == sum, ValueError, "model file: the ", kSectionNames[kind],
                " section's checksum does not match (the file is corrupt)");
    spans.push_back({offset, offset + size});
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i)
    EMBER_CHECK(spans[i].first >= spans[i - 1].second, ValueError,
                "model file: two sections overlap");
  ModelFile m;
  parse_meta(section[uint32_t(Section::Meta)], m);
  m.graph = std::string(section[uint32_t(Section::Graph)]);
  m.plan = std::string(section[uint32_t(Section::Plan)]);
  parse_weights(section[uint32_t(Section::Weights)], m);
  m.code = std::string(section[uint32_t(Section::Code)]);
  return m;
}

}  // namespace ember::codegen
