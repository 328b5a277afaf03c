#include "frontend/engine/shadow_check.h"

#include <cmath>
#include <sstream>

namespace ember::detail {

std::string first_difference(const std::vector<Tensor>& compiled,
                             const std::vector<Tensor>& eager) {
  if (compiled.size() != eager.size())
    return "returns " + std::to_string(compiled.size()) + " outputs, eager " +
           std::to_string(eager.size());
  for (size_t i = 0; i < compiled.size(); ++i) {
    const Tensor &c = compiled[i], &e = eager[i];
    if (c.sizes().vec() != e.sizes().vec() || c.dtype() != e.dtype()) {
      std::ostringstream os;
      os << "output " << i << " is " << dtype_name(c.dtype()) << shape_str(c.sizes())
         << ", eager gives " << dtype_name(e.dtype()) << shape_str(e.sizes());
      return os.str();
    }
    const bool half = e.is_floating_point() && e.element_size() == 2;
    const double tol = half ? 1e-2 : e.is_floating_point() ? 1e-4 : 0;
    const std::vector<double> cv = c.values_as_double(), ev = e.values_as_double();
    for (size_t k = 0; k < cv.size(); ++k) {
      const bool same = cv[k] == ev[k] || (std::isnan(cv[k]) && std::isnan(ev[k])) ||
                        std::abs(cv[k] - ev[k]) <= tol * (1 + std::abs(ev[k]));
      if (!same) {
        std::ostringstream os;
        os << "output " << i << " element " << k << ": compiled " << cv[k] << ", eager " << ev[k];
        return os.str();
      }
    }
  }
  return {};
}

}  // namespace ember::detail
