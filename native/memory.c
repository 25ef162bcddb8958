/*
 * posterscope's memory helper in C: hands the C heap's free pages back to the
 * system (glibc's malloc_trim). Freed memory otherwise stays in the process:
 * glibc returns only the top of each heap, and ONNX Runtime's and libjpeg's
 * threads each allocate from arenas of their own, so a server's resident size
 * stays at its busiest moment's. Elsewhere than glibc it does nothing.
 *
 * It also gives a batch in shared memory a plain ArrayBuffer over the same
 * bytes (plainView), which is what ONNX Runtime's binding reads: without it an
 * inference worker copies each 9.6 MB batch first.
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

/* The plain ArrayBuffer is gone: let go of the shared array that owns the bytes. */
static void drop_owner(napi_env env, void *data, void *hint) {
  (void)data;
  napi_delete_reference(env, (napi_ref)hint);
}

/*
 * plainView(shared: Float32Array) -> ArrayBuffer
 * An ArrayBuffer over the typed array's bytes (in a SharedArrayBuffer), which
 * keeps the typed array, and so its memory, alive as long as it lives.
 */
static napi_value plain_view(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  napi_value buffer, result;
  napi_ref owner;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float32_array ||
      length == 0 || data == NULL) {
    napi_throw_error(env, NULL, "posterscope native plainView: expected a non-empty Float32Array");
    return NULL;
  }
  if (napi_create_reference(env, argv[0], 1, &owner) != napi_ok) return NULL;
  if (napi_create_external_arraybuffer(env, data, length * sizeof(float), drop_owner, owner, &result) != napi_ok) {
    napi_delete_reference(env, owner);
    napi_throw_error(env, NULL, "posterscope native plainView: external buffers are not allowed here");
    return NULL;
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"releaseFreeMemory", NULL, release_free_memory, NULL, NULL, NULL, napi_default, NULL},
      {"plainView", NULL, plain_view, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
