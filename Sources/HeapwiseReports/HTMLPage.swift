// The HTML report's page: markup, CSS and JavaScript as literals, so the binary needs no resource
// files and the page no network (its Content-Security-Policy allows nothing but its own inline
// script and style). The data comes in as JSON (HTMLReport.Data) in a script element.

enum HTMLPage {
  static func document(title: String, json: String) -> String {
    """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="color-scheme" content="light dark">
    <title>\(escape(title))</title>
    <style>\(css)</style>
    </head>
    <body>
    <header>
    <h1>heapwise report</h1>
    <p id="hw-title"></p>
    <p id="hw-facts" class="muted"></p>
    <div id="hw-sampling" class="sampling" hidden><h2>Sampled dump: the figures are estimates</h2><ul id="hw-sampling-lines"></ul></div>
    </header>
    <main>
    <section id="verdict" aria-labelledby="verdict-h"><h2 id="verdict-h">Verdict</h2><div id="hw-verdict"></div></section>
    <section id="timeline" aria-labelledby="timeline-h">
    <h2 id="timeline-h">RSS over time</h2>
    <div id="hw-legend" class="legend"></div>
    <div id="hw-chart" class="chart"></div>
    <p class="hint muted">Hover for the figures of a sample; click to see the flame graph of the nearest moment that has one (a marker, the peak, the end).</p>
    <details id="hw-split-box"><summary>RSS at exit, part by part, with how each figure was measured</summary><div class="scroll"><table id="hw-split"></table></div></details>
    </section>
    <section id="flame" aria-labelledby="flame-h">
    <h2 id="flame-h">Flame graph</h2>
    <div class="controls">
    <label>Show <select id="hw-view"></select></label>
    <label><input type="checkbox" id="hw-inverted"> inverted (allocating functions on top, their callers below)</label>
    <label>Search <input type="search" id="hw-search" placeholder="function, file or module" spellcheck="false"></label>
    <button type="button" id="hw-reset">Reset zoom</button>
    </div>
    <p id="hw-flame-info"></p>
    <p id="hw-search-result" class="muted"></p>
    <div id="hw-flame" class="flame"></div>
    <p class="hint muted">Click a frame to zoom into it, the top frame to zoom out. <span class="swatch native"></span> native code <span class="swatch python"></span> Python <span class="swatch interpreter"></span> the Python interpreter</p>
    </section>
    <section id="tables" aria-labelledby="tables-h">
    <h2 id="tables-h">Top sites</h2>
    <div id="hw-table-tabs" class="tabs" role="tablist"></div>
    <div id="hw-tables"></div>
    </section>
    <section id="warnings" hidden><h2>Warnings</h2><ul id="hw-warnings"></ul></section>
    <pre id="hw-errors" hidden></pre>
    </main>
    <div id="hw-tip" class="tip" role="tooltip" hidden></div>
    <script type="application/json" id="hw-data">\(json)</script>
    <script>\(script)</script>
    </body>
    </html>

    """
  }

