// train_mnist: an MLP (or, with --cnn, a small CNN) trained on MNIST from its IDX files, written
// as a LibTorch user writes it: datasets::MNIST, a data loader with worker threads, nn modules,
// cross-entropy, SGD with momentum, a compiled training step. Prints each epoch's loss, test
// accuracy and examples/s.
//
//   train_mnist --data DIR [--epochs N] [--batch B] [--lr X] [--workers W] [--cnn] [--eager]
//   train_mnist --synthetic N [...] [--check]
//
// DIR holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte (gunzipped). Without --data it says where to get them and exits.
// --synthetic N writes N training and N/5 test images of ten learnable patterns as IDX files to a
// temporary directory and trains on those (the test suite's run); --check exits with status 1
// unless the test accuracy reaches 90%.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace {

using namespace ember;
namespace F = ember::nn::functional;

struct Config {
  std::string data;
  int synthetic = 0, epochs = 1, batch = 64, workers = 2;
  double lr = 0.05;
  bool cnn = false, eager = false, check = false;
};

struct NetImpl : nn::Module {
  explicit NetImpl(bool cnn) : Module("Net"), cnn(cnn) {
    if (cnn) {
      conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(1, 8, 3).padding({1, 1})));
      conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(8, 16, 3).padding({1, 1})));
      fc1 = register_module("fc1", nn::Linear(16 * 7 * 7, 64));
    } else {
      fc1 = register_module("fc1", nn::Linear(28 * 28, 256));
    }
    norm = register_module("norm", nn::LayerNorm(std::vector<int64_t>{fc1->options.out_features_}));
    fc2 = register_module("fc2", nn::Linear(fc1->options.out_features_, 10));
  }
  // x [B, 1, 28, 28] -> logits [B, 10].
  Tensor forward(const Tensor& x) {
    Tensor h = x;
    if (cnn) {
      h = max_pool2d(relu(conv1(h)), {2, 2});
      h = max_pool2d(relu(conv2(h)), {2, 2});
    }
    return fc2(relu(norm(fc1(h.flatten(1)))));
  }
  bool cnn;
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
  nn::Linear fc1{nullptr}, fc2{nullptr};
  nn::LayerNorm norm{nullptr};
};
EMBER_MODULE(Net);

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "train_mnist: %s\n", why.c_str());
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a + " needs a value");
      return argv[++i];
    };
    if (a == "--data")
      c.data = value();
    else if (a == "--synthetic")
      c.synthetic = std::stoi(value());
    else if (a == "--epochs")
      c.epochs = std::stoi(value());
    else if (a == "--batch")
      c.batch = std::stoi(value());
    else if (a == "--lr")
      c.lr = std::stod(value());
    else if (a == "--workers")
      c.workers = std::stoi(value());
    else if (a == "--cnn")
      c.cnn = true;
    else if (a == "--eager")
      c.eager = true;
    else if (a == "--check")
      c.check = true;
    else
      fail("unknown option " + a + " (see the top of train_mnist.cpp)");
  }
  return c;
}

// n images of class k = a bright bar (horizontal for k < 5, vertical otherwise) at a position
// that depends on k, shifted by a pixel or two, over noise.
void write_synthetic(const std::filesystem::path& dir, const std::string& prefix, int n,
                     uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60), shift(-1, 1), label(0, 9);
  std::vector<uint8_t> images(static_cast<size_t>(n) * 784), labels(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int k = label(rng), at = 4 + 4 * (k % 5) + shift(rng);
    labels[size_t(i)] = uint8_t(k);
    uint8_t* img = images.data() + size_t(i) * 784;
    for (int p = 0; p < 784; ++p) img[p] = uint8_t(noise(rng));
    for (int t = 0; t < 28; ++t)
      for (int w = 0; w < 2; ++w) img[k < 5 ? (at + w) * 28 + t : t * 28 + at + w] = 230;
  }
  data::save_idx((dir / (prefix + "-images-idx3-ubyte")).string(),
                 from_blob(images.data(), {n, 28, 28}, kUInt8));
  data::save_idx((dir / (prefix + "-labels-idx1-ubyte")).string(),
                 from_blob(labels.data(), {n}, kUInt8));
}

}  // namespace

