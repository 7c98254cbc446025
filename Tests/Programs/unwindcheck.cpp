// C++ for the unwinder's check mode: allocations while an exception is in flight (destructors
// run by the unwinder, the exception object itself, catch blocks that allocate and rethrow), and
// the standard library's own allocations, under frames with personality routines and LSDAs.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

static void *volatile sink;

struct Noisy {
  int n;
  explicit Noisy(int n) : n(n) { sink = new char[16 + n]; delete[] static_cast<char *>(sink); }
  ~Noisy() {
    std::string s(64 + n, 'x');  // allocates while the unwinder runs this destructor
    sink = &s;
    std::vector<int> v(n + 10);
    sink = v.data();
  }
};

__attribute__((noinline)) static void thrower(int depth, int kind) {
  Noisy guard(depth);
  if (depth > 0) {
    thrower(depth - 1, kind);
    return;
  }
  if (kind % 3 == 0) throw std::runtime_error(std::string(100, 'e'));  // allocates the message too
  if (kind % 3 == 1) throw std::vector<int>(50, kind);
  throw kind;
}

__attribute__((noinline)) static int catcher(int depth, int kind) {
  try {
    thrower(depth, kind);
  } catch (const std::runtime_error &e) {
    std::string copy = e.what();  // allocates in the catch block
    return (int)copy.size();
  } catch (const std::vector<int> &v) {
    try {
      Noisy inner(3);
      throw;  // rethrow while another destructor will run
    } catch (...) {
      return (int)v.size();
    }
  } catch (int k) {
    auto p = std::make_unique<std::map<int, std::string>>();
    (*p)[k] = std::string(40, 'k');
    return k;
  }
  return -1;
}

int main() {
  long total = 0;
  for (int i = 0; i < 3000; i++) total += catcher(i % 9, i);
  std::map<std::string, std::vector<int>> m;
  for (int i = 0; i < 2000; i++) m[std::to_string(i % 300)].push_back(i);
  std::printf("done %ld %zu\n", total, m.size());
  return 0;
}
