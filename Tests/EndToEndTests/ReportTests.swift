// `report`: HTML pages of recorded examples loaded in Debian's chromium, headless. A test fails
// on any console message (errors, CSP violations: the page logs nothing when all is well) and
// checks that the figures the page shows are the JSON reports' (`top`, `summary`).
import Foundation
import Testing

enum Browser {
  static let path: String? = Repository.which("chromium") ?? Repository.which("chromium-browser")

  /// Loads `page` and returns the DOM after its scripts ran, and chromium's console lines.
  static func dumpDOM(_ page: String, fragment: String = "", ws: Workspace, size: String = "1280,800") throws
    -> (dom: String, console: [String])
  {
    let r = try CLI.runProcess(
      path!,
      ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(ws.path("chromium"))",
       "--enable-logging=stderr", "--v=0", "--window-size=\(size)", "--virtual-time-budget=5000", "--dump-dom",
       "file://\(page)" + (fragment.isEmpty ? "" : "#" + fragment)], timeout: 300)
    #expect(r.status == 0, "chromium: \(r.stderr)")
    let console = r.stderr.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") }
    return (r.stdout, console)
  }

  /// `data-check="key" data-value="n">text<` pairs of a dumped DOM: key → (value, shown text).
  static func checks(_ dom: String) -> [String: (value: UInt64, text: String)] {
    var out: [String: (UInt64, String)] = [:]
    let re = try! NSRegularExpression(pattern: #"data-check="([^"]*)" data-value="(\d+)"(?: data-count="\d*")?>([^<]*)<"#)
    let ns = dom as NSString
    for m in re.matches(in: dom, range: NSRange(location: 0, length: ns.length)) {
      out[ns.substring(with: m.range(at: 1))] = (UInt64(ns.substring(with: m.range(at: 2))) ?? 0, ns.substring(with: m.range(at: 3)))
    }
    return out
  }
}

@Suite(.serialized) struct ReportTests {
  /// Compiles an example from examples/ and records it.
  static func record(example: String, arguments: [String] = [], ws: Workspace) throws -> String {
    let exe = ws.path(example)
    let cc = try CLI.runProcess("/usr/bin/cc", ["-O1", "-g", "-pthread", "-I", Repository.path("CShim/include"), "-o", exe,
                                                Repository.path("examples/\(example).c")])
    #expect(cc.status == 0, "\(cc.stderr)")
    return try ws.record(exe, arguments, dump: "\(example).heapwise")
  }

  static func json(_ arguments: [String]) throws -> [String: Any] {
    let r = try CLI.run(arguments)
    #expect(r.status == 0, "\(r.stderr)")
    return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
  }