  static func escape(_ s: String) -> String {
    var out = ""
    for c in s {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      default: out.append(c)
      }
    }
    return out
  }

  static let css = """
    :root { --bg: #ffffff; --fg: #1d1f23; --muted: #5b6270; --line: #d5d9e0; --panel: #f5f6f8;
      --c0: #3b7dd8; --c1: #e0a030; --c2: #3fa46a; --c3: #9b6bd3; --c4: #a0a6b0;
      --peak: #d43d3d; --marker: #444b57; --verdict: rgba(212, 61, 61, 0.12); --match: #d63ad6;
      --flame-s: 75%; --flame-l: 62%; --flame-text: #111; color-scheme: light dark; }
    @media (prefers-color-scheme: dark) { :root:not(.light) { --bg: #16181c; --fg: #e4e6ea; --muted: #9aa1ad; --line: #343841;
      --panel: #1f2227; --c0: #5b9bf0; --c1: #e8b14c; --c2: #56c084; --c3: #b38be6; --c4: #6d7380;
      --peak: #ff6b6b; --marker: #b7bcc6; --verdict: rgba(255, 107, 107, 0.16); --match: #ff6bff;
      --flame-s: 55%; --flame-l: 42%; --flame-text: #f2f2f2; } }
    :root.dark { --bg: #16181c; --fg: #e4e6ea; --muted: #9aa1ad; --line: #343841;
      --panel: #1f2227; --c0: #5b9bf0; --c1: #e8b14c; --c2: #56c084; --c3: #b38be6; --c4: #6d7380;
      --peak: #ff6b6b; --marker: #b7bcc6; --verdict: rgba(255, 107, 107, 0.16); --match: #ff6bff;
      --flame-s: 55%; --flame-l: 42%; --flame-text: #f2f2f2; color-scheme: dark; }
    * { box-sizing: border-box; }
    body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
    header, main { max-width: 1400px; margin: 0 auto; padding: 0 20px; }
    header { padding-top: 14px; }
    h1 { font-size: 20px; margin: 0 0 2px; }
    h2 { font-size: 16px; margin: 18px 0 8px; }
    p { margin: 4px 0; }
    .muted { color: var(--muted); }
    .sampling { border-left: 3px solid var(--c1); padding: 2px 12px; margin: 8px 0; }
    .sampling h2 { font-size: 15px; margin: 4px 0; }
    .interval { color: var(--muted); }
    #hw-title { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; overflow-wrap: anywhere; }
    section { border-top: 1px solid var(--line); }
    .finding { background: var(--panel); border-left: 4px solid var(--peak); padding: 8px 12px; margin: 6px 0; border-radius: 4px; }
    .finding.also { border-left-color: var(--c4); }
    .finding h3 { font-size: 15px; margin: 0 0 4px; }
    .finding ul { margin: 0; padding-left: 20px; }
    .finding li.sub { list-style: none; margin-left: 14px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
    .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 13px; }
    .legend span { display: inline-flex; align-items: center; gap: 5px; }
    .legend i, .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; }
    .swatch.native { background: hsl(20, var(--flame-s), var(--flame-l)); }
    .swatch.python { background: hsl(200, var(--flame-s), var(--flame-l)); }
    .swatch.interpreter { background: hsl(20, calc(var(--flame-s) - 45%), var(--flame-l)); }
    .chart { position: relative; width: 100%; margin-top: 6px; }
    .chart svg { display: block; width: 100%; overflow: visible; cursor: crosshair; }
    .chart text { fill: var(--muted); font-size: 11px; }
    .chart .axis { stroke: var(--line); }
    .chart .marker { stroke: var(--marker); stroke-dasharray: 3 3; }
    .chart .marker-label { fill: var(--fg); }
    .chart .peak { stroke: var(--peak); stroke-width: 2; }
    .chart .peak-label { fill: var(--peak); font-weight: 600; }
    .chart .selected { stroke: var(--match); stroke-width: 2; }
    .chart .guide { stroke: var(--fg); stroke-opacity: 0.5; }
    .chart .verdict { fill: var(--verdict); }
    .chart .verdict-line { stroke: var(--peak); stroke-width: 6; stroke-opacity: 0.25; }
    .tip { position: fixed; z-index: 10; pointer-events: none; background: var(--panel); color: var(--fg);
      border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; font-size: 12.5px; box-shadow: 0 2px 8px rgba(0,0,0,.25); max-width: 420px; }
    .tip table td { padding: 0 6px 0 0; }
    .tip .num { text-align: right; font-variant-numeric: tabular-nums; }
    .controls { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
    select, input[type=search], button { font: inherit; color: var(--fg); background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: 3px 6px; }
    input[type=search] { width: 220px; }
    .flame { position: relative; width: 100%; margin-top: 6px; overflow: hidden; border: 1px solid var(--line); border-radius: 4px; }
    .flame div { position: absolute; height: 17px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
      font-size: 11.5px; line-height: 17px; padding: 0 3px; color: var(--flame-text); border-right: 1px solid var(--bg);
      border-bottom: 1px solid var(--bg); cursor: pointer; }
    .flame div.dim { opacity: 0.35; }
    .flame div.match { background: var(--match) !important; opacity: 1; }
    .flame div.ancestor { opacity: 0.6; }
    .tabs { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 6px; }
    .tabs button[aria-selected=true] { border-color: var(--fg); font-weight: 600; }
    .scroll { overflow-x: auto; }
    table.sites, #hw-split { border-collapse: collapse; width: 100%; font-size: 13px; }
    table.sites th, table.sites td, #hw-split th, #hw-split td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
    table.sites td.num, table.sites th.num, #hw-split td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    table.sites td.site { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; overflow-wrap: anywhere; }
    table.sites tr.total td { font-weight: 600; }
    caption { text-align: left; color: var(--muted); padding: 2px 0 4px; }
    #hw-errors { color: var(--peak); white-space: pre-wrap; }
    details summary { cursor: pointer; color: var(--muted); margin: 6px 0; }
    @media (max-width: 700px) {
      header, main { padding: 0 10px; }
      body { font-size: 13px; }
      input[type=search] { width: 160px; }
      table.sites td.share, table.sites th.share { display: none; }
    }
    """

  static let script = #"""
    "use strict";
    (function () {
    const errors = [];
    function fail(message) {
      errors.push(String(message));
      const box = document.getElementById("hw-errors");
      box.hidden = false;
      box.textContent = errors.join("\n");
      document.body.dataset.selfcheck = "failed";
    }
    window.addEventListener("error", function (e) { fail("error: " + e.message); });
    const started = performance.now();
    const D = JSON.parse(document.getElementById("hw-data").textContent);
    const $ = function (id) { return document.getElementById(id); };
    const SVG = "http://www.w3.org/2000/svg";
    function el(tag, attrs, text) {
      const e = document.createElement(tag);
      for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function svg(tag, attrs) {
      const e = document.createElementNS(SVG, tag);
      for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
      return e;
    }

    // Units as the command line prints them (HeapwiseAnalysis/Units.swift): powers of 1024, one
    // decimal below 100 of a unit.
    const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    function bytes(value) {
      if (value < 1024) return value + " B";
      let v = value, unit = -1;
      while (v >= 1024 && unit < UNITS.length - 1) { v /= 1024; unit++; }
      if (v >= 1023.95 && unit < UNITS.length - 1) { v /= 1024; unit++; }
      if (v < 99.95) { const t = Math.round(v * 10); return Math.floor(t / 10) + "." + (t % 10) + " " + UNITS[unit]; }
      return Math.round(v) + " " + UNITS[unit];
    }
    function seconds(s) {
      const ms = Math.round(s * 1000);
      return Math.floor(ms / 1000) + "." + String(ms % 1000).padStart(3, "0") + " s";
    }
    function share(part, total) { return total > 0 ? (100 * part / total).toFixed(1) + "%" : "0.0%"; }
    function figure(value, unit) { return unit === "bytes" ? bytes(value) : String(value); }
    function checked(e, key, value) { e.dataset.check = key; e.dataset.value = String(value); return e; }

    // The moment chosen from the URL (#view=peak&inverted=1&search=x&theme=dark&table=allocated).
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("theme") === "dark") document.documentElement.classList.add("dark");
    if (params.get("theme") === "light") document.documentElement.classList.add("light");

    // Header.
    $("hw-title").textContent = D.title;
    const facts = ["pid " + D.pid, seconds(D.duration) + " recorded", "allocator: " + (D.allocator || "unknown (no statistics)")];
    $("hw-facts").textContent = facts.join(" · ");
    // A sampled dump: what its estimates are, and their noise (the summary's lines).
    if (D.sampling) {
      $("hw-sampling").hidden = false;
      D.sampling.forEach(function (line) { $("hw-sampling-lines").appendChild(el("li", {}, line)); });
    }
    // "[1.1 MiB, 1.3 MiB]" of a sampled estimate, marked for the browser test.
    function interval(iv, unit, key) {
      const e = el("span", { class: "interval" }, "[" + figure(iv.low, unit) + ", " + figure(iv.high, unit) + "]");
      if (key) { e.dataset.interval = key; e.dataset.low = String(iv.low); e.dataset.high = String(iv.high); }
      return e;
    }

    // Verdict.
    D.verdict.forEach(function (f, i) {
      const box = el("div", { class: i === 0 ? "finding" : "finding also" });
      box.appendChild(el("h3", {}, (i === 0 ? "verdict: " : "also: ") + f.headline));
      const list = el("ul");
      f.evidence.forEach(function (line) {
        list.appendChild(el("li", line.startsWith("  ") ? { class: "sub" } : {}, line.trim()));
      });
      box.appendChild(list);
      $("hw-verdict").appendChild(box);
    });
    if (D.warnings.length) {
      $("warnings").hidden = false;
      D.warnings.forEach(function (w) { $("hw-warnings").appendChild(el("li", {}, w)); });
    }

    // ---- Timeline -------------------------------------------------------------------------
    const T = D.timeline;
    const colours = T.categories.map(function (_, i) { return "var(--c" + i + ")"; });
    const methods = {};
    (T.atExit || []).forEach(function (p) { methods[p.name] = p.method; });
    T.categories.forEach(function (name, i) {
      const item = el("span", { title: methods[name] || "" });
      const sw = el("i");
      sw.style.background = colours[i];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(name));
      $("hw-legend").appendChild(item);
    });
    const peakItem = el("span", {}, "— peak");
    peakItem.style.color = "var(--peak)";
    $("hw-legend").appendChild(peakItem);
    if (T.atExit) {
      const table = $("hw-split");
      const head = el("tr");
      ["part", "bytes", "share of RSS", "how it was measured"].forEach(function (h) { head.appendChild(el("th", {}, h)); });
      table.appendChild(head);
      const rss = T.atExit[0].bytes;
      T.atExit.forEach(function (p) {
        const tr = el("tr");
        tr.appendChild(el("td", {}, p.name));
        tr.appendChild(checked(el("td", { class: "num" }, bytes(p.bytes)), "split:" + p.name, p.bytes));
        tr.appendChild(el("td", { class: "num" }, share(p.bytes, rss)));
        tr.appendChild(el("td", {}, p.method));
        table.appendChild(tr);
      });
    } else {
      $("hw-split-box").hidden = true;
    }

    let selectedTime = null;
    const tip = $("hw-tip");
    function showTip(x, y, content) {
      tip.replaceChildren(content);
      tip.hidden = false;
      const w = tip.offsetWidth, h = tip.offsetHeight;
      tip.style.left = Math.max(4, Math.min(x + 14, window.innerWidth - w - 4)) + "px";
      tip.style.top = Math.max(4, (y + 14 + h > window.innerHeight ? y - h - 10 : y + 14)) + "px";
    }
    function hideTip() { tip.hidden = true; }

    function drawTimeline() {
      const box = $("hw-chart");
      box.replaceChildren();
      const rows = T.rows;
      if (!rows.length) { box.appendChild(el("p", { class: "muted" }, "No memory samples in this dump: RSS cannot be split.")); return; }
      const width = Math.max(280, box.clientWidth);
      const narrow = width < 600;
      const height = narrow ? 210 : 270;
      const m = { l: narrow ? 52 : 64, r: 10, t: 30, b: 24 };
      const tMax = Math.max(rows[rows.length - 1].t, D.duration, 1e-6);
      let yMax = 1;
      rows.forEach(function (r) { yMax = Math.max(yMax, r.rss); });
      // Round ticks: 1, 2 or 5 times a power of ten of the largest binary unit below the top.
      const unit = Math.pow(1024, Math.max(0, Math.floor(Math.log(yMax) / Math.log(1024))));
      const raw = yMax / 4 / unit, ten = Math.pow(10, Math.floor(Math.log10(raw)));
      const step = (raw <= ten ? ten : raw <= 2 * ten ? 2 * ten : raw <= 5 * ten ? 5 * ten : 10 * ten) * unit;
      const tickCount = Math.max(1, Math.ceil(yMax / step));
      yMax = tickCount * step;
      const x = function (t) { return m.l + (width - m.l - m.r) * t / tMax; };
      const y = function (v) { return m.t + (height - m.t - m.b) * (1 - v / yMax); };
      const root = svg("svg", { viewBox: "0 0 " + width + " " + height, height: height, role: "img",
        "aria-label": "RSS over time, stacked by category" });
      // Axes and ticks.
      for (let i = 0; i <= tickCount; i++) {
        const v = step * i;
        root.appendChild(svg("line", { class: "axis", x1: m.l, x2: width - m.r, y1: y(v), y2: y(v) }));
        const label = svg("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end" });
        label.textContent = bytes(Math.round(v));
        root.appendChild(label);
      }
      const ticks = narrow ? 3 : 6;
      for (let i = 0; i <= ticks; i++) {
        const t = tMax * i / ticks;
        const label = svg("text", { x: x(t), y: height - 6, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" });
        label.textContent = seconds(t);
        root.appendChild(label);
      }
      // The verdict's moment under the areas' outline.
      const vm = D.verdictMoment;
      if (vm) {
        if (vm.from !== undefined && vm.from !== null && vm.to > vm.from) {
          root.appendChild(svg("rect", { class: "verdict", x: x(vm.from), y: m.t, width: Math.max(2, x(vm.to) - x(vm.from)), height: height - m.t - m.b }));
        } else {
          root.appendChild(svg("line", { class: "verdict-line", x1: x(vm.to), x2: x(vm.to), y1: m.t, y2: height - m.b }));
        }
        const label = svg("text", { class: "peak-label", x: Math.min(x(vm.to), width - m.r), y: m.t - 18, "text-anchor": "end" });
        label.textContent = "verdict: " + vm.label;
        root.appendChild(label);
      }
      // Stacked areas, bottom category first.
      const base = rows.map(function () { return 0; });
      T.categories.forEach(function (_, k) {
        const top = rows.map(function (r, i) { return base[i] + r.parts[k]; });
        let d = "M" + x(rows[0].t) + "," + y(base[0]);
        rows.forEach(function (r, i) { d += "L" + x(r.t) + "," + y(top[i]); });
        for (let i = rows.length - 1; i >= 0; i--) d += "L" + x(rows[i].t) + "," + y(base[i]);
        const area = svg("path", { d: d + "Z", fill: colours[k], "fill-opacity": "0.85", stroke: "none" });
        root.appendChild(area);
        top.forEach(function (v, i) { base[i] = v; });
      });
      // Markers, the peak and the selected moment.
      let lastLabelX = -1e9;
      D.moments.forEach(function (mo) {
        if (mo.kind !== "marker") return;
        root.appendChild(svg("line", { class: "marker", x1: x(mo.t), x2: x(mo.t), y1: m.t, y2: height - m.b }));
        if (x(mo.t) - lastLabelX > 60) {
          const nearEnd = x(mo.t) > width - m.r - 70;
          const label = svg("text", { class: "marker-label", x: x(mo.t) + (nearEnd ? -2 : 2), y: m.t - 4,
            "text-anchor": nearEnd ? "end" : "start" });
          label.textContent = mo.name.length > 14 ? mo.name.slice(0, 13) + "…" : mo.name;
          root.appendChild(label);
          lastLabelX = x(mo.t);
        }
      });
      if (D.peak) {
        root.appendChild(svg("line", { class: "peak", x1: x(D.peak.t), x2: x(D.peak.t), y1: m.t, y2: height - m.b }));
        const nearEnd = x(D.peak.t) > width - m.r - 40;
        const label = svg("text", { class: "peak-label", x: x(D.peak.t) + (nearEnd ? -3 : 3), y: m.t + 12,
          "text-anchor": nearEnd ? "end" : "start" });
        label.textContent = "peak";
        root.appendChild(label);
      }
      if (selectedTime !== null) {
        root.appendChild(svg("line", { class: "selected", x1: x(selectedTime), x2: x(selectedTime), y1: m.t, y2: height - m.b }));
      }
      const guide = svg("line", { class: "guide", y1: m.t, y2: height - m.b, visibility: "hidden" });
      root.appendChild(guide);
      const overlay = svg("rect", { x: m.l, y: m.t, width: width - m.l - m.r, height: height - m.t - m.b, fill: "transparent" });
      root.appendChild(overlay);
      function nearest(list, t) {
        let best = 0;
        for (let i = 1; i < list.length; i++) if (Math.abs(list[i].t - t) < Math.abs(list[best].t - t)) best = i;
        return list[best];
      }
      function timeAt(ev) {
        const r = root.getBoundingClientRect();
        const px = (ev.clientX - r.left) * width / r.width;
        return Math.max(0, Math.min(tMax, (px - m.l) / (width - m.l - m.r) * tMax));
      }
      overlay.addEventListener("mousemove", function (ev) {
        const row = nearest(rows, timeAt(ev));
        guide.setAttribute("x1", x(row.t));
        guide.setAttribute("x2", x(row.t));
        guide.setAttribute("visibility", "visible");
        const t = el("table");
        const head = el("tr");
        head.appendChild(el("td", {}, seconds(row.t) + (row.label ? ", marker " + row.label : "")));
        head.appendChild(el("td", { class: "num" }, "RSS " + bytes(row.rss)));
        t.appendChild(head);
        for (let k = T.categories.length - 1; k >= 0; k--) {
          const tr = el("tr");
          const name = el("td");
          const sw = el("i");
          sw.style.cssText = "display:inline-block;width:10px;height:10px;margin-right:5px;background:" + colours[k];
          name.appendChild(sw);
          name.appendChild(document.createTextNode(T.categories[k]));
          tr.appendChild(name);
          tr.appendChild(el("td", { class: "num" }, bytes(row.parts[k]) + " (" + share(row.parts[k], row.rss) + ")"));
          t.appendChild(tr);
        }
        showTip(ev.clientX, ev.clientY, t);
      });
      overlay.addEventListener("mouseleave", function () { guide.setAttribute("visibility", "hidden"); hideTip(); });
      overlay.addEventListener("click", function (ev) {
        const mo = nearest(D.moments, timeAt(ev));
        selectView(mo.view);
        selectedTime = mo.t;
        drawTimeline();
        $("flame").scrollIntoView({ block: "start" });
      });
      box.appendChild(root);
    }

    // ---- Flame graph ----------------------------------------------------------------------
    const F = D.functions;
    const state = { view: 0, inverted: false, zoom: 0, search: "" };
    const prepared = new Map();
    // Parent, depth and layout of a tree (preorder with depths), computed once per tree.
    function prepare(tree) {
      if (prepared.has(tree)) return prepared.get(tree);
      const n = tree.f.length, parent = new Int32Array(n), children = [];
      const path = [];
      let maxDepth = 0;
      for (let i = 0; i < n; i++) {
        children.push([]);
        const d = tree.d[i];
        path.length = d;
        parent[i] = d > 0 ? path[d - 1] : -1;
        if (d > 0) children[parent[i]].push(i);
        path.push(i);
        if (d > maxDepth) maxDepth = d;
      }
      const p = { parent: parent, children: children, maxDepth: maxDepth };
      prepared.set(tree, p);
      return p;
    }
    function currentTree() {
      const v = D.views[state.view];
      return state.inverted ? v.inverted : v.tree;
    }
    function nodeName(tree, i) { return tree.f[i] < 0 ? "all" : F[tree.f[i]].n; }
    function matcher() {
      const q = state.search.trim();
      if (!q) return null;
      let re;
      try { re = new RegExp(q, "i"); } catch (e) { const low = q.toLowerCase(); return function (fn) { return (fn.n + " " + fn.m + " " + (fn.f || "")).toLowerCase().includes(low); }; }
      return function (fn) { return re.test(fn.n) || re.test(fn.m) || (fn.f ? re.test(fn.f) : false); };
    }
    function colour(fn) {
      let h = 0;
      for (let i = 0; i < fn.n.length; i++) h = (h * 31 + fn.n.charCodeAt(i)) >>> 0;
      const hue = fn.k === "python" ? 185 + h % 45 : 8 + h % 42;
      const saturation = fn.k === "interpreter" ? "calc(var(--flame-s) - 45%)" : "var(--flame-s)";
      return "hsl(" + hue + ", " + saturation + ", calc(var(--flame-l) + " + ((h >>> 8) % 10 - 5) + "%))";
    }

    function drawFlame() {
      const view = D.views[state.view];
      const tree = currentTree();
      const box = $("hw-flame");
      box.replaceChildren();
      const info = $("hw-flame-info");
      info.replaceChildren();
      const total = tree.total;
      const totalText = checked(el("strong", {}, figure(total, view.unit)), "view:" + view.id + ":total", total);
      info.appendChild(document.createTextNode(view.title + (view.time !== undefined && view.time !== null ? " (" + seconds(view.time) + ")" : "") + ": "));
      info.appendChild(totalText);
      if (view.interval) {
        info.appendChild(document.createTextNode(" (estimate, 95% interval "));
        info.appendChild(interval(view.interval, view.unit, "view:" + view.id + ":total"));
        info.appendChild(document.createTextNode(")"));
      }
      info.appendChild(document.createTextNode(" in " + tree.count + " " + view.countUnit + ". "));
      const pruned = el("span", { class: "muted" },
        "Frames under " + (100 * D.minimumShare).toFixed(1) + "% of the total are pruned (" + tree.prunedNodes +
        " subtrees): " + figure(tree.prunedSize, view.unit) + " (" + share(tree.prunedSize, total) +
        ") is drawn without its innermost frames, as part of its callers.");
      checked(pruned, "view:" + view.id + ":pruned", tree.prunedSize);
      info.appendChild(pruned);
      if (total === 0) {
        box.appendChild(el("p", { class: "muted", style: "padding:8px" }, "Nothing to draw: no " + view.title + "."));
        box.style.height = "auto";
        $("hw-search-result").textContent = "";
        return;
      }
      const p = prepare(tree);
      if (state.zoom >= tree.f.length) state.zoom = 0;
      const zoom = state.zoom;
      const width = Math.max(200, box.clientWidth);
      const rowHeight = 18;
      box.style.height = ((p.maxDepth + 1) * rowHeight + 2) + "px";
      const match = matcher();
      // The zoomed node's ancestors span the whole width, above it.
      const ancestors = [];
      for (let a = p.parent[zoom]; a >= 0; a = p.parent[a]) ancestors.push(a);
      const frag = document.createDocumentFragment();
      function cell(i, left, w, extra) {
        const d = el("div");
        d.style.left = left + "px";
        d.style.width = w + "px";
        d.style.top = (tree.d[i] * rowHeight) + "px";
        d.dataset.node = i;
        const fn = tree.f[i] >= 0 ? F[tree.f[i]] : null;
        d.style.background = fn ? colour(fn) : "var(--c4)";
        let cls = extra || "";
        if (match && fn) cls += match(fn) ? " match" : " dim";
        if (cls) d.className = cls.trim();
        if (w > 28) d.textContent = nodeName(tree, i);
        frag.appendChild(d);
      }
      ancestors.forEach(function (a) { cell(a, 0, width, "ancestor"); });
      const scale = width / tree.v[zoom];
      const queue = [[zoom, 0]];
      while (queue.length) {
        const item = queue.pop();
        const i = item[0], left = item[1];
        const w = tree.v[i] * scale;
        if (w < 0.4) continue;
        cell(i, left, w, "");
        let offset = left;
        p.children[i].forEach(function (c) { queue.push([c, offset]); offset += tree.v[c] * scale; });
      }
      box.appendChild(frag);
      // Search: the matching frames' share, each stack counted once (a match under a match is not added again).
      const result = $("hw-search-result");
      if (match) {
        let sum = 0, frames = 0;
        const names = new Set();
        const stack = [[0, false]];
        while (stack.length) {
          const item = stack.pop();
          const i = item[0];
          const fn = tree.f[i] >= 0 ? F[tree.f[i]] : null;
          const hit = fn !== null && match(fn);
          if (hit) { frames++; names.add(fn.n); if (!item[1]) sum += tree.v[i]; }
          p.children[i].forEach(function (c) { stack.push([c, item[1] || hit]); });
        }
        result.replaceChildren(document.createTextNode("Search \u201c" + state.search + "\u201d: " + names.size + " functions in " + frames + " frames, "));
        result.appendChild(checked(el("strong", {}, figure(sum, view.unit) + " (" + share(sum, total) + ")"), "search:share", sum));
        result.appendChild(document.createTextNode(" of " + view.title + "."));
      } else {
        result.textContent = "";
      }
    }
    function describe(tree, view, i) {
      const t = el("div");
      const fn = tree.f[i] >= 0 ? F[tree.f[i]] : null;
      t.appendChild(el("strong", {}, fn ? fn.n : "all stacks"));
      if (fn) {
        t.appendChild(el("div", { class: "muted" }, (fn.m ? fn.m : "") + (fn.f ? " · " + fn.f + (fn.l ? ":" + fn.l : "") : "") + " · " + (fn.k === "python" ? "Python" : fn.k === "interpreter" ? "Python interpreter (native)" : "native")));
      }
      t.appendChild(el("div", {}, figure(tree.v[i], view.unit) + " (" + share(tree.v[i], tree.total) + " of " + view.title + "), " + tree.c[i] + " " + view.countUnit));
      return t;
    }
    $("hw-flame").addEventListener("mousemove", function (ev) {
      const target = ev.target.closest("[data-node]");
      if (!target) { hideTip(); return; }
      const tree = currentTree();
      showTip(ev.clientX, ev.clientY, describe(tree, D.views[state.view], Number(target.dataset.node)));
    });
    $("hw-flame").addEventListener("mouseleave", hideTip);
    $("hw-flame").addEventListener("click", function (ev) {
      const target = ev.target.closest("[data-node]");
      if (!target) return;
      const i = Number(target.dataset.node);
      const p = prepare(currentTree());
      state.zoom = i === state.zoom ? Math.max(0, p.parent[i]) : i;
      drawFlame();
    });
    const select = $("hw-view");
    D.views.forEach(function (v, i) {
      select.appendChild(el("option", { value: String(i) }, v.title + (v.time !== undefined && v.time !== null ? " (" + seconds(v.time) + ")" : "")));
    });
    function selectView(i) {
      state.view = i;
      state.zoom = 0;
      select.value = String(i);
      drawFlame();
    }
    select.addEventListener("change", function () {
      const t = D.views[Number(select.value)].time;
      selectedTime = t === undefined ? null : t;
      selectView(Number(select.value));
      drawTimeline();
    });
    $("hw-inverted").addEventListener("change", function (ev) { state.inverted = ev.target.checked; state.zoom = 0; drawFlame(); });
    $("hw-search").addEventListener("input", function (ev) { state.search = ev.target.value; drawFlame(); });
    $("hw-reset").addEventListener("click", function () { state.zoom = 0; drawFlame(); });

    // ---- Tables ---------------------------------------------------------------------------
    function drawTables(active) {
      const tabs = $("hw-table-tabs"), box = $("hw-tables");
      D.tables.forEach(function (tb, i) {
        const b = el("button", { type: "button", role: "tab", "aria-selected": String(tb.metric === active) }, tb.metric);
        tabs.appendChild(b);
        const wrap = el("div", { class: "scroll", role: "tabpanel" });
        wrap.hidden = tb.metric !== active;
        const table = el("table", { class: "sites" });
        table.appendChild(el("caption", {}, tb.title + ", by source line"));
        const head = el("tr");
        head.appendChild(el("th", {}, "site"));
        head.appendChild(el("th", { class: "num" }, "size"));
        // A sampled dump's table: each estimate's 95% interval in a column of its own.
        const sampled = !!tb.totalSizeInterval;
        if (sampled) head.appendChild(el("th", { class: "num" }, "size, 95% interval"));
        head.appendChild(el("th", { class: "num" }, "count"));
        if (sampled) head.appendChild(el("th", { class: "num" }, "count, 95% interval"));
        head.appendChild(el("th", { class: "num share" }, "share"));
        table.appendChild(head);
        function row(label, size, count, cls, key, sizeIv, countIv) {
          const tr = el("tr", cls ? { class: cls } : {});
          tr.appendChild(el("td", { class: "site" }, label));
          const s = el("td", { class: "num" }, bytes(size));
          if (key) checked(s, key, size);
          tr.appendChild(s);
          if (sampled) {
            const si = el("td", { class: "num" });
            if (sizeIv) si.appendChild(interval(sizeIv, "bytes", key + ":size"));
            tr.appendChild(si);
          }
          const c = el("td", { class: "num" }, String(count));
          if (key) c.dataset.count = String(count);
          tr.appendChild(c);
          if (sampled) {
            const ci = el("td", { class: "num" });
            if (countIv) ci.appendChild(interval(countIv, "count", key + ":count"));
            tr.appendChild(ci);
          }
          tr.appendChild(el("td", { class: "num share" }, share(size, tb.totalSize)));
          table.appendChild(tr);
        }
        tb.rows.forEach(function (r, j) { row(r.label, r.size, r.count, "", "table:" + tb.metric + ":" + j, r.sizeInterval, r.countInterval); });
        if (tb.otherSites > 0) row(tb.otherSites + " other sites", tb.otherSize, "", "");
        if (!tb.rows.length) row("(no sites: nothing to show for this measure)", 0, 0, "");
        row("total, " + tb.sites + " sites", tb.totalSize, tb.totalCount, "total", "table:" + tb.metric + ":total",
            tb.totalSizeInterval, tb.totalCountInterval);
        wrap.appendChild(table);
        box.appendChild(wrap);
        b.addEventListener("click", function () {
          Array.from(tabs.children).forEach(function (x, k) { x.setAttribute("aria-selected", String(k === i)); });
          Array.from(box.children).forEach(function (x, k) { x.hidden = k !== i; });
        });
      });
    }

    // ---- Self-check: every tree is a tree whose parts add up ------------------------------
    function selfCheck() {
      D.views.forEach(function (v) {
        [v.tree, v.inverted].forEach(function (tree) {
          if (!tree.f.length) { if (tree.total !== 0) fail("view " + v.id + ": empty tree with a total"); return; }
          if (tree.v[0] !== tree.total) fail("view " + v.id + ": root " + tree.v[0] + " != total " + tree.total);
          const p = prepare(tree);
          let pruned = 0;
          for (let i = 0; i < tree.f.length; i++) {
            let sum = 0;
            p.children[i].forEach(function (c) { sum += tree.v[c]; });
            if (sum > tree.v[i]) fail("view " + v.id + ": children of node " + i + " exceed it");
          }
          if (tree.prunedSize > tree.total) fail("view " + v.id + ": pruned more than the total");
        });
      });
      if (!errors.length) document.body.dataset.selfcheck = "ok";
    }

    const initial = params.get("view");
    const found = D.views.findIndex(function (v) { return v.id === initial; });
    state.view = found >= 0 ? found : 0;
    state.inverted = params.get("inverted") === "1";
    $("hw-inverted").checked = state.inverted;
    state.search = params.get("search") || "";
    $("hw-search").value = state.search;
    select.value = String(state.view);
    selectedTime = params.has("view") ? D.views[state.view].time : null;
    if (selectedTime === undefined) selectedTime = null;
    drawTimeline();
    drawFlame();
    drawTables(params.get("table") || "live");
    selfCheck();
    document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
    // #section=flame shows that section alone (headless screenshots do not follow a scroll).
    if (params.get("section") && $(params.get("section"))) {
      document.querySelectorAll("main > section").forEach(function (s) { if (s.id !== params.get("section")) s.hidden = true; });
      drawTimeline();
      drawFlame();
    }
    // #selftest=1 drives the controls the way a user would (every view, both orientations, a
    // zoom, a search, hovering and clicking the timeline and the flame graph), for the browser test.
    if (params.get("selftest") === "1") {
      const flame = $("hw-flame"), inverted = $("hw-inverted"), search = $("hw-search");
      function at(target, type, x, y) {
        target.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: x, clientY: y }));
      }
      D.views.forEach(function (v, i) {
        select.value = String(i);
        select.dispatchEvent(new Event("change"));
        [true, false].forEach(function (on) {
          inverted.checked = on;
          inverted.dispatchEvent(new Event("change"));
          const nodes = flame.querySelectorAll("[data-node]");
          const node = nodes[Math.min(2, nodes.length - 1)];
          if (node) {
            const r = node.getBoundingClientRect();
            at(node, "mousemove", r.left + 1, r.top + 1);
            at(node, "click", r.left + 1, r.top + 1);
            const again = flame.querySelector("[data-node]");
            if (again) at(again, "click", 1, 1);
          }
          $("hw-reset").click();
        });
      });
      search.value = "main|[";
      search.dispatchEvent(new Event("input"));
      search.value = "main";
      search.dispatchEvent(new Event("input"));
      const overlay = $("hw-chart").querySelector("svg > rect:last-of-type");
      if (overlay) {
        const r = overlay.getBoundingClientRect();
        at(overlay, "mousemove", r.left + r.width / 2, r.top + r.height / 2);
        at(overlay, "mouseleave", 0, 0);
        at(overlay, "click", r.left + r.width / 3, r.top + r.height / 2);
      }
      Array.from($("hw-table-tabs").children).forEach(function (b) { b.click(); });
      window.dispatchEvent(new Event("resize"));
      document.body.dataset.selftest = errors.length ? "failed" : "ok";
    }
    let pending = false;
    window.addEventListener("resize", function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; drawTimeline(); drawFlame(); });
    });
    })();
    """#
}
