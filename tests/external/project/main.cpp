// An outside user of the installed Ember: includes the umbrella header, runs a few eager ops and
// checks the result, so the installed headers, libraries and link dependencies are all exercised.
#include <ember/ember.h>

#include <cstdio>

int main() {
  ember::Tensor a = ember::tensor({{1.0, 2.0}, {3.0, 4.0}});
  ember::Tensor b = ember::matmul(a, a.t()) + 1;  // [[6, 12], [12, 26]]
  const double total = b.sum().item<double>();
  std::printf("external: sum = %g\n", total);
  return total == 56.0 ? 0 : 1;
}
