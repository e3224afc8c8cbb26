// The per-layer choice of LUT algorithm (lut_planes.h).
#include "lut_planes.h"

#include <algorithm>

namespace axnn {

LutAlgorithm& lutAlgorithm() {
  static LutAlgorithm algorithm = LutAlgorithm::Auto;
  return algorithm;
}

bool useLutPlanes(const Cores& cores, const LutCtx& lut, const ConvGeom& g, const uint8_t* weights, const int64_t* tapOff, int64_t nPos, int64_t mPer,
                  LutPlanesData& data) {
  const LutAlgorithm mode = lutAlgorithm();
  const int64_t Cg = g.C / g.groups, Mg = g.M / g.groups, RS = g.R * g.S, K = Cg * RS;
  if (mode == LutAlgorithm::Direct || (g.groups == g.C && g.C > 1) || RS > kMaxPlaneTaps) return false;
  // Distinct codes per input channel, and each tap's index among them.
  data.start.assign(size_t(g.C + 1), 0);
  data.codes.clear();
  data.plane.assign(size_t(g.M * K), 0);
  int16_t index[256];
  for (int64_t c = 0; c < g.C; c++) {
    const int64_t grp = c / Cg, cl = c % Cg;
    std::fill(index, index + 256, int16_t(-1));
    int16_t distinct = 0;
    for (int64_t ml = 0; ml < Mg; ml++) {
      const int64_t m = grp * Mg + ml;
      for (int64_t rs = 0; rs < RS; rs++) {
        const size_t at = size_t(m * K + cl * RS + rs);
        const uint8_t code = weights[at];
        if (index[code] < 0) {
          index[code] = distinct++;
          data.codes.push_back(code);
        }
        data.plane[at] = uint8_t(index[code]);
      }
    }
    data.start[size_t(c + 1)] = data.start[size_t(c)] + distinct;
  }
  data.view = LutPlanes{Cg, RS, data.start.data(), data.codes.data(), data.plane.data()};
  if (mode == LutAlgorithm::Planes) return true;
  // Cost of one task (a block of b positions, mPer output channels), averaged over the groups.
  const int64_t blocks = (nPos + kMaxBlock - 1) / kMaxBlock;
  const double b = double(nPos) / double(blocks);
  const double products = double(mPer) * double(K) * b;
  double lookups = 0;
  for (int64_t c = 0; c < g.C; c++) {
    const int64_t* offs = tapOff + (c / Cg) * K + (c % Cg) * RS;
    const auto [lo, hi] = std::minmax_element(offs, offs + RS);
    lookups += double(data.start[size_t(c + 1)] - data.start[size_t(c)]) * (b + double(*hi - *lo));
  }
  lookups /= double(g.groups);
  const LutCosts& cost = cores.lutCosts;
  return lookups * cost.planeLookup + products * cost.planeAdd < products * cost.directPerProduct[std::min(std::max(lut.planes, 1), 4) - 1];
}

}  // namespace axnn
