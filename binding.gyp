{
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
    "xcode_settings": {"GCC_ENABLE_CPP_EXCEPTIONS": "YES", "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3"]},
    "msvs_settings": {"VCCLCompilerTool": {"ExceptionHandling": 1}}
  },
  "targets": [
    {
      "target_name": "axnn_native",
      "sources": ["native/axnn_native.cc", "native/thread_pool.cc", "native/cores_scalar.cc", "native/gemm.cc", "native/conv_backward.cc", "native/conv_forward_gemm.cc", "native/batch_norm.cc", "native/elementwise.cc", "native/qat_quantize.cc", "native/plan_conv.cc", "native/lut_planes.cc", "native/gemm_int16.cc"],
      "conditions": [
        ["target_arch=='x64' and OS!='win'", {"dependencies": ["axnn_cores_avx2", "axnn_cores_avx512bw", "axnn_cores_avx512"], "defines": ["AXNN_X86_CORES"]}],
        ["target_arch=='arm64'", {"sources": ["native/cores_neon.cc"], "defines": ["AXNN_ARM_CORES"]}],
        ["OS=='linux'", {"libraries": ["-pthread", "-ldl"], "cflags": ["-pthread"]}]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64' and OS!='win'", {
      "targets": [
        {
          "target_name": "axnn_cores_avx2",
          "type": "static_library",
          "defines": ["AXNN_X86_CORES"],
          "sources": ["native/cores_avx2.cc"],
          "cflags_cc": ["-mavx2", "-mfma"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-mavx2", "-mfma"]}
        },
        {
          "target_name": "axnn_cores_avx512bw",
          "type": "static_library",
          "defines": ["AXNN_X86_CORES"],
          "sources": ["native/cores_avx512bw.cc"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma", "-Wno-maybe-uninitialized"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma"]}
        },
        {
          "target_name": "axnn_cores_avx512",
          "type": "static_library",
          "defines": ["AXNN_X86_CORES"],
          "sources": ["native/cores_avx512.cc"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vbmi", "-mavx512vnni", "-mavx2", "-mfma", "-Wno-maybe-uninitialized"],
          "xcode_settings": {"OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vbmi", "-mavx512vnni", "-mavx2", "-mfma"]}
        }
      ]
    }]
  ]
}
