// The "phase planes" layout of a convolution's input, shared by the forward driver
// (axnn_native.cc) and the depthwise backward kernel (conv_backward.cc): each channel is copied
// into sh x sw planes of the padded input, plane (ph, pw) holding padded[y*sh + ph][x*sw + pw],
// so that for every tap the inputs of output positions p*Wph + q form one contiguous run.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "conv_geometry.h"

namespace axnn {

struct Phases {
  int64_t Wph, Hph, planeSize, channelStride;
};

inline Phases phasesOf(const ConvGeom& g) {
  const int64_t Hp = g.H + g.pt + g.pb, Wp = g.W + g.pl + g.pr;
  Phases ph;
  ph.Wph = (Wp + g.sw - 1) / g.sw;
  ph.Hph = (Hp + g.sh - 1) / g.sh;
  ph.planeSize = ph.Hph * ph.Wph;
  ph.channelStride = ph.planeSize * g.sh * g.sw;
  return ph;
}

// Copies channel `src` (H x W) into its sh*sw padded phase planes at `dst`.
template <typename T>
void prepareChannel(const ConvGeom& g, const Phases& ph, const T* src, T pad, T* dst) {
  const int64_t Hp = g.H + g.pt + g.pb, Wp = g.W + g.pl + g.pr;
  if (g.sh == 1 && g.sw == 1) {
    std::fill(dst, dst + ph.planeSize, pad);
    for (int64_t y = 0; y < g.H; y++) std::memcpy(dst + (y + g.pt) * Wp + g.pl, src + y * g.W, sizeof(T) * g.W);
    return;
  }
  for (int64_t py = 0; py < g.sh; py++) {
    for (int64_t px = 0; px < g.sw; px++) {
      T* plane = dst + (py * g.sw + px) * ph.planeSize;
      for (int64_t i = 0; i < ph.Hph; i++) {
        const int64_t y = i * g.sh + py - g.pt;
        for (int64_t j = 0; j < ph.Wph; j++) {
          const int64_t x = j * g.sw + px - g.pl;
          const bool inside = y >= 0 && y < g.H && x >= 0 && x < g.W && i * g.sh + py < Hp && j * g.sw + px < Wp;
          plane[i * ph.Wph + j] = inside ? src[y * g.W + x] : pad;
        }
      }
    }
  }
}

// Offset of tap (cl, r, s) of group `grp` from the image base, in elements.
inline int64_t tapOffset(const ConvGeom& g, const Phases& ph, int64_t c, int64_t r, int64_t s) {
  const int64_t oy = r * g.dh, ox = s * g.dw;
  const int64_t phase = (oy % g.sh) * g.sw + (ox % g.sw);
  return c * ph.channelStride + phase * ph.planeSize + (oy / g.sh) * ph.Wph + ox / g.sw;
}

}  // namespace axnn