  static func report(_ dump: String, ws: Workspace, name: String) throws -> String {
    let page = ws.path("\(name).html")
    // A debug build on a busy 2-core machine takes a while on the 100k-stack dump.
    let r = try CLI.run(["report", dump, "-o", page], timeout: 600)
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stderr.contains("report written to \(page)"), "\(r.stderr)")
    return page
  }

  @Test func pageIsSelfContained() throws {
    let (ws, _, dump) = try ExportTests.dump()
    let html = try String(contentsOfFile: try Self.report(dump, ws: ws, name: "contained"), encoding: .utf8)
    #expect(html.contains("Content-Security-Policy\" content=\"default-src 'none'"))
    // Nothing that would load: no src or href attributes, no URL but the SVG namespace.
    #expect(!html.contains(" src=") && !html.contains(" href="))
    let urls = html.components(separatedBy: "://").count - 1
    #expect(urls == html.components(separatedBy: "http://www.w3.org/2000/svg").count - 1, "a URL in the page")
  }

  @Test func badInputsSayOneLine() throws {
    let (ws, _, dump) = try ExportTests.dump()
    let notADump = try CLI.run(["report", ws.path("export.c"), "-o", ws.path("x.html")])
    #expect(notADump.status == 1 && notADump.stderr.split(separator: "\n").count == 1, "\(notADump.stderr)")
    let unwritable = try CLI.run(["report", dump, "-o", ws.path("no/such/dir/x.html")])
    #expect(unwritable.status == 1 && unwritable.stderr.contains("cannot write"), "\(unwritable.stderr)")
    let share = try CLI.run(["report", dump, "--min-share", "100"])
    #expect(share.status != 0 && share.stderr.contains("--min-share"), "\(share.stderr)")
  }

  @Test(.enabled(if: Browser.path != nil, "chromium is not installed (tools/install-deps.sh tries to): the browser test skips"))
  func figuresOnThePageAreTheJSONReports() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("report")
    defer { ws.remove() }
    for example in ["growing_cache", "peak_then_free"] {
      let dump = try Self.record(example: example, arguments: example == "peak_then_free" ? ["16"] : [], ws: ws)
      let page = try Self.report(dump, ws: ws, name: example)
      let (dom, console) = try Browser.dumpDOM(page, ws: ws)
      #expect(console.isEmpty, "\(example): console messages: \(console)")
      #expect(dom.contains("data-selfcheck=\"ok\""), "\(example): self-check did not pass")
      #expect(!dom.contains("<pre id=\"hw-errors\">"), "\(example): errors shown")
      let checks = Browser.checks(dom)

      // Tables and flame graph totals are top's.
      for metric in ["live", "leaked", "peak", "allocated", "temporary"] {
        let top = try Self.json(["top", dump, "--metric", metric, "--format", "json", "--limit", "1"])
        let total = (top["total"] as? [String: Any])?["size"] as? NSNumber
        #expect(checks["table:\(metric):total"]?.value == total?.uint64Value, "\(example) \(metric)")
        if let first = (top["sites"] as? [[String: Any]])?.first {
          #expect(checks["table:\(metric):0"]?.value == (first["size"] as? NSNumber)?.uint64Value, "\(example) \(metric)")
        }
      }
      let live = try Self.json(["top", dump, "--format", "json"])
      #expect(checks["view:exit:total"]?.value == ((live["total"] as? [String: Any])?["size"] as? NSNumber)?.uint64Value)
      let peak = try Self.json(["top", dump, "--metric", "peak", "--format", "json"])
      let peakTotal = ((peak["total"] as? [String: Any])?["size"] as? NSNumber)?.uint64Value
      let atPeak = try Browser.dumpDOM(page, fragment: "view=peak&inverted=1", ws: ws)
      #expect(atPeak.console.isEmpty, "\(atPeak.console)")
      #expect(Browser.checks(atPeak.dom)["view:peak:total"]?.value == peakTotal)

      // Every control, driven by the page's own self-test, without an error.
      let driven = try Browser.dumpDOM(page, fragment: "selftest=1", ws: ws)
      #expect(driven.console.isEmpty, "\(example): \(driven.console)")
      #expect(driven.dom.contains("data-selftest=\"ok\""), "\(example): the self-test did not pass")

      // The RSS split is the summary's.
      let summary = try Self.json(["summary", dump, "--format", "json"])
      let exit = summary["at_exit"] as? [String: Any] ?? [:]
      for (name, key) in [("RSS", "rss"), ("live heap", "live_heap"), ("allocator-held", "allocator_held"),
                          ("mapped", "mapped"), ("other", "other")] {
        let bytes = ((exit[key] as? [String: Any])?["bytes"] as? NSNumber)?.uint64Value ?? 0
        #expect(checks["split:\(name)"]?.value == bytes, "\(example) \(name)")
      }
      // Sizes are printed as the command line prints them.
      let text = try CLI.run(["top", dump, "--limit", "1"]).stdout
      if let shown = checks["table:live:0"]?.text {
        #expect(text.contains("size=\(shown),"), "\(example): \(shown) not in \(text)")
      }
    }
  }

  @Test(.enabled(if: Browser.path != nil, "chromium is not installed (tools/install-deps.sh tries to): the browser test skips"))
  func markerViewSearchAndDarkScheme() throws {
    let (ws, _, dump) = try ExportTests.dump()
    let page = try Self.report(dump, ws: ws, name: "markers")
    let atFive = try Self.json(["top", dump, "--at", "five", "--format", "json"])
    let fiveTotal = ((atFive["total"] as? [String: Any])?["size"] as? NSNumber)?.uint64Value
    let driven = try Browser.dumpDOM(page, fragment: "selftest=1&theme=dark", ws: ws, size: "420,900")
    #expect(driven.console.isEmpty, "\(driven.console)")
    #expect(driven.dom.contains("data-selftest=\"ok\""))
    for fragment in ["view=marker:five&search=keep", "view=marker:five&search=keep&inverted=1&theme=dark"] {
      let (dom, console) = try Browser.dumpDOM(page, fragment: fragment, ws: ws, size: "420,900")
      #expect(console.isEmpty, "\(console)")
      #expect(dom.contains("data-selfcheck=\"ok\""))
      let checks = Browser.checks(dom)
      #expect(checks["view:marker:five:total"]?.value == fiveTotal)
      // keep() made every block live at "five", directly (normal view) or as the caller (inverted).
      #expect(checks["search:share"]?.value == 5 * 1000, "\(fragment)")
      #expect(checks["search:share"]?.text == "4.9 KiB (100.0%)", "\(fragment)")
    }
  }

  @Test(.enabled(if: Browser.path != nil, "chromium is not installed (tools/install-deps.sh tries to): the browser test skips"))
  func hundredThousandStacksArePruned() throws {
    try CLI.requireLibrary()
    let ws = try Workspace("many")
    defer { ws.remove() }
    let exe = ws.path("many_stacks")
    let cc = try CLI.runProcess("/usr/bin/cc", ["-O0", "-g", "-o", exe, Repository.path("tools/bench/many_stacks.c")])
    #expect(cc.status == 0, "\(cc.stderr)")
    let dump = try ws.record(exe, dump: "many.heapwise")
    let page = try Self.report(dump, ws: ws, name: "many")
    let size = (try FileManager.default.attributesOfItem(atPath: page)[.size] as? NSNumber)?.intValue ?? .max
    // docs/REPORTS.md states the bound: under 2 MiB for 100k distinct stacks.
    #expect(size < 2 << 20, "page is \(size) bytes")
    let (dom, console) = try Browser.dumpDOM(page, ws: ws)
    #expect(console.isEmpty, "\(console)")
    #expect(dom.contains("data-selfcheck=\"ok\""))
    let checks = Browser.checks(dom)
    let live = try Self.json(["top", dump, "--format", "json"])
    #expect(checks["view:exit:total"]?.value == ((live["total"] as? [String: Any])?["size"] as? NSNumber)?.uint64Value)
    // The page says how much it pruned, and it pruned something.
    #expect((checks["view:exit:pruned"]?.value ?? 0) > 0)
    #expect(dom.contains("Frames under 0.1% of the total are pruned ("))
  }
}
