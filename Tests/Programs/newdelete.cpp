// C++ operator new/delete reach malloc/free: the stack shows the caller of new.
#include <vector>
__attribute__((noinline)) int *make_ints() { return new int[11]; }  // 44 bytes
int main() {
  int *p = make_ints();
  delete[] p;
  std::vector<double> v(9);  // 72 bytes, freed at scope end
  return v.size() == 9 ? 0 : 1;
}
