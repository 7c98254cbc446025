import Testing

@testable import HeapwiseSymbols

struct DemanglerTests {
  @Test func cxx() {
    #expect(Demangler.demangle("_ZN3foo3barEv") == "foo::bar()")
    #expect(Demangler.demangle("_ZNSt6vectorIiSaIiEE9push_backERKi")
      == "std::vector<int, std::allocator<int> >::push_back(int const&)")
  }

  @Test func swift() {
    #expect(Demangler.demangle("$sSi") == "Swift.Int")
    #expect(Demangler.demangle("$s4main3fooyyF") == "main.foo() -> ()")
  }

  @Test func othersUnchanged() {
    #expect(Demangler.demangle("malloc") == "malloc")
    #expect(Demangler.demangle("_Znot-a-cxx-name") == "_Znot-a-cxx-name")
    #expect(Demangler.demangle("$snonsense!") == "$snonsense!")
  }
}
