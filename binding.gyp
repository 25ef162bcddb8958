{
  "variables": {
    "libjpeg%": "<!(node -p \"process.env.POSTERSCOPE_LIBJPEG === '0' ? 0 : 1\")"
  },
  "targets": [
    {
      "target_name": "posterscope_pixels",
      "sources": ["native/pixels.c"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-fast-math"],
      "cflags_c": ["-std=c11"]
    },
    {
      "target_name": "posterscope_memory",
      "sources": ["native/memory.c"],
      "cflags": ["-O2"]
    },
    {
      "target_name": "posterscope_file",
      "sources": ["native/file.c"],
      "cflags": ["-O2"]
    }
  ],
  "conditions": [
    ["libjpeg==1", {
      "targets": [
        {
          "target_name": "posterscope_jpeg",
          "sources": ["native/jpeg.c", "native/phuff.c"],
          "cflags": ["-O2"],
          "libraries": ["-ljpeg"]
        }
      ]
    }]
  ]
}
