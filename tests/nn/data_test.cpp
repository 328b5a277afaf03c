// ember::data: datasets, samplers and the loader's batches; MNIST from IDX files written here.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "ember/ember.h"
#include "tests/test_util.h"

namespace ember::testing {
namespace {

TEST(Data, LoaderBatchesInOrderAndDropsTheLast) {
  const Tensor x = arange(20, kFloat32).reshape({10, 2}), y = arange(10, kInt64);
  auto loader =
      data::make_data_loader(data::TensorDataset(x, y), data::DataLoaderOptions().batch_size(4));
  std::vector<int64_t> sizes;
  std::vector<double> targets;
  for (const data::Example& batch : loader) {
    sizes.push_back(batch.data.size(0));
    EXPECT_EQ(batch.data.size(1), 2);
    for (double t : values_of(batch.target)) targets.push_back(t);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(targets, (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto dropping =
      data::make_data_loader(data::TensorDataset(x, y), data::DataLoaderOptions(4).drop_last(true));
  int batches = 0;
  for (const data::Example& b : dropping) {
    EXPECT_EQ(b.data.size(0), 4);
    ++batches;
  }
  EXPECT_EQ(batches, 2);
  EXPECT_THROW(data::TensorDataset(x, arange(3, kInt64)), ShapeError);
  EXPECT_THROW(data::make_data_loader(data::TensorDataset(x, y), data::DataLoaderOptions(0)),
               ValueError);
  expect_values(data::TensorDataset(x, y).get(3).data, {2}, {6, 7}, 0);
}

TEST(Data, RandomSamplerIsSeededAndReshufflesEachEpoch) {
  const Tensor x = arange(32, kFloat32).reshape({16, 2}), y = arange(16, kInt64);
  auto epoch_orders = [&](uint64_t seed) {
    auto loader = data::make_data_loader(data::TensorDataset(x, y), data::RandomSampler(16, seed),
                                         data::DataLoaderOptions(5));
    std::vector<std::vector<double>> epochs;
    for (int e = 0; e < 2; ++e) {
      std::vector<double> order;
      for (const data::Example& b : loader) {
        // The data rows travel with their targets.
        const auto d = values_of(b.data), t = values_of(b.target);
        for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(d[2 * i], 2 * t[i]);
        order.insert(order.end(), t.begin(), t.end());
      }
      epochs.push_back(order);
    }
    return epochs;
  };
  const auto a = epoch_orders(7), b = epoch_orders(7), c = epoch_orders(8);
  EXPECT_EQ(a, b);        // same seed, same orders
  EXPECT_NE(a[0], a[1]);  // a new permutation each epoch
  EXPECT_NE(a[0], c[0]);
  EXPECT_EQ(std::set<double>(a[0].begin(), a[0].end()).size(), 16u);  // a permutation
}

// Worker threads give the batches the loop's own thread gives, in the same order, every epoch;
// a loop that breaks off stops the workers; a batch's error reaches the loop at that batch.
TEST(Data, WorkersPrefetchTheSameBatchesInOrder) {
  const Tensor x = arange(2 * 103, kFloat32).reshape({103, 2}), y = arange(103, kInt64);
  auto epochs = [&](int64_t workers, int64_t max_jobs, bool drop_last) {
    auto loader = data::make_data_loader(
        data::TensorDataset(x, y), data::RandomSampler(103, 5),
        data::DataLoaderOptions(8).workers(workers).max_jobs(max_jobs).drop_last(drop_last));
    std::vector<std::vector<double>> out;
    for (int e = 0; e < 3; ++e) {
      std::vector<double> targets;
      for (auto it = loader.begin(); it != loader.end(); ++it) {
        const data::Example a = *it, b = *it;  // reading a batch twice takes it once
        EXPECT_EQ(a.data.data_ptr<float>(), b.data.data_ptr<float>());
        const auto t = values_of(a.target), d = values_of(a.data);
        for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(d[2 * i + 1], 2 * t[i] + 1);
        targets.insert(targets.end(), t.begin(), t.end());
      }
      out.push_back(targets);
    }
    return out;
  };
  for (bool drop_last : {false, true}) {
    const auto inline_batches = epochs(0, 0, drop_last);
    EXPECT_EQ(inline_batches[0].size(), drop_last ? 96u : 103u);
    EXPECT_EQ(epochs(1, 0, drop_last), inline_batches);
    EXPECT_EQ(epochs(3, 1, drop_last), inline_batches);
    EXPECT_EQ(epochs(2, 16, drop_last), inline_batches);
  }
  // Breaking off mid-epoch joins the workers (the test would hang otherwise).
  auto loader =
      data::make_data_loader(data::TensorDataset(x, y), data::DataLoaderOptions(4).workers(2));
  int seen = 0;
  for (const data::Example& b : loader) {
    (void)b;
    if (++seen == 3) break;
  }
  EXPECT_EQ(seen, 3);
  // A dataset whose fourth batch fails: three batches, then its error.
  struct Failing {
    data::Example get_batch(const std::vector<int64_t>& idx) const {
      EMBER_CHECK(idx[0] < 12, ValueError, "Failing: batch at ", idx[0]);
      return {full({int64_t(idx.size())}, double(idx[0])), Tensor()};
    }
    std::optional<size_t> size() const { return 40; }
  };
  auto failing = data::make_data_loader(Failing{}, data::DataLoaderOptions(4).workers(2));
  int good = 0;
  try {
    for (const data::Example& b : failing) {
      EXPECT_EQ(values_of(b.data)[0], 4 * good);
      ++good;
    }
    ADD_FAILURE() << "the failing batch did not raise";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("batch at 12"), std::string::npos) << e.what();
  }
  EXPECT_EQ(good, 3);
}

void write_idx(const std::string& path, uint32_t magic, const std::vector<uint32_t>& dims,
               const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.put(char((v >> s) & 0xff));
  };
  u32(magic);
  for (uint32_t d : dims) u32(d);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

TEST(Data, SaveIdxWritesWhatMnistReads) {
  const auto dir = std::filesystem::temp_directory_path() / "ember-save-idx-test";
  std::filesystem::create_directories(dir);
  const Tensor images = (arange(2 * 28 * 28, kInt64) * 7).to(kUInt8).reshape({2, 28, 28});  // wraps
  data::save_idx((dir / "t10k-images-idx3-ubyte").string(), images);
  data::save_idx((dir / "t10k-labels-idx1-ubyte").string(), tensor({3, 8}, kUInt8));
  const data::datasets::MNIST test(dir.string(), data::datasets::MNIST::Mode::Test);
  const data::Example second = test.get(1);
  expect_values(second.target, {}, {8}, 0);
  EXPECT_TRUE(allclose(second.data, images.select(0, 1).unsqueeze(0).to(kFloat32) / 255.0));
  EXPECT_THROW(data::save_idx((dir / "x").string(), ones({2})), DTypeError);
  std::filesystem::remove_all(dir);
}

TEST(Data, MnistReadsIdxFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "ember-mnist-test";
  std::filesystem::create_directories(dir);
  std::vector<uint8_t> pixels(3 * 28 * 28);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i % 256);
  write_idx((dir / "train-images-idx3-ubyte").string(), 0x803, {3, 28, 28}, pixels);
  write_idx((dir / "train-labels-idx1-ubyte").string(), 0x801, {3}, {7, 0, 9});
  data::datasets::MNIST mnist(dir.string());
  EXPECT_EQ(mnist.size().value(), 3u);
  const data::Example e = mnist.get(2);
  EXPECT_EQ(e.data.sizes().vec(), (Shape{1, 28, 28}));
  EXPECT_EQ(e.target.item<int64_t>(), 9);
  EXPECT_NEAR(e.data.flatten()[5].item<double>(), double((2 * 784 + 5) % 256) / 255.0, 1e-6);
  // Missing test files, and a wrong magic number, are errors naming the file.
  EXPECT_THROW(data::datasets::MNIST(dir.string(), data::datasets::MNIST::Mode::Test), ValueError);
  write_idx((dir / "train-labels-idx1-ubyte").string(), 0x802, {3}, {7, 0, 9});
  EXPECT_THROW(data::datasets::MNIST(dir.string()), ValueError);
  write_idx((dir / "train-labels-idx1-ubyte").string(), 0x801, {4}, {7, 0, 9, 1});
  EXPECT_THROW(data::datasets::MNIST(dir.string()), ValueError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ember::testing
