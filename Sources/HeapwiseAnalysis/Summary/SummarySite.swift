import HeapwiseFormat

/// The frames that say where a site is, as data: the frame that names it, and around it the native
/// frame that allocated and the first frame of the program's own code (`--format json`'s
/// `site_frames`; the text's `from` and `allocated by` lines).
public struct SiteFrames: Sendable, Hashable, Codable {
  /// The frame that names the site (`SiteOptions.siteFrame`).
  public var site: SourceFrame
  /// Under a Python site frame: the native frame that asked for memory on its behalf (numpy's
  /// `default_malloc`, the interpreter's `_PyBytes_FromSize`); nil for a native site.
  public var native: SourceFrame?
  /// The innermost Python frame in the program's own code (`PythonUserCode`), when the stack has
  /// one; it may be the site frame itself.
  public var user: SourceFrame?

  public init(site: SourceFrame, native: SourceFrame? = nil, user: SourceFrame? = nil) {
    self.site = site
    self.native = native
    self.user = user
  }

  /// The user's frame when it is not the site frame: worth a line of its own.
  public var userBeyondSite: SourceFrame? { user.flatMap { $0 == site ? nil : $0 } }
}

/// A site as the summary names it: the frame that `top --by lineno` chooses for the same stack
/// (`SiteOptions.candidates`, then `SiteOptions.siteFrame`: the innermost Python frame when the
/// stack has one), named as every output names a site (`SourceFrame.siteName`:
/// `function (file.c:42)`).
public struct SummarySite: Sendable, Hashable {
  public var name: String
  public var function: String?
  /// The module's file name.
  public var module: String?
  /// The innermost frame outside the allocator, also when it is the Python interpreter's and the
  /// name comes from further out: what allocated (`_PyObject_ArenaMmap` under a Python line).
  public var innerFunction: String?
  public var innerModule: String?
  /// The site's frames as data (nil for a stack with no frames).
  public var frames: SiteFrames?

  public init(name: String, function: String? = nil, module: String? = nil, innerFunction: String? = nil,
              innerModule: String? = nil, frames: SiteFrames? = nil) {
    self.name = name
    self.function = function
    self.module = module
    self.innerFunction = innerFunction ?? function
    self.innerModule = innerModule ?? module
    self.frames = frames
  }

  /// A namer over `resolver`, symbolizing each stack once.
  static func namer(_ resolver: FrameResolver) -> (StackID) -> SummarySite {
    let options = SiteOptions(grouping: .lineno)
    var cache: [StackID: SummarySite] = [:]
    return { stack in
      if let known = cache[stack] { return known }
      let frames = resolver.frames(of: stack, interpreterNames: false).map(resolver.frame)
      let candidates = options.candidates(frames).map { frames[$0] }
      var first = SiteOptions.siteFrame(candidates).map { candidates[$0] }
      if first?.kind == .interpreter {  // nothing but the interpreter: name its site's frame after all
        first = resolver.firstFrame(of: stack, where: options.showingInterpreterFrames.isCandidate)
      }
      let site: SummarySite
      if let f = first ?? frames.first {
        let inner = f.kind == .interpreter ? f : resolver.firstFrame(of: stack, where: options.showingInterpreterFrames.isCandidate)
        var native: SourceFrame?
        if f.kind == .python {
          // A native candidate inside the Python frame (a C extension's), else whatever allocated
          // (the interpreter's own function, named).
          native = candidates.prefix { $0 != f }.first { $0.kind == .native } ?? inner.flatMap { $0.kind == .python ? nil : $0 }
        }
        let user = frames.first(where: PythonUserCode.contains)
        site = SummarySite(name: f.siteName, function: f.function, module: f.module, innerFunction: inner?.function,
                           innerModule: inner?.module, frames: SiteFrames(site: f, native: native, user: user))
      } else {
        site = SummarySite(name: stack == .none ? "[no call stack recorded]" : "[\(stack) not recorded]")
      }
      cache[stack] = site
      return site
    }
  }
}
