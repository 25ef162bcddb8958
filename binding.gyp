{
  "targets": [
    {
      "target_name": "posterscope_pixels",
      "sources": ["native/pixels.c"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-fast-math"],
      "cflags_c": ["-std=c11"]
    }
  ]
}
