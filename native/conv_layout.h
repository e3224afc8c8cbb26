// Where a direct convolution's work lives, shared by the kernel driver (axnn_native.cc) and the
// plan's fused convolutions (plan_conv.cc): the prepared input's layout (phase planes, tap runs)
// and the split of the work into tasks over (image, group, position block, range of channels),
// so that both split a layer the same way.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv_geometry.h"
#include "conv_phases.h"
#include "kernels.h"
#include "thread_pool.h"

namespace axnn {

// Elements past the end that a core may read (it reads whole 64-position chunks).
constexpr int64_t kTailElements = 256;

// Where the activations of image n live in the prepared buffer, and the run of each tap.
struct Layout {
  int64_t images = 0, imageStride = 0, groups = 1, K = 0, Mg = 0, P = 0, Q = 0, rowStride = 0;
  int64_t nPos = 0;             // positions computed per output plane
  std::vector<int64_t> tapOff;  // groups x K offsets from the image base
  // Output element (n, m, p, q) is at out[((n * M + m) * P + p) * Q + q].
};

inline Layout convLayout(const ConvGeom& g, const Phases& ph) {
  Layout L;
  L.images = g.N;
  L.imageStride = g.C * ph.channelStride;
  L.groups = g.groups;
  const int64_t Cg = g.C / g.groups;
  L.K = Cg * g.R * g.S;
  L.Mg = g.M / g.groups;
  L.P = g.P;
  L.Q = g.Q;
  L.rowStride = ph.Wph;
  L.nPos = (g.P - 1) * ph.Wph + g.Q;
  L.tapOff.resize(size_t(g.groups * L.K));
  for (int64_t grp = 0; grp < g.groups; grp++)
    for (int64_t cl = 0; cl < Cg; cl++)
      for (int64_t r = 0; r < g.R; r++)
        for (int64_t s = 0; s < g.S; s++)
          L.tapOff[size_t(grp * L.K + (cl * g.R + r) * g.S + s)] = tapOffset(g, ph, grp * Cg + cl, r, s);
  return L;
}

// How a layer's work is split: coarse (image, group, position block) tasks, each cut into
// mSplits ranges of mPer output channels. Blocks are `block` positions long (the last one shorter).
struct TaskSplit {
  int64_t block, blocks, coarse, mSplits, mPer;
};
// units: images x groups; maxBlock: positions per task at most, kMaxBlock for the direct cores
// (blocks of exactly kMaxBlock); the plane cores take longer blocks (lut_planes.cc), of equal
// lengths (multiples of 16), but only while they leave `want` tasks: with few images (batch 1)
// the split is that of kMaxBlock-long blocks.
inline TaskSplit splitTasks(int64_t units, int64_t Mg, int64_t nPos, int64_t maxBlock, int64_t want) {
  TaskSplit t;
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  t.block = kMaxBlock;
  t.blocks = ceilDiv(nPos, kMaxBlock);
  if (maxBlock > kMaxBlock) {
    const int64_t blocks = std::min(t.blocks, std::max(ceilDiv(nPos, maxBlock), ceilDiv(want, units)));
    t.block = (ceilDiv(nPos, blocks) + 15) & ~int64_t(15);
    t.blocks = ceilDiv(nPos, t.block);
  }
  t.coarse = units * t.blocks;
  t.mSplits = std::min<int64_t>(Mg, std::max<int64_t>(1, ceilDiv(want, t.coarse)));
  t.mPer = ceilDiv(Mg, t.mSplits);
  return t;
}
// Tasks wanted: enough to balance the pool's threads.
inline int64_t tasksWanted() { return int64_t(pool().size()) * 4; }
inline TaskSplit taskSplit(const Layout& L) { return splitTasks(L.images * L.groups, L.Mg, L.nPos, kMaxBlock, tasksWanted()); }

// One task of a TaskSplit: image n, group grp, positions [pos0, pos0 + nPos), the group's
// output channels [mBegin, mEnd) (local to the group; empty when the split overshoots).
struct ConvTask {
  int64_t n, grp, pos0, mBegin, mEnd;
  int nPos;
};
inline ConvTask convTask(const Layout& L, const TaskSplit& t, int64_t task) {
  ConvTask c;
  const int64_t split = task % t.mSplits;
  int64_t rest = task / t.mSplits;
  const int64_t block = rest % t.blocks;
  rest /= t.blocks;
  c.grp = rest % L.groups;
  c.n = rest / L.groups;
  c.pos0 = block * t.block;
  c.nPos = int(std::min<int64_t>(t.block, L.nPos - c.pos0));
  c.mBegin = split * t.mPer;
  c.mEnd = std::min(L.Mg, (split + 1) * t.mPer);
  return c;
}

}  // namespace axnn
