// loadctl's charts in the browser: time charts drawn as SVG from data, with the value of
// every line under the pointer (hover) and zoom (drag across a chart to zoom every chart
// of the page to that span; double-click to see the whole run again). No external
// script: the live dashboard and report.html work offline. `LC.chart(host, spec)` draws
// `spec` = {title, y, lines: [{label, color, dashed, points: [[x, y], …]}],
// bands: [{from, to, color, label}], marks: [{at, label, color}]} into `host`; calling it
// again with the same host redraws with new data; `spec.x` names the x axis.
var LC = (function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var view = null; // [x0, x1] when zoomed
  var all = [];
  var ids = 0;

  function el(tag, attrs, parent, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function fmt(v) {
    if (v === null || v === undefined || isNaN(v)) return "—";
    var a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(1) + "k";
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
  }

  function ticks(lo, hi, n) {
    var span = hi - lo || 1;
    var step = Math.pow(10, Math.floor(Math.log10(span / n)));
    [1, 2, 5, 10].some(function (m) {
      if (span / (step * m) <= n) { step *= m; return true; }
      return false;
    });
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) out.push(+t.toFixed(9));
    return out;
  }

  function extent(spec) {
    var x0 = Infinity, x1 = -Infinity;
    spec.lines.forEach(function (l) {
      l.points.forEach(function (p) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); });
    });
    (spec.bands || []).forEach(function (b) { x0 = Math.min(x0, b.from); x1 = Math.max(x1, b.to); });
    if (!isFinite(x0)) { x0 = 0; x1 = 1; }
    if (x1 <= x0) x1 = x0 + 1;
    return [x0, x1];
  }

  function draw(c) {
    var spec = c.spec, host = c.host;
    var W = Math.max(host.clientWidth || 0, 320), H = spec.height || 240;
    var m = { l: 62, r: 12, t: 26, b: 30 };
    var full = extent(spec);
    var x0 = view ? Math.max(view[0], full[0]) : full[0];
    var x1 = view ? Math.min(view[1], full[1]) : full[1];
    if (x1 <= x0) { x0 = full[0]; x1 = full[1]; }
    var y1 = 0;
    spec.lines.forEach(function (l) {
      l.points.forEach(function (p) {
        if (p[0] >= x0 && p[0] <= x1 && p[1] !== null && isFinite(p[1])) y1 = Math.max(y1, p[1]);
      });
    });
    y1 = y1 > 0 ? y1 * 1.12 : 1;
    var sx = function (x) { return m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r); };
    var sy = function (y) { return H - m.b - y / y1 * (H - m.t - m.b); };
    var svg = el("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, class: "lc-chart", role: "img" });
    el("title", {}, svg, spec.title);
    el("text", { x: m.l, y: 16, class: "lc-title" }, svg, spec.title + (view ? "  (zoomed: double-click to see all)" : ""));
    (spec.bands || []).forEach(function (b) {
      var a = Math.max(b.from, x0), z = Math.min(b.to, x1);
      if (z <= a) return;
      var r = el("rect", { x: sx(a), y: m.t, width: Math.max(sx(z) - sx(a), 1), height: H - m.t - m.b, fill: b.color || "#f2f2f2" }, svg);
      if (b.label) el("title", {}, r, b.label);
    });
    ticks(0, y1, 5).forEach(function (t) {
      el("line", { x1: m.l, x2: W - m.r, y1: sy(t), y2: sy(t), class: "lc-grid" }, svg);
      el("text", { x: m.l - 6, y: sy(t) + 4, class: "lc-tick", "text-anchor": "end" }, svg, fmt(t));
    });
    ticks(x0, x1, 10).forEach(function (t) {
      el("text", { x: sx(t), y: H - m.b + 16, class: "lc-tick", "text-anchor": "middle" }, svg, fmt(t));
    });
    el("text", { x: W - m.r, y: H - 2, class: "lc-tick", "text-anchor": "end" }, svg, spec.x || "seconds from the measured start");
    var mid = (m.t + H - m.b) / 2;
    el("text", { x: 12, y: mid, class: "lc-tick", "text-anchor": "middle", transform: "rotate(-90 12 " + mid + ")" }, svg, spec.y);
    var clip = "lc-clip-" + (c.id || (c.id = ++ids));
    var cp = el("clipPath", { id: clip }, el("defs", {}, svg));
    el("rect", { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b }, cp);
    (spec.marks || []).forEach(function (k) {
      if (k.at < x0 || k.at > x1) return;
      var l = el("line", { x1: sx(k.at), x2: sx(k.at), y1: m.t, y2: H - m.b, stroke: k.color || "#c0392b", "stroke-dasharray": "4 3" }, svg);
      el("title", {}, l, k.label);
    });
    spec.lines.forEach(function (l) {
      var d = "", pen = false;
      l.points.forEach(function (p) {
        if (p[0] < x0 - 1 || p[0] > x1 + 1 || p[1] === null || !isFinite(p[1])) { pen = false; return; }
        d += (pen ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1);
        pen = true;
      });
      if (d) el("path", { d: d, fill: "none", stroke: l.color, "stroke-width": 1.6, "stroke-dasharray": l.dashed ? "6 4" : "none", "clip-path": "url(#" + clip + ")" }, svg);
    });
    // The legend follows the title on its row.
    var lx = m.l + (spec.title.length + (view ? 36 : 0)) * 8 + 24;
    spec.lines.forEach(function (l) {
      var t = el("text", { x: lx + 14, y: 16, class: "lc-legend" }, svg, l.label);
      el("line", { x1: lx, x2: lx + 10, y1: 12, y2: 12, stroke: l.color, "stroke-width": 3 }, svg);
      lx += 24 + l.label.length * 6.5;
      return t;
    });
    var cursor = el("line", { y1: m.t, y2: H - m.b, class: "lc-cursor", visibility: "hidden" }, svg);
    var band = el("rect", { y: m.t, height: H - m.t - m.b, class: "lc-drag", visibility: "hidden" }, svg);
    var pad = el("rect", { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "transparent" }, svg);
    var tip = c.tip;
    var toX = function (ev) {
      var r = svg.getBoundingClientRect();
      return x0 + (ev.clientX - r.left - m.l) / (W - m.l - m.r) * (x1 - x0);
    };
    var start = null;
    pad.addEventListener("mousemove", function (ev) {
      var x = toX(ev);
      if (start !== null) {
        band.setAttribute("x", Math.min(sx(start), sx(x)));
        band.setAttribute("width", Math.abs(sx(x) - sx(start)));
        band.setAttribute("visibility", "visible");
      }
      var rows = [], at = null;
      spec.lines.forEach(function (l) {
        var best = null;
        l.points.forEach(function (p) { if (best === null || Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p; });
        if (best) { at = at === null ? best[0] : at; rows.push([l, best[1]]); }
      });
      if (at === null) return;
      cursor.setAttribute("x1", sx(at)); cursor.setAttribute("x2", sx(at));
      cursor.setAttribute("visibility", "visible");
      tip.textContent = "";
      var head = document.createElement("b"); head.textContent = "t = " + fmt(at) + " s"; tip.appendChild(head);
      rows.forEach(function (r) {
        var row = document.createElement("div");
        var sw = document.createElement("span"); sw.className = "lc-swatch"; sw.style.background = r[0].color;
        row.appendChild(sw); row.appendChild(document.createTextNode(r[0].label + ": " + fmt(r[1])));
        tip.appendChild(row);
      });
      var left = sx(at) + 12;
      tip.style.left = (left + 180 > W ? sx(at) - 190 : left) + "px";
      tip.style.top = (m.t + 4) + "px";
      tip.style.display = "block";
    });
    pad.addEventListener("mouseleave", function () {
      cursor.setAttribute("visibility", "hidden"); tip.style.display = "none";
      start = null; band.setAttribute("visibility", "hidden");
    });
    pad.addEventListener("mousedown", function (ev) { start = toX(ev); ev.preventDefault(); });
    pad.addEventListener("mouseup", function (ev) {
      var x = toX(ev);
      if (start !== null && Math.abs(sx(x) - sx(start)) > 6) {
        view = [Math.min(start, x), Math.max(start, x)];
        redrawAll();
      }
      start = null; band.setAttribute("visibility", "hidden");
    });
    pad.addEventListener("dblclick", function () { view = null; redrawAll(); });
    if (c.svg) host.replaceChild(svg, c.svg); else host.appendChild(svg);
    c.svg = svg;
  }

  function redrawAll() { all.forEach(draw); }

  function chart(host, spec) {
    var c = null;
    all.forEach(function (o) { if (o.host === host) c = o; });
    if (!c) {
      host.classList.add("lc-host");
      var tip = document.createElement("div"); tip.className = "lc-tip"; host.appendChild(tip);
      c = { host: host, tip: tip, svg: null };
      all.push(c);
    }
    c.spec = spec;
    draw(c);
    return c;
  }

  window.addEventListener("resize", redrawAll);
  return { chart: chart, fmt: fmt, redrawAll: redrawAll, zoom: function (v) { view = v; redrawAll(); } };
})();
