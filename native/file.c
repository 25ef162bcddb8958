/*
 * posterscope's file reader in C: open, fstat, read and close a poster in one
 * task on libuv's thread pool. Node's fs does each of the four as a task of
 * its own, and each hand-off wakes a pool thread and then the main thread
 * again: on a 2-core machine busy with inference that was ~0.2 core-ms per
 * poster, more than reading the bytes. The file is opened non-blocking, so a
 * FIFO does not wait for a writer; only a regular file is read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum kind { KIND_FILE = 0, KIND_DIRECTORY = 1, KIND_OTHER = 2 };

struct task {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref into; /* keeps the caller's buffer alive while the pool thread writes it */
  char *path;
  unsigned char *data;
  size_t capacity;
  /* Results. */
  int error; /* errno, 0 when none */
  const char *syscall;
  enum kind kind;
  int64_t size;
  size_t read;
};

static void execute(napi_env env, void *data) {
  (void)env;
  struct task *t = data;
  int fd;
  do fd = open(t->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    t->error = errno;
    t->syscall = "open";
    return;
  }
  struct stat info;
  if (fstat(fd, &info) != 0) {
    t->error = errno;
    t->syscall = "fstat";
  } else if (S_ISDIR(info.st_mode)) {
    t->kind = KIND_DIRECTORY;
  } else if (!S_ISREG(info.st_mode)) {
    t->kind = KIND_OTHER;
  } else {
    t->size = (int64_t)info.st_size;
    /* At most the size fstat gave and the buffer holds: a file growing meanwhile is read as it was. */
    size_t want = (uint64_t)info.st_size < t->capacity ? (size_t)info.st_size : t->capacity;
    while (t->read < want) {
      ssize_t n = pread(fd, t->data + t->read, want - t->read, (off_t)t->read);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        t->error = errno;
        t->syscall = "read";
        break;
      }
      if (n == 0) break; /* shrank */
      t->read += (size_t)n;
    }
  }
  close(fd);
}

static void set_number(napi_env env, napi_value object, const char *name, double value) {
  napi_value number;
  napi_create_double(env, value, &number);
  napi_set_named_property(env, object, name, number);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct task *t = data;
  napi_value result;
  napi_create_object(env, &result);
  if (status != napi_ok && t->error == 0) {
    t->error = ECANCELED;
    t->syscall = "read";
  }
  set_number(env, result, "errno", t->error);
  set_number(env, result, "kind", t->kind);
  set_number(env, result, "size", (double)t->size);
  set_number(env, result, "read", (double)t->read);
  if (t->syscall) {
    napi_value syscall;
    napi_create_string_utf8(env, t->syscall, NAPI_AUTO_LENGTH, &syscall);
    napi_set_named_property(env, result, "syscall", syscall);
  }
  napi_resolve_deferred(env, t->deferred, result);
  napi_delete_reference(env, t->into);
  napi_delete_async_work(env, t->work);
  free(t->path);
  free(t);
}

/*
 * read(path: string, into: Uint8Array) -> Promise<{ errno, syscall?, kind, size, read }>
 * kind: 0 a regular file, 1 a directory, 2 anything else (nothing is read).
 * size: the file's size from fstat; read: the bytes put in `into`, at most
 * its length (size > into.length: read again with a larger buffer).
 * errno is 0, or the failing call's error (syscall names it).
 */
static napi_value read_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise, name;
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t length, offset, path_length;
  void *bytes;
  napi_valuetype path_type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || napi_typeof(env, argv[0], &path_type) != napi_ok ||
      path_type != napi_string || napi_get_typedarray_info(env, argv[1], &type, &length, &bytes, &arraybuffer, &offset) != napi_ok ||
      type != napi_uint8_array || napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_length) != napi_ok || path_length == 0) {
    napi_throw_error(env, NULL, "posterscope native read: expected (path: string, into: Uint8Array)");
    return NULL;
  }
  struct task *t = calloc(1, sizeof *t);
  if (t == NULL || (t->path = malloc(path_length + 1)) == NULL) {
    free(t);
    napi_throw_error(env, NULL, "posterscope native read: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], t->path, path_length + 1, &path_length);
  /* A NUL inside the path would open another file than the one named. */
  if (strlen(t->path) != path_length) {
    free(t->path);
    free(t);
    napi_throw_error(env, NULL, "posterscope native read: the path contains a NUL byte");
    return NULL;
  }
  t->data = bytes;
  t->capacity = length;
  if (napi_create_reference(env, argv[1], 1, &t->into) != napi_ok) goto failed;
  if (napi_create_string_utf8(env, "posterscope:read", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, t, &t->work) != napi_ok) {
    napi_delete_reference(env, t->into);
    goto failed;
  }
  if (napi_create_promise(env, &t->deferred, &promise) != napi_ok || napi_queue_async_work(env, t->work) != napi_ok) {
    /* A promise created but never queued stays pending: nothing holds it but this call, which throws. */
    napi_delete_async_work(env, t->work);
    napi_delete_reference(env, t->into);
    goto failed;
  }
  return promise;
failed:
  free(t->path);
  free(t);
  napi_throw_error(env, NULL, "posterscope native read: could not queue the read");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"read", NULL, read_file, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
