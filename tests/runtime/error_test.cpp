// The error tiers: user errors and backend failures are ember::Errors; internal bugs are not, so
// a caller's `catch (const Error&)` (or one of Ember's own eager fallbacks) never swallows them.
#include <gtest/gtest.h>

#include <type_traits>

#include "ember/runtime/error.h"

namespace ember {
namespace {

static_assert(std::is_base_of_v<Error, ShapeError>);
static_assert(std::is_base_of_v<Error, BackendError>);
static_assert(!std::is_base_of_v<Error, InternalError>);
static_assert(std::is_base_of_v<std::logic_error, InternalError>);

TEST(Errors, AnInternalAssertIsNotCaughtAsAnEmberError) {
  bool caught_as_error = false, caught_as_internal = false;
  try {
    try {
      EMBER_INTERNAL_ASSERT(1 + 1 == 3, "arithmetic");
    } catch (const Error&) {
      caught_as_error = true;
    }
  } catch (const InternalError& e) {
    caught_as_internal = true;
    EXPECT_NE(std::string(e.what()).find("1 + 1 == 3 arithmetic"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(caught_as_error);
  EXPECT_TRUE(caught_as_internal);
}

TEST(Errors, ABackendErrorNamesTheBackendAndTheKernel) {
  const BackendError e("llvm", "k3", "cannot select an instruction");
  EXPECT_STREQ(e.what(), "llvm: k3: cannot select an instruction");
  EXPECT_EQ(e.backend(), "llvm");
  EXPECT_EQ(e.kernel(), "k3");
  EXPECT_STREQ(BackendError("llvm", "", "no host").what(), "llvm: no host");
}

}  // namespace
}  // namespace ember
