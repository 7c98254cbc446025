import HeapwiseFormat

/// A site as the summary names it: the first frame of a stack that is not the allocator's or the
/// recorder's (the same choice as `top --by lineno`), named as every output names a site
/// (`SourceFrame.siteName`: `function (file.c:42)`).
public struct SummarySite: Sendable, Hashable {
  public var name: String
  public var function: String?
  /// The module's file name.
  public var module: String?
  /// The innermost frame outside the allocator, also when it is the Python interpreter's and the
  /// name comes from further out: what allocated (`_PyObject_ArenaMmap` under a Python line).
  public var innerFunction: String?
  public var innerModule: String?

  public init(name: String, function: String? = nil, module: String? = nil, innerFunction: String? = nil,
              innerModule: String? = nil) {
    self.name = name
    self.function = function
    self.module = module
    self.innerFunction = innerFunction ?? function
    self.innerModule = innerModule ?? module
  }

  /// A namer over `resolver`, symbolizing each stack once.
  static func namer(_ resolver: FrameResolver) -> (StackID) -> SummarySite {
    let options = SiteOptions(grouping: .lineno)
    var cache: [StackID: SummarySite] = [:]
    return { stack in
      if let known = cache[stack] { return known }
      let frames = resolver.frames(of: stack, interpreterNames: false).map(resolver.frame)
      var first = options.candidates(frames).first.map { frames[$0] }
      if first?.kind == .interpreter {  // nothing but the interpreter: name its site's frame after all
        first = resolver.firstFrame(of: stack, where: options.showingInterpreterFrames.isCandidate)
      }
      let site: SummarySite
      if let f = first ?? frames.first {
        let name = f.siteName
        let inner = f.kind == .interpreter ? f : resolver.firstFrame(of: stack, where: options.showingInterpreterFrames.isCandidate)
        site = SummarySite(name: name, function: f.function, module: f.module, innerFunction: inner?.function,
                           innerModule: inner?.module)
      } else {
        site = SummarySite(name: stack == .none ? "[no call stack recorded]" : "[\(stack) not recorded]")
      }
      cache[stack] = site
      return site
    }
  }
}
