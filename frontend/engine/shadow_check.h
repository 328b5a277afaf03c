// Check mode (CompileOptions::check, EMBER_CHECK=1): the compiled result of a call against the
// eager one. The first difference, in words, or empty when they agree (float tolerance 1e-4
// relative to 1 + |eager|, 1e-2 for 16-bit floats; integers and bools exactly; NaN matches NaN).
#pragma once

#include <string>
#include <vector>

#include "ember/frontend/tensor.h"

namespace ember::detail {

std::string first_difference(const std::vector<Tensor>& compiled, const std::vector<Tensor>& eager);

}  // namespace ember::detail
