// Every operator new/delete variant a known number of times, one leak, and exceptions thrown
// through the recorder's own operator frames (bad_alloc from the real operator new).
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

struct alignas(64) Wide { char c[64]; };
static int *volatile kept;
static volatile size_t huge = (size_t)1 << 61; /* bytes no allocator can give */

__attribute__((noinline)) static void thrower(int i) {
  if (i % 2 == 0) throw std::runtime_error("even " + std::to_string(i));
}

static int ops() {
  for (int i = 0; i < 100000; i++) { int *p = new int(i); delete p; }                 // new / sized delete
  for (int i = 0; i < 1000; i++) { char *a = new char[100]; delete[] a; }             // new[] / delete[]
  for (int i = 0; i < 10; i++) { Wide *w = new Wide; delete w; }                      // aligned
  for (int i = 0; i < 10; i++) { Wide *w = new Wide[3]; delete[] w; }                 // aligned array
  for (int i = 0; i < 10; i++) { int *p = new (std::nothrow) int; ::operator delete(p, std::nothrow); }
  for (int i = 0; i < 10; i++) { char *a = new (std::nothrow) char[5]; delete[] a; }
  kept = new int[7];  // 28 B, never freed
  return 0;
}

static int exceptions() {
  long caught = 0;
  for (int i = 0; i < 20000; i++) {
    try { std::vector<int> v(10); thrower(i); } catch (const std::exception &) { caught++; }
  }
  int bad = 0;
  for (int i = 0; i < 100; i++) {
    try { kept = new int[huge]; } catch (const std::bad_alloc &) { bad++; }
  }
  kept = new int[3];  // the thread still records after 100 exceptions through the hook: 12 B
  std::printf("caught %ld bad_alloc %d\n", caught, bad);
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!std::strcmp(mode, "ops")) return ops();
  if (!std::strcmp(mode, "exceptions")) return exceptions();
  return 2;
}