int main(int argc, char** argv) {
  Config c = parse(argc, argv);
  std::filesystem::path synthetic_dir;
  if (c.synthetic > 0) {
    synthetic_dir = std::filesystem::temp_directory_path() /
                    ("ember-mnist-synthetic-" + std::to_string(::getpid()));
    std::filesystem::create_directories(synthetic_dir);
    write_synthetic(synthetic_dir, "train", c.synthetic, 1);
    write_synthetic(synthetic_dir, "t10k", std::max(c.synthetic / 5, 10), 2);
    c.data = synthetic_dir.string();
  }
  if (c.data.empty()) {
    std::printf(
        "train_mnist: no MNIST directory given. Get train-images-idx3-ubyte.gz,\n"
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz\n"
        "(the MNIST distribution, for example https://ossci-datasets.s3.amazonaws.com/mnist/),\n"
        "gunzip them into a directory and run: train_mnist --data DIR\n"
        "(or train_mnist --synthetic 2000 for a generated stand-in).\n");
    return 0;
  }
  int status = 0;
  try {
    auto train = data::datasets::MNIST(c.data).map(data::transforms::Stack<>());
    auto test = data::datasets::MNIST(c.data, data::datasets::MNIST::Mode::Test);
    const size_t n_train = train.size().value(), n_test = test.size().value();
    std::printf(
        "train_mnist: %zu training and %zu test images from %s; %s, batch %d, %d workers, "
        "%s step\n",
        n_train, n_test, c.synthetic ? "synthetic IDX files" : c.data.c_str(),
        c.cnn ? "CNN" : "MLP", c.batch, c.workers, c.eager ? "eager" : "compiled");
    manual_seed(1);
    Net model(c.cnn);
    optim::SGD opt(model->parameters(), optim::SGDOptions(c.lr).momentum(0.9));
    auto loss_of = [&](const Tensor& x, const Tensor& y) {
      return F::cross_entropy(model->forward(x), y);
    };
    auto compiled = compile(loss_of);
    auto loader = data::make_data_loader(
        train, data::RandomSampler(n_train, 7),
        data::DataLoaderOptions(c.batch).workers(c.workers).drop_last(false));
    auto test_loader =
        data::make_data_loader(test, data::DataLoaderOptions(1000).workers(c.workers));
    double accuracy = 0;
    for (int epoch = 1; epoch <= c.epochs; ++epoch) {
      model->train();
      const auto t0 = std::chrono::steady_clock::now();
      double loss_sum = 0;
      int64_t seen = 0;
      for (const data::Example& batch : loader) {
        opt.zero_grad();
        Tensor loss =
            c.eager ? loss_of(batch.data, batch.target) : compiled(batch.data, batch.target);
        loss.backward();
        opt.step();
        loss_sum += loss.item<double>() * double(batch.data.size(0));
        seen += batch.data.size(0);
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      NoGradGuard no_grad;
      model->eval();
      int64_t right = 0;
      for (const data::Example& batch : test_loader)
        right +=
            (model->forward(batch.data).argmax(1) == batch.target).to(kInt64).sum().item<int64_t>();
      accuracy = double(right) / double(n_test);
      std::printf("epoch %d/%d  loss %.4f  test accuracy %.2f%%  %.0f examples/s\n", epoch,
                  c.epochs, loss_sum / double(seen), 100 * accuracy, double(seen) / secs);
      std::fflush(stdout);
    }
    if (!c.eager)
      std::printf("compiled step: %lld trace(s), %lld replays\n",
                  static_cast<long long>(compiled.stats().traces),
                  static_cast<long long>(compiled.stats().replays));
    if (c.check && accuracy < 0.9) {
      std::fprintf(stderr, "train_mnist: test accuracy %.2f%% is below 90%%\n", 100 * accuracy);
      status = 1;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "train_mnist: %s\n", e.what());
    status = 2;
  }
  if (!synthetic_dir.empty()) std::filesystem::remove_all(synthetic_dir);
  return status;
}
