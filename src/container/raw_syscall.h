#pragma once
// Raw system calls for code that runs in a CLONE_VM child. glibc's wrappers
// set errno, which lives in the TLS of the thread that cloned us, and may be
// instrumented by sanitizers; these return -errno instead and touch nothing
// but registers. Written by hand because no library offers this.
#include <fcntl.h>
#include <sys/syscall.h>

namespace mael::raw {

#define MAEL_CHILD_FN __attribute__((no_sanitize("address", "undefined"), always_inline)) static inline

#if defined(__x86_64__)
MAEL_CHILD_FN long syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
MAEL_CHILD_FN long syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "raw syscalls are only written for x86_64 and aarch64"
#endif

template <typename A = long, typename B = long, typename C = long, typename D = long, typename E = long,
          typename F = long>
MAEL_CHILD_FN long sys(long n, A a = 0, B b = 0, C c = 0, D d = 0, E e = 0, F f = 0) {
  return syscall6(n, (long)a, (long)b, (long)c, (long)d, (long)e, (long)f);
}

// Appends s (without its NUL) at p; returns the new end.
MAEL_CHILD_FN char* put_text(char* p, const char* s) {
  while (*s) *p++ = *s++;
  return p;
}

// Appends the decimal digits of v at p; returns the new end.
MAEL_CHILD_FN char* put_decimal(char* p, unsigned long v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0) *p++ = digits[--n];
  return p;
}

// Writes text (NUL-terminated) to the file at path (relative to dir, or to
// the cwd with AT_FDCWD, if not absolute) in one write; 0 or -errno.
MAEL_CHILD_FN long write_text_at(long dir, const char* path, const char* text) {
  long fd = sys(SYS_openat, dir, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  unsigned long n = 0;
  while (text[n]) ++n;
  long rc = sys(SYS_write, fd, text, n);
  sys(SYS_close, fd);
  if (rc >= 0 && static_cast<unsigned long>(rc) != n) return -5;  // EIO
  return rc < 0 ? rc : 0;
}

MAEL_CHILD_FN long write_text(const char* path, const char* text) {
  return write_text_at(AT_FDCWD, path, text);
}

}  // namespace mael::raw
