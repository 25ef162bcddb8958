/*
 * posterscope's memory helper in C: hands the C heap's free pages back to the
 * system (glibc's malloc_trim). Freed memory otherwise stays in the process:
 * glibc returns only the top of each heap, and ONNX Runtime's and libjpeg's
 * threads each allocate from arenas of their own, so a server's resident size
 * stays at its busiest moment's. Elsewhere than glibc it does nothing.
 */
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* releaseFreeMemory() -> boolean: whether any memory went back to the system. */
static napi_value release_free_memory(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  napi_value result;
  napi_get_boolean(env, released != 0, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"releaseFreeMemory", NULL, release_free_memory, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
