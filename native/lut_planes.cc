// The per-layer choice of LUT algorithm (lut_planes.h).
#include "lut_planes.h"

#include <algorithm>
#include <cmath>

namespace axnn {

LutAlgorithm& lutAlgorithm() {
  static LutAlgorithm algorithm = LutAlgorithm::Auto;
  return algorithm;
}

namespace {

// The transformed planes of one block at most (bytes): one Zen 3 core's L2. They are written
// once and read about (M x R x S) / D times, so larger sets stream from L3 at some cost; on the
// development machine (AVX2, one thread, ResNet-20's layers) 256 KiB, 512 KiB and 1 MiB measured
// 1.03x, 1.13x and 1.05x the fixed 256-position blocks.
constexpr int64_t kPlaneBytes = int64_t(512) << 10;

// The longest block (positions, a multiple of 16, of equal blocks) whose transformed planes
// (bytesPerPosition per activation of the channel's runs) fit kPlaneBytes; kMaxBlock at least.
int64_t longestPlaneBlock(const int64_t* offs, int RS, int64_t nPos, int64_t bytesPerPosition) {
  TapRuns runs;
  for (int64_t blocks = 1;; blocks++) {
    const int64_t block = ((nPos + blocks - 1) / blocks + 15) & ~int64_t(15);
    if (block <= kMaxBlock) return kMaxBlock;
    tapRuns(offs, RS, block, runs);
    if (bytesPerPosition * runs.total <= kPlaneBytes) return block;
  }
}

}  // namespace

bool useLutPlanes(const Cores& cores, const LutCtx& lut, const ConvGeom& g, const uint8_t* weights, const Layout& L, int64_t want, LutPlanesData& data) {
  const int64_t* tapOff = L.tapOff.data();
  const int64_t nPos = L.nPos;
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
  const LutCosts& cost = cores.lutCosts;
  const bool transposes = lut.rowsU16 != nullptr && cost.planeTranspose > 0;
  if (transposes) {
    const int64_t rows = int64_t(*std::max_element(weights, weights + g.M * K)) + 1, rowsP = (rows + 15) & ~int64_t(15);
    data.byActivation.assign(size_t(256 * rowsP), 0);  // codes past the largest used: never read
    for (int64_t w = 0; w < rows; w++)
      for (int64_t a = 0; a < 256; a++) data.byActivation[size_t(a * rowsP + w)] = lut.rowsU16[w * 256 + a];
    data.view.byActivation = data.byActivation.data();
    data.view.rowsP = rowsP;
    // Channels with fewer codes than the layer's table get tables of their own, prepared here
    // once instead of in every task, while they fit kPreparedTables elements (else the core
    // builds them per task or uses the layer's table).
    constexpr int64_t kPreparedTables = int64_t(1) << 19;
    if (cores.lutPlanesTable != nullptr) {
      int64_t total = 0;
      data.tableAt.assign(size_t(g.C), -1);
      for (int64_t c = 0; c < g.C; c++) {
        const int64_t Dp = paddedCodes(data.start[size_t(c + 1)] - data.start[size_t(c)]);
        if (Dp < rowsP) data.tableAt[size_t(c)] = total, total += 256 * Dp;
      }
      if (total > 0 && total <= kPreparedTables) {
        data.tables.resize(size_t(total));
        for (int64_t c = 0; c < g.C; c++)
          if (data.tableAt[size_t(c)] >= 0)
            cores.lutPlanesTable(lut.rowsU16, data.codes.data() + data.start[size_t(c)], data.start[size_t(c + 1)] - data.start[size_t(c)],
                                 data.tables.data() + data.tableAt[size_t(c)]);
        data.view.tables = data.tables.data();
        data.view.tableAt = data.tableAt.data();
      }
    }
  }
  // The split: the most codes a channel's planes hold (transposed: its own or the layer's table)
  // bound the block.
  int64_t widest = 0;
  for (int64_t c = 0; c < g.C; c++) {
    const int64_t D = data.start[size_t(c + 1)] - data.start[size_t(c)];
    widest = std::max(widest, transposes ? std::min(paddedCodes(D), data.view.rowsP) : D);
  }
  const int64_t maxBlock = longestPlaneBlock(tapOff, int(RS), nPos, widest * (transposes ? 2 : 4));
  data.split = splitTasks(L.images * L.groups, Mg, nPos, maxBlock, want);
  data.view.outStride = data.split.block;
  if (mode == LutAlgorithm::Planes) return true;
  // Cost of one task (a block of b positions, mPer output channels), averaged over the groups.
  const double b = double(nPos) / double(data.split.blocks);
  const double products = double(data.split.mPer) * double(K) * b;
  // The transform: one lookup per (distinct code, activation of the run), or with a 16-bit table
  // on a level that transposes, transpose passes over 16-code slices: of the run through the
  // layer's table by activation (all rowsP codes), or of the channel's own table (its D codes,
  // 256 rows) then of the run, whichever is cheaper (the core chooses the same way).
  double transform = 0;
  TapRuns runs;
  for (int64_t c = 0; c < g.C; c++) {
    const int64_t* offs = tapOff + (c / Cg) * K + (c % Cg) * RS;
    tapRuns(offs, int(RS), int64_t(std::ceil(b)), runs);
    const double D = double(data.start[size_t(c + 1)] - data.start[size_t(c)]);
    transform += transposes ? double(planeTransposes(data.view, c, int64_t(D), runs.total)) * cost.planeTranspose : D * double(runs.total) * cost.planeLookup;
  }
  transform /= double(g.groups);
  return transform + products * cost.planeAdd < products * cost.directPerProduct[std::min(std::max(lut.planes, 1), 4) - 1];
}

}  // namespace axnn
