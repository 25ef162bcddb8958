/*
 * posterscope's memory helper in C: hands the C heap's free pages back to the
 * system (glibc's malloc_trim). Freed memory otherwise stays in the process:
 * glibc returns only the top of each heap, and ONNX Runtime's and libjpeg's
 * threads each allocate from arenas of their own, so a server's resident size
 * stays at its busiest moment's. Elsewhere than glibc it does nothing.
 *
 * It also gives a batch in shared memory a plain ArrayBuffer over the same
 * bytes (plainView), which is what ONNX Runtime's binding reads: without it an
 * inference worker copies each batch (4.8 MB for 8 crops) first; and it faults a new
 * batch's pages in on libuv's pool (prefault), off the thread that fills it.
 * And it reads the calling thread's CPU time exactly (threadCpuNs), for the
 * profile of `bench:embed`: /proc's schedstat of the thread that reads it is
 * brought up to date only at a scheduler tick or a switch, so a reading taken
 * mid-tick misses up to a tick (4 ms here) of the thread's latest work.
 */
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
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

/*
 * A new batch of 16 crops (9.6 MB) costs 2,352 page faults the first time
 * it is written, and on a virtual machine each one can take 10 us or more:
 * 25 ms on the thread that normalises crops into it, which the inference
 * workers then wait for. Here a pool thread takes those faults first. Each page is
 * touched by an atomic OR of zero, which never changes a byte, so the
 * caller may write into the batch meanwhile; from the end backwards, so the
 * two meet in the middle of a batch being filled. Linux's
 * MADV_POPULATE_WRITE maps the pages in one call before that (kernels from
 * 5.14; elsewhere the touches do it all).
 */
struct prefault {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref owner;
  uint8_t *data;
  size_t length;
};

static void prefault_execute(napi_env env, void *data) {
  (void)env;
  struct prefault *job = data;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (page == 0 || page == (size_t)-1) page = 4096;
  uintptr_t start = (uintptr_t)job->data, end = start + job->length;
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
  uintptr_t first = start & ~(uintptr_t)(page - 1);
  (void)madvise((void *)first, end - first, MADV_POPULATE_WRITE);
#endif
  /* One byte in each page, last page first (the batch's first byte lies in the first page). */
  for (uintptr_t at = (end - 1) & ~(uintptr_t)(page - 1);; at -= page) {
    uint8_t *byte = (uint8_t *)(at < start ? start : at);
    __atomic_fetch_or(byte, 0, __ATOMIC_RELAXED);
    if (at <= start) break;
  }
}

static void prefault_complete(napi_env env, napi_status status, void *data) {
  struct prefault *job = data;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (status == napi_ok)
    napi_resolve_deferred(env, job->deferred, undefined);
  else
    napi_reject_deferred(env, job->deferred, undefined);
  napi_delete_reference(env, job->owner);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* prefault(batch: Float32Array) -> Promise<void>: the batch's pages faulted in on libuv's pool. */
static napi_value prefault(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], buffer, promise, name;
  napi_typedarray_type type;
  size_t length, offset;
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float32_array ||
      length == 0 || data == NULL) {
    napi_throw_error(env, NULL, "posterscope native prefault: expected a non-empty Float32Array");
    return NULL;
  }
  struct prefault *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "posterscope native prefault: out of memory");
    return NULL;
  }
  job->data = data;
  job->length = length * sizeof(float);
  if (napi_create_reference(env, argv[0], 1, &job->owner) != napi_ok) {
    free(job);
    return NULL;
  }
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "posterscope.prefault", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, prefault_execute, prefault_complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_reference(env, job->owner);
    free(job);
    napi_throw_error(env, NULL, "posterscope native prefault: could not queue the work");
    return NULL;
  }
  return promise;
}

/* threadCpuNs() -> number: the calling thread's CPU time in ns, up to date (0 where the clock is missing). */
static napi_value thread_cpu_ns(napi_env env, napi_callback_info info) {
  (void)info;
  double ns = 0;
#if defined(CLOCK_THREAD_CPUTIME_ID)
  struct timespec now;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0) ns = (double)now.tv_sec * 1e9 + (double)now.tv_nsec;
#endif
  napi_value result;
  napi_create_double(env, ns, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"releaseFreeMemory", NULL, release_free_memory, NULL, NULL, NULL, napi_default, NULL},
      {"plainView", NULL, plain_view, NULL, NULL, NULL, napi_default, NULL},
      {"prefault", NULL, prefault, NULL, NULL, NULL, napi_default, NULL},
      {"threadCpuNs", NULL, thread_cpu_ns, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
