// The LUT and exact cores of every ISA level this binary has, against plain loops, without Node:
// built and run by test/kernels-neon.test.ts for AArch64 (cross-compiled, under qemu-user), where
// the Node addon cannot be tested on these x86 machines. Random tables of 1 to 4 byte planes
// (products wrapping modulo 2^32 in the sums), random convolution shapes through the phase-plane
// layout, the direct and the plane-transform LUT cores. Prints one line per level; exit 1 on any
// difference.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../conv_layout.h"
#include "../conv_phases.h"
#include "../kernels.h"
#include "../lut_planes.h"

using namespace axnn;

namespace {

uint32_t state = 12345;
uint32_t next() {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}
int rnd(int n) { return int(next() % uint32_t(n)); }

// The table prepared as native-backend.ts prepares it: rows by weight code, byte planes, uint16 rows.
struct Table {
  std::vector<int32_t> rows;
  std::vector<uint8_t> planes;
  std::vector<uint16_t> rows16;
  LutCtx ctx;
};

Table makeTable(int weightBits, int spanBits) {
  Table t;
  const int n = 256 << weightBits;
  t.rows.resize(size_t(n));
  const int64_t lo = -(int64_t(1) << (spanBits - 1));
  for (int i = 0; i < n; i++) {
    const uint64_t r = (uint64_t(next()) << 32) | next();
    t.rows[size_t(i)] = int32_t(lo + int64_t(spanBits >= 32 ? r % (uint64_t(1) << 32) : r % (uint64_t(1) << spanBits)));
  }
  int32_t mn = t.rows[0], mx = t.rows[0];
  for (int32_t v : t.rows) mn = std::min(mn, v), mx = std::max(mx, v);
  const int64_t span = int64_t(mx) - mn;
  const int planes = span < (1 << 8) ? 1 : span < (1 << 16) ? 2 : span < (1 << 24) ? 3 : 4;
  const int rowCount = 1 << weightBits;
  t.planes.resize(size_t(rowCount * planes * 256));
  for (int row = 0; row < rowCount; row++)
    for (int i = 0; i < 256; i++) {
      const uint32_t d = uint32_t(int64_t(t.rows[size_t(row * 256 + i)]) - mn);
      for (int b = 0; b < planes; b++) t.planes[size_t((row * planes + b) * 256 + i)] = uint8_t(d >> (8 * b));
    }
  if (planes <= 2)
    for (int32_t v : t.rows) t.rows16.push_back(uint16_t(int64_t(v) - mn));
  t.ctx = LutCtx{t.rows.data(), t.planes.data(), t.rows16.empty() ? nullptr : t.rows16.data(), planes, uint32_t(mn)};
  return t;
}

int failures = 0;

void expectEqual(const char* level, const char* what, const uint32_t* got, const uint32_t* want, int n) {
  for (int i = 0; i < n; i++) {
    if (got[i] != want[i]) {
      if (failures++ < 10) std::printf("%s %s: position %d is %u, expected %u\n", level, what, i, got[i], want[i]);
      return;
    }
  }
}

// One random convolution (one image, one group) through the cores of one level.
void checkConv(const Cores& cores, int weightBits, int spanBits) {
  Table t = makeTable(weightBits, spanBits);
  ConvGeom g{};
  g.N = 1;
  g.C = 1 + rnd(rnd(3) == 0 ? 40 : 6);  // 40 channels x 9 taps crosses the 16-bit flush (256 taps)
  g.M = 1 + rnd(20);
  g.R = 1 + rnd(3);
  g.S = 1 + rnd(3);
  g.groups = 1;
  g.sh = 1 + rnd(2);
  g.sw = 1 + rnd(2);
  g.dh = 1 + rnd(2);
  g.dw = 1;
  g.pt = rnd(2), g.pl = rnd(2), g.pb = rnd(2), g.pr = rnd(2);
  g.H = (g.R - 1) * g.dh + 1 + rnd(20);
  g.W = (g.S - 1) * g.dw + 1 + rnd(40);
  g.P = (g.H + g.pt + g.pb - g.dh * (g.R - 1) - 1) / g.sh + 1;
  g.Q = (g.W + g.pl + g.pr - g.dw * (g.S - 1) - 1) / g.sw + 1;
  const Phases ph = phasesOf(g);
  const int64_t K = g.C * g.R * g.S;
  std::vector<uint8_t> input(size_t(g.C * g.H * g.W)), weights(size_t(g.M * K));
  for (auto& v : input) v = uint8_t(rnd(256));
  const int codeRange = rnd(2) ? (1 << weightBits) : std::min(3, 1 << weightBits);  // few or all codes
  for (auto& v : weights) v = uint8_t(rnd(codeRange));
  std::vector<uint8_t> prepared(size_t(g.C * ph.channelStride + 512), uint8_t(rnd(256)));
  for (int64_t c = 0; c < g.C; c++) prepareChannel(g, ph, input.data() + c * g.H * g.W, prepared[prepared.size() - 1], prepared.data() + c * ph.channelStride);
  const Layout L = convLayout(g, ph);  // one image, one group: the taps' offsets and positions
  const std::vector<int64_t>& tapOff = L.tapOff;
  const int64_t nPos = L.nPos;
  LutPlanesData planes;
  lutAlgorithm() = LutAlgorithm::Planes;
  // 1 task wanted: the longest blocks; 64: blocks of kMaxBlock (as batch 16 and batch 1 split).
  const bool usable = useLutPlanes(cores, t.ctx, g, weights.data(), L, rnd(2) ? 1 : 64, planes);
  std::vector<uint32_t> byPlanes(size_t(g.M * nPos));
  if (usable) {
    const int64_t stride = planes.view.outStride;
    std::vector<uint32_t> block(size_t(g.M * stride));
    for (int64_t b = 0; b < planes.split.blocks; b++) {
      const ConvTask task = convTask(L, planes.split, b * planes.split.mSplits);
      cores.lutPlanes(prepared.data(), tapOff.data(), planes.view, t.ctx, 0, 0, g.M, task.pos0, task.nPos, block.data());
      for (int64_t m = 0; m < g.M; m++) std::memcpy(&byPlanes[size_t(m * nPos + task.pos0)], &block[size_t(m * stride)], sizeof(uint32_t) * size_t(task.nPos));
    }
  }
  uint32_t want[kMaxBlock], got[kMaxBlock], exactWant[kMaxBlock];
  for (int64_t pos0 = 0; pos0 < nPos; pos0 += kMaxBlock) {
    const int n = int(std::min<int64_t>(kMaxBlock, nPos - pos0));
    for (int64_t m = 0; m < g.M; m++) {
      const uint8_t* sel = weights.data() + m * K;
      for (int i = 0; i < n; i++) {
        uint32_t acc = 0, exact = 0;
        for (int64_t k = 0; k < K; k++) {
          const uint8_t a = prepared[size_t(tapOff[size_t(k)] + pos0 + i)];
          acc += uint32_t(t.rows[size_t(sel[k]) * 256 + a]);
          exact += uint32_t(int32_t(int8_t(a)) * int32_t(int8_t(sel[k])));
        }
        want[i] = acc;
        exactWant[i] = exact;
      }
      cores.lut(prepared.data(), tapOff.data(), sel, int(K), t.ctx, pos0, n, got);
      expectEqual(cores.name, "direct LUT core", got, want, n);
      if (usable) expectEqual(cores.name, "plane LUT core", byPlanes.data() + m * nPos + pos0, want, n);
      cores.exact(prepared.data(), tapOff.data(), sel, int(K), true, pos0, n, got);
      expectEqual(cores.name, "exact int8 core", got, exactWant, n);
    }
  }
}

}  // namespace

int main() {
  std::vector<Cores> levels{scalarCores()};
#if defined(AXNN_ARM_CORES)
  levels.push_back(neonCores());
#endif
  for (const Cores& cores : levels) {
    const int before = failures;
    int cases = 0;
    for (int spanBits : {7, 16, 24, 32})
      for (int weightBits : {8, 4})
        for (int i = 0; i < 6; i++, cases++) checkConv(cores, weightBits, spanBits);
    std::printf("%s: %d convolutions, %s\n", cores.name, cases, failures == before ? "all equal" : "DIFFERENCES");
  }
  return failures ? 1 : 0;
}
