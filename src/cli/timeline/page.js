/* page.js — the script of `ttmem timeline`'s page (docs/TIMELINE.md); embedded by embed.cmake.
 * It decodes the page's data (a JSON document #ttm-meta and base64 blobs of varints), draws
 * memory over time per device on canvases, and publishes what it drew into #ttm-drawn (JSON)
 * for the tests. Times are nanoseconds since the first record (META.t0). */
(function () {
  'use strict';
  var META = JSON.parse(document.getElementById('ttm-meta').textContent);
  var MT = META.memtypes, SPACES = ['DRAM', 'L1', 'SYSTEM'];
  var COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1'];
  var CLASS_COLORS = ['#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e',
    '#1f77b4', '#2ca02c', '#7f7f7f', '#000000', '#aa3377'];

  /* ---- decoding ---------------------------------------------------------------------------- */

  function blob(id) {
    var s = document.getElementById('ttm-b' + id).textContent, bin = atob(s);
    var u = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    return u;
  }
  /* protobuf-style varints (7 bits a byte); values up to 2^53 are exact in a double */
  function Reader(u) { this.u = u; this.p = 0; }
  Reader.prototype.v = function () {
    var u = this.u, r = 0, m = 1, b;
    do { b = u[this.p++]; r += (b & 127) * m; m *= 128; } while (b >= 128);
    return r;
  };
  Reader.prototype.z = function () { var v = this.v(); return v % 2 ? -(v + 1) / 2 : v / 2; };

  function decodeExact(id, n) {
    var r = new Reader(blob(id)), ts = new Float64Array(n), val = new Float64Array(n), t = 0, v = 0;
    for (var i = 0; i < n; i++) { t += r.v(); v += r.z(); ts[i] = t; val[i] = v; }
    return { ts: ts, val: val, n: n };
  }
  /* a level: per bucket holding a change, its index, the max, min and last value in it */
  function decodeLevel(w, n, id) {
    var r = new Reader(blob(id)), idx = new Float64Array(n), mx = new Float64Array(n),
      mn = new Float64Array(n), last = new Float64Array(n), k = 0, prev = 0;
    for (var i = 0; i < n; i++) {
      k = i ? k + r.v() : r.v();
      var start = prev;
      idx[i] = k; mx[i] = start + r.v(); mn[i] = start - r.v(); last[i] = start + r.z();
      prev = last[i];
    }
    return { w: w, n: n, idx: idx, mx: mx, mn: mn, last: last };
  }

  var lanes = META.lanes.map(function (l, i) {
    return { i: i, run: l.run, device: l.device, arch: l.arch, cap: l.cap,
      host: (META.runs[l.run] || {}).host || '', series: [], big: false };
  });
  var series = META.series.map(function (s) {
    var o = { lane: s.lane, memtype: s.memtype, changes: s.changes,
      exact: s.exact >= 0 ? decodeExact(s.exact, s.changes) : null,
      levels: s.levels.map(function (l) { return decodeLevel(l[0], l[1], l[2]); }) };
    o.levels.sort(function (a, b) { return b.w - a.w; }); /* coarse first */
    lanes[s.lane].series[s.memtype] = o;
    return o;
  });

  var B = (function () {
    var n = META.buffers.n, r = new Reader(blob(META.buffers.blob)), b = {
      n: n, alloc: new Float64Array(n), free: new Float64Array(n), lane: new Int32Array(n),
      memtype: new Uint8Array(n), flags: new Uint8Array(n), size: new Float64Array(n),
      addr: new Float64Array(n), reuse: new Float64Array(n), pid: new Float64Array(n),
      site: new Int32Array(n), scope: new Int32Array(n) };
    var t = 0;
    for (var i = 0; i < n; i++) {
      t += r.v(); b.alloc[i] = t;
      var life = r.v(); b.free[i] = life ? t + life - 1 : -1;
      b.lane[i] = r.v();
      var mf = r.v(); b.memtype[i] = mf & 7; b.flags[i] = mf >> 3;
      b.size[i] = r.v(); b.addr[i] = r.v(); b.reuse[i] = r.v(); b.pid[i] = r.v();
      b.site[i] = r.v(); b.scope[i] = r.v();
    }
    return b;
  })();
  var M = (function () {
    var n = META.markers.n, r = new Reader(blob(META.markers.blob)), m = {
      n: n, ts: new Float64Array(n), lane: new Int32Array(n), cls: new Uint8Array(n),
      mask: new Float64Array(n), kind: new Uint8Array(n), pid: new Float64Array(n),
      addr: new Float64Array(n), size: new Float64Array(n) };
    var t = 0;
    for (var i = 0; i < n; i++) {
      t += r.v(); m.ts[i] = t; m.lane[i] = r.v(); m.cls[i] = r.v(); m.mask[i] = r.v();
      m.kind[i] = r.v(); m.pid[i] = r.v(); m.addr[i] = r.v(); m.size[i] = r.v();
    }
    return m;
  })();
  var procName = {};
  META.procs.forEach(function (p) { procName[p[0] + ':' + p[1]] = p[2]; });

  /* ---- values ------------------------------------------------------------------------------ */

  /* index of the last element of a (sorted) at most x, -1 when none */
  function lastLE(a, n, x) {
    var lo = 0, hi = n;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (a[mid] <= x) lo = mid + 1; else hi = mid; }
    return lo - 1;
  }
  function finest(s) { return s.levels.length ? s.levels[s.levels.length - 1] : null; }
  /* the bytes in use at time t (after every change at t): exact, or from the finest bucket */
  function valueAt(s, t) {
    if (s.exact) { var i = lastLE(s.exact.ts, s.exact.n, t); return { v: i < 0 ? 0 : s.exact.val[i], exact: true }; }
    var l = finest(s), k = Math.floor(t / l.w), j = lastLE(l.idx, l.n, k);
    if (j < 0) return { v: 0, exact: true };
    if (l.idx[j] < k) return { v: l.last[j], exact: true };
    return { v: l.last[j], exact: false, lo: l.mn[j], hi: l.mx[j], w: l.w };
  }
  /* the peak as the decoded data say: exact, or a bucket's max (its start time) */
  function peakOf(s) {
    var best = -1, at = 0, i;
    if (s.exact) {
      for (i = 0; i < s.exact.n; i++) if (s.exact.val[i] > best) { best = s.exact.val[i]; at = s.exact.ts[i]; }
      return { v: Math.max(best, 0), ts: at, exact: true };
    }
    var l = finest(s);
    for (i = 0; i < l.n; i++) if (l.mx[i] > best) { best = l.mx[i]; at = l.idx[i] * l.w; }
    return { v: Math.max(best, 0), ts: at, exact: false, w: l.w };
  }
  /* The highest value in each of P columns of [a, b): from the coarsest level whose buckets are
   * at most a column wide, or every change (exact) when there are few in view or no level is
   * fine enough. */
  function columns(s, a, b, P) {
    var cw = (b - a) / P, out = new Float64Array(P), c, end, m, cur, i, lvl = null;
    for (i = 0; i < s.levels.length; i++) if (s.levels[i].w <= cw) { lvl = s.levels[i]; break; }
    if (s.exact) {
      var i0 = lastLE(s.exact.ts, s.exact.n, a), i1 = lastLE(s.exact.ts, s.exact.n, b);
      if (i1 - i0 <= 2 * P) lvl = null;
      if (!lvl) {
        var ts = s.exact.ts, val = s.exact.val, n = s.exact.n;
        i = i0; cur = i >= 0 ? val[i] : 0;
        for (c = 0; c < P; c++) {
          end = c === P - 1 ? b + 0.5 : a + (c + 1) * cw; m = cur;
          while (i + 1 < n && ts[i + 1] < end) { i++; cur = val[i]; if (cur > m) m = cur; }
          out[c] = m;
        }
        return out;
      }
    }
    if (!lvl) lvl = finest(s);
    var w = lvl.w, idx = lvl.idx, nn = lvl.n, j = lastLE(idx, nn, Math.floor(a / w));
    cur = j >= 0 ? lvl.last[j] : 0;
    if (j >= 0 && (idx[j] + 1) * w > a) { cur = j > 0 ? lvl.last[j - 1] : 0; } else j++;
    if (j < 0) j = 0;
    for (c = 0; c < P; c++) {
      end = c === P - 1 ? b + 0.5 : a + (c + 1) * cw; m = cur;
      while (j < nn && idx[j] * w < end) {
        if (lvl.mx[j] > m) m = lvl.mx[j];
        if ((idx[j] + 1) * w <= end) { cur = lvl.last[j]; j++; } else break;
      }
      out[c] = Math.max(m, cur);
    }
    return out;
  }

  /* ---- formatting -------------------------------------------------------------------------- */

  function fmtBytes(v) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
    while (v >= 1024 && i < 4) { v /= 1024; i++; }
    return (i ? v.toFixed(v < 10 ? 2 : 1) : String(v)) + ' ' + u[i];
  }
  function fmtTime(t) {
    var a = Math.abs(t);
    if (a >= 1e9) return (t / 1e9).toFixed(a >= 1e11 ? 1 : 3) + ' s';
    if (a >= 1e6) return (t / 1e6).toFixed(3) + ' ms';
    if (a >= 1e3) return (t / 1e3).toFixed(3) + ' µs';
    return Math.round(t) + ' ns';
  }
  function bufName(i) { return 'b' + B.addr[i].toString(16) + '_' + B.reuse[i]; }
  function laneName(l) { return (META.runs.length > 1 ? l.host + ' ' : '') + 'dev ' + l.device; }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* ---- the page's parts ---------------------------------------------------------------------- */

  var span = Math.max(META.span, 1), view = { a: 0, b: span };
  var spaceSel = 0, scaleMode = 'peak';
  lanes.forEach(function (l) { l.spaces = SPACES.map(function (_, sp) {
    return MT.some(function (m, k) { return m.space === sp && l.series[k]; }); }); });
  if (!lanes.some(function (l) { return l.spaces[0]; }))
    spaceSel = lanes.some(function (l) { return l.spaces[1]; }) ? 1 : 2;

  var app = el('div');
  document.body.appendChild(app);
  var hdr = el('header');
  hdr.appendChild(el('h1', {}, META.title || 'ttmem timeline'));
  var exactN = series.filter(function (s) { return s.exact; }).length;
  var res = exactN === series.length ? 'every change of every series is in the page (exact at any zoom)'
    : exactN + ' of ' + series.length + ' series have every change; the others are exact to ' +
      fmtTime(Math.max.apply(null, series.filter(function (s) { return !s.exact; })
        .map(function (s) { return finest(s).w; }))) + ' buckets (max, min, last of each)';
  hdr.appendChild(el('div', { 'class': 'sub' }, lanes.length + ' devices · ' + META.events + ' events · ' +
    META.changes + ' usage changes · ' + fmtTime(span) + ' · ' + res));
  var kept = [];
  if (META.buffers.n < META.buffers.total) kept.push('the ' + META.buffers.n + ' largest of ' + META.buffers.total + ' buffers (and those live at the peak) are in the page');
  var mseen = 0; META.classes.forEach(function (c) { mseen += c.markers_seen; });
  if (M.n < mseen) kept.push(M.n + ' of ' + mseen + ' anomaly markers drawn (evenly thinned per class)');
  if (META.damage) kept.push(META.damage);
  if (kept.length) hdr.appendChild(el('div', { 'class': 'note' }, kept.join(' · ')));
  app.appendChild(hdr);

  var ctl = el('div', { 'class': 'controls' });
  ctl.innerHTML = '<label>devices <input type="text" id="f-dev" placeholder="all (e.g. 0-3,8)"></label>' +
    '<label>space <select id="f-space"><option value="0">DRAM</option><option value="1">L1</option>' +
    '<option value="2">SYSTEM</option></select></label>' +
    '<label>scale <select id="f-scale"><option value="peak">peak</option><option value="cap">capacity</option></select></label>' +
    '<button id="b-reset">reset</button><button id="b-out">zoom out</button><button id="b-peak">go to peak</button>' +
    '<span class="sub">drag: zoom to a range · wheel: zoom · shift+wheel or shift+drag: pan · ' +
    'click: pin details · click a device name: enlarge</span>';
  app.appendChild(ctl);
  var leg = el('div', { 'class': 'legend' });
  MT.forEach(function (m, k) {
    if (!series.some(function (s) { return s.memtype === k; })) return;
    var s = el('span'); var sw = el('span', { 'class': 'sw' }); sw.style.background = COLORS[k];
    s.appendChild(sw); s.appendChild(document.createTextNode(m.name)); leg.appendChild(s);
  });
  META.classes.forEach(function (c, k) {
    if (!c.anomaly || !c.events) return;
    var s = el('span'); var tr = el('span', { 'class': 'tri' }); tr.style.borderTopColor = CLASS_COLORS[k % CLASS_COLORS.length];
    s.appendChild(tr); s.appendChild(document.createTextNode(c.name + ' ' + c.events)); leg.appendChild(s);
  });
  leg.appendChild(el('span', {}, '┆ scale: each device to its own peak (or its capacity) · red dashes: capacity · grey lines: process exits · gold: the peak'));
  app.appendChild(leg);

  var main = el('div', { id: 'ttm-main' });
  app.appendChild(main);
  var rows = [];
  function addRow(kind, lane, label, sub) {
    var row = el('div', { 'class': 'row' }), lab = el('div', { 'class': 'lab' }), cv = el('canvas');
    lab.appendChild(el('b', {}, label));
    if (sub) { lab.appendChild(el('br')); lab.appendChild(el('span', { 'class': 'sub' }, sub)); }
    row.appendChild(lab); row.appendChild(cv); main.appendChild(row);
    var r = { kind: kind, lane: lane, row: row, lab: lab, cv: cv };
    rows.push(r);
    return r;
  }
  var axisRow = addRow('axis', null, 'time');
  var bandRow = addRow('bands', null, 'phases, scopes', 'processes');
  lanes.forEach(function (l) {
    var pk = 0, cap = '';
    MT.forEach(function (m, mt) { if (m.space === 0 && l.series[mt]) pk += peakOf(l.series[mt]).v; });
    if (l.cap[0]) cap = 'DRAM ≤' + fmtBytes(pk) + ' of ' + fmtBytes(l.cap[0]) + ' (' + (100 * pk / l.cap[0]).toFixed(pk < l.cap[0] / 10 ? 1 : 0) + '%)';
    l.r = addRow('lane', l, laneName(l) + (l.arch ? ' · ' + l.arch : ''), cap);
    l.r.lab.addEventListener('click', function () { l.big = !l.big; l.r.row.classList.toggle('big', l.big); layout(); draw(); });
  });
  var details = el('div', { id: 'ttm-details' }, 'Hover a device for the bytes in use and the nearest buffer event; click to pin it here.');
  app.appendChild(details);
  var tip = el('div', { id: 'ttm-tip' });
  document.body.appendChild(tip);

  /* phases: each mark starts a phase of its process that lasts until its next mark */
  var phases = [];
  (function () {
    var byp = {};
    META.marks.forEach(function (m) { var k = m[0] + ':' + m[1]; (byp[k] = byp[k] || []).push(m); });
    var rowsOf = Object.keys(byp);
    rowsOf.forEach(function (k, ri) {
      var ms = byp[k];
      for (var i = 0; i < ms.length; i++)
        phases.push({ row: ri, a: ms[i][2], b: i + 1 < ms.length ? ms[i + 1][2] : span, name: ms[i][3] });
    });
    phases.nrows = Math.min(rowsOf.length, 4);
  })();
  /* scopes: each from its first event to its last, packed into rows */
  var scopes = (function () {
    var v = META.scopes.map(function (s) { return { a: s[3], b: s[4], name: s[2] || ('scope ' + s[1]), n: s[5] }; });
    v.sort(function (x, y) { return x.a - y.a; });
    var ends = [];
    v.forEach(function (s) {
      var r = 0; while (r < ends.length && ends[r] > s.a) r++;
      if (r === ends.length) ends.push(0);
      ends[r] = s.b; s.row = r;
    });
    v.nrows = Math.min(ends.length, 4);
    return v;
  })();

  /* ---- layout and drawing ------------------------------------------------------------------ */

  var DPR = window.devicePixelRatio || 1;
  function laneRowsOf(l) {
    if (!l.big) return [spaceSel];
    var v = []; l.spaces.forEach(function (has, sp) { if (has) v.push(sp); });
    return v.length ? v : [spaceSel];
  }
  function layout() {
    rows.forEach(function (r) {
      var h = r.kind === 'axis' ? 22 : r.kind === 'bands' ? 12 * (Math.max(phases.nrows, 1) + Math.max(scopes.nrows, 1)) + 14
        : r.lane.big ? 110 * laneRowsOf(r.lane).length : 34;
      r.h = h;
      r.cv.style.height = h + 'px';
      var w = r.cv.clientWidth || 800;
      r.w = w;
      r.cv.width = Math.round(w * DPR); r.cv.height = Math.round(h * DPR);
    });
  }
  function x2t(r, x) { return view.a + (view.b - view.a) * x / r.w; }
  function t2x(r, t) { return (t - view.a) / (view.b - view.a) * r.w; }

  function niceStep(range, n) {
    var raw = range / n, p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }
  function drawAxis(r, g) {
    var st = niceStep(view.b - view.a, Math.max(2, r.w / 110));
    g.fillStyle = '#6b7280'; g.font = '11px sans-serif'; g.strokeStyle = '#c8cdd4';
    for (var t = Math.ceil(view.a / st) * st; t <= view.b; t += st) {
      var x = t2x(r, t);
      g.beginPath(); g.moveTo(x, 14); g.lineTo(x, 22); g.stroke();
      g.fillText(fmtTime(t), x + 2, 11);
    }
  }
  function drawSpans(r, g, v, y0, rh, colors) {
    v.forEach(function (s, i) {
      if (s.row >= 4 || s.b < view.a || s.a > view.b) return;
      var x0 = Math.max(t2x(r, s.a), 0), x1 = Math.min(t2x(r, s.b), r.w), y = y0 + s.row * rh;
      g.fillStyle = colors[i % colors.length]; g.fillRect(x0, y + 1, Math.max(x1 - x0, 1), rh - 2);
      if (x1 - x0 > 30) { g.fillStyle = '#1d2330'; g.save(); g.beginPath(); g.rect(x0, y, x1 - x0, rh); g.clip();
        g.fillText(s.name, x0 + 2, y + rh - 3); g.restore(); }
    });
  }
  function drawBands(r, g) {
    g.font = '10px sans-serif';
    var np = Math.max(phases.nrows, 1);
    drawSpans(r, g, phases, 0, 12, ['#dbe7f5', '#e8f1dc', '#f7e6d3', '#eadff2']);
    drawSpans(r, g, scopes, 12 * np, 12, ['#f1e3c8', '#d6ece9', '#ead7dd']);
    var y = r.h - 12;
    META.procs.forEach(function (p) {
      var a = p[3] < 0 ? 0 : p[3], b = p[4] < 0 ? span : p[4];
      if (b < view.a || a > view.b) return;
      var x0 = Math.max(t2x(r, a), 0), x1 = Math.min(t2x(r, b), r.w);
      g.fillStyle = '#e5e7eb'; g.fillRect(x0, y + 3, Math.max(x1 - x0, 1), 6);
      if (p[4] >= 0) { g.fillStyle = '#374151'; g.fillRect(t2x(r, p[4]) - 1, y, 2, 12); }
    });
  }
  /* per series (lane:memtype): the highest column drawing gives it in the first full view */
  var drawn = {};
  function measureDrawn() {
    series.forEach(function (s) {
      var P = Math.max(1, Math.floor(lanes[s.lane].r.w)), c = columns(s, view.a, view.b, P), best = 0;
      for (var i = 0; i < P; i++) if (c[i] > best) best = c[i];
      drawn[s.lane + ':' + s.memtype] = best;
    });
  }
  function drawLane(r, g) {
    var l = r.lane, P = Math.max(1, Math.floor(r.w)), sps = laneRowsOf(l), rh = r.h / sps.length;
    sps.forEach(function (sp, k) {
      var y0 = k * rh, top = y0 + 3, hgt = rh - 4;
      var cols = [], cum = new Float64Array(P);
      MT.forEach(function (m, mt) {
        var s = l.series[mt];
        if (m.space !== sp || !s) return;
        var c = columns(s, view.a, view.b, P);
        cols.push({ mt: mt, c: c });
      });
      if (l.ymax === undefined) l.ymax = {};
      if (l.ymax[sp] === undefined) { /* the stacked top over the whole run, once */
        var whole = new Float64Array(512);
        MT.forEach(function (m, mt) { var s = l.series[mt]; if (m.space === sp && s) {
          var c = columns(s, 0, span, 512); for (var i = 0; i < 512; i++) whole[i] += c[i]; } });
        var mx = 0; for (var i = 0; i < 512; i++) if (whole[i] > mx) mx = whole[i];
        l.ymax[sp] = mx;
      }
      var cap = l.cap[sp] || 0, ymax = scaleMode === 'cap' && cap ? Math.max(cap, l.ymax[sp]) : l.ymax[sp];
      ymax = ymax || 1;
      var y = function (v) { return top + hgt - hgt * v / ymax; };
      cols.forEach(function (o) {
        g.beginPath(); g.moveTo(0, y(cum[0]));
        var i;
        for (i = 0; i < P; i++) { g.lineTo(i, y(cum[i] + o.c[i])); g.lineTo(i + 1, y(cum[i] + o.c[i])); }
        for (i = P - 1; i >= 0; i--) { g.lineTo(i + 1, y(cum[i])); g.lineTo(i, y(cum[i])); }
        g.closePath(); g.fillStyle = COLORS[o.mt]; g.fill();
        for (i = 0; i < P; i++) cum[i] += o.c[i];
      });
      if (cap && scaleMode === 'cap') {
        g.strokeStyle = '#d62728'; g.setLineDash([4, 3]); g.beginPath(); g.moveTo(0, y(cap) + 0.5); g.lineTo(r.w, y(cap) + 0.5); g.stroke(); g.setLineDash([]);
      }
      if (l.big) { g.fillStyle = '#6b7280'; g.font = '10px sans-serif'; g.fillText(SPACES[sp] + ' · scale ' + fmtBytes(ymax), 4, y0 + 11); }
      g.strokeStyle = '#eef0f3'; g.beginPath(); g.moveTo(0, y0 + rh - 0.5); g.lineTo(r.w, y0 + rh - 0.5); g.stroke();
    });
    /* process exits of the lane's run, the run's peak, the anomalies */
    g.strokeStyle = 'rgba(55,65,81,.45)';
    META.procs.forEach(function (p) {
      if (p[0] !== l.run || p[4] < view.a || p[4] > view.b || p[4] < 0) return;
      var x = Math.round(t2x(r, p[4])) + 0.5; g.beginPath(); g.moveTo(x, 0); g.lineTo(x, r.h); g.stroke();
    });
    var run = META.runs[l.run];
    if (run && run.has_peak && run.peak_ts >= view.a && run.peak_ts <= view.b) {
      g.fillStyle = '#e0a800'; g.fillRect(Math.round(t2x(r, run.peak_ts)), 0, 1, r.h);
    }
    var ml = l.markers || [], lastx = -9;
    for (var j = lastLE(M.ts, M.n, view.a) + 1; j < M.n && M.ts[j] <= view.b; j++) {
      if (M.lane[j] !== l.i) continue;
      var x = t2x(r, M.ts[j]);
      if (x - lastx < 1 && M.cls[j] === ml.lastc) continue; /* one per pixel and class */
      lastx = x; ml.lastc = M.cls[j];
      g.fillStyle = CLASS_COLORS[M.cls[j] % CLASS_COLORS.length];
      g.beginPath(); g.moveTo(x - 4, 0); g.lineTo(x + 4, 0); g.lineTo(x, 7); g.closePath(); g.fill();
    }
  }
  var sel = null;
  function draw() {
    rows.forEach(function (r) {
      if (r.row.style.display === 'none') return;
      var g = r.cv.getContext('2d');
      g.setTransform(DPR, 0, 0, DPR, 0, 0);
      g.clearRect(0, 0, r.w, r.h);
      if (r.kind === 'axis') drawAxis(r, g); else if (r.kind === 'bands') drawBands(r, g); else drawLane(r, g);
      if (sel) { g.fillStyle = 'rgba(66,133,244,.18)'; var x0 = t2x(r, Math.min(sel.t0, sel.t1)), x1 = t2x(r, Math.max(sel.t0, sel.t1)); g.fillRect(x0, 0, x1 - x0, r.h); }
    });
  }

  /* ---- hover and details ------------------------------------------------------------------- */

  var laneEvents = null; /* per lane: buffer events (alloc, free) by time, made on first hover */
  function buildLaneEvents() {
    laneEvents = lanes.map(function () { return []; });
    for (var i = 0; i < B.n; i++) {
      laneEvents[B.lane[i]].push([B.alloc[i], i, 0]);
      if (B.free[i] >= 0) laneEvents[B.lane[i]].push([B.free[i], i, 1]);
    }
    laneEvents = laneEvents.map(function (v) {
      v.sort(function (a, b) { return a[0] - b[0]; });
      return { ts: Float64Array.from(v, function (e) { return e[0]; }), ev: v };
    });
  }
  function nearest(ts, n, t) {
    var i = lastLE(ts, n, t), best = -1, d = Infinity;
    [i, i + 1].forEach(function (k) { if (k >= 0 && k < n && Math.abs(ts[k] - t) < d) { d = Math.abs(ts[k] - t); best = k; } });
    return best;
  }
  function bufText(i) {
    var l = lanes[B.lane[i]], who = procName[l.run + ':' + B.pid[i]];
    var s = bufName(i) + ' · ' + fmtBytes(B.size[i]) + ' · ' + MT[B.memtype[i]].name + ' on ' + laneName(l) +
      '\nowner pid ' + B.pid[i] + (who ? ' (' + who + ')' : '') +
      '\nalloc ' + fmtTime(B.alloc[i]) + ' · ' + (B.free[i] >= 0 ? ((B.flags[i] & 2) ? 'leaked, reclaimed at exit ' : 'free ') + fmtTime(B.free[i]) : 'live at the end') +
      ((B.flags[i] & 4) ? ' · live at the peak' : '');
    if (B.scope[i]) s += '\nscope ' + (META.scopes[B.scope[i] - 1][2] || META.scopes[B.scope[i] - 1][1]);
    s += '\nsite ' + (B.site[i] ? '\n  ' + META.sites[B.site[i]].split('\n').join('\n  ') : '(no call stack)');
    return s;
  }
  function info(r, x) {
    var l = r.lane, t = x2t(r, x), px = (view.b - view.a) / r.w, out = [laneName(l) + ' at ' + fmtTime(t)];
    MT.forEach(function (m, mt) {
      var s = l.series[mt]; if (!s) return;
      var v = valueAt(s, t);
      out.push('  ' + m.name + ' ' + fmtBytes(v.v) + (v.exact ? '' : ' (end of a ' + fmtTime(v.w) + ' bucket; ' + fmtBytes(v.lo) + '–' + fmtBytes(v.hi) + ' in it)'));
    });
    if (!laneEvents) buildLaneEvents();
    var le = laneEvents[l.i], k = nearest(le.ts, le.ts.length, t);
    if (k >= 0 && Math.abs(le.ts[k] - t) <= 12 * px) {
      var e = le.ev[k];
      out.push('', 'nearest buffer event: ' + (e[2] ? 'free' : 'alloc') + ' at ' + fmtTime(e[0]), bufText(e[1]));
    }
    var mk = -1, md = 6 * px;
    for (var j = Math.max(0, lastLE(M.ts, M.n, t - md)); j < M.n && M.ts[j] <= t + md; j++)
      if (M.lane[j] === l.i && Math.abs(M.ts[j] - t) <= md) { mk = j; md = Math.abs(M.ts[j] - t); }
    if (mk >= 0) {
      var names = META.classes.filter(function (c, ci) { return M.mask[mk] & (1 << ci); }).map(function (c) { return c.name; });
      out.push('', 'anomaly: ' + names.join(', ') + ' (' + (M.kind[mk] === 1 ? 'alloc' : 'free') + ') at ' + fmtTime(M.ts[mk]) +
        ' · pid ' + M.pid[mk] + ' · addr 0x' + M.addr[mk].toString(16) + ' · ' + fmtBytes(M.size[mk]));
    }
    return out.join('\n');
  }

  /* ---- interaction ------------------------------------------------------------------------- */

  function setView(a, b) {
    var w = Math.max(b - a, 10);
    if (w > span * 1.05) { a = 0; w = span; }
    a = Math.max(Math.min(a, span - w * 0.05), -w * 0.95);
    view.a = a; view.b = a + w; draw();
  }
  function zoomAt(t, f) { setView(t - (t - view.a) * f, t + (view.b - t) * f); }
  rows.forEach(function (r) {
    var cv = r.cv, down = null;
    cv.addEventListener('wheel', function (e) {
      e.preventDefault();
      var x = e.offsetX, t = x2t(r, x);
      if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        var d = (e.deltaX || e.deltaY) / r.w * (view.b - view.a); setView(view.a + d, view.b + d);
      } else zoomAt(t, Math.pow(1.0015, e.deltaY));
    }, { passive: false });
    cv.addEventListener('mousedown', function (e) { down = { x: e.offsetX, t: x2t(r, e.offsetX), a: view.a, b: view.b, pan: e.shiftKey || e.button === 1 }; e.preventDefault(); });
    window.addEventListener('mousemove', function (e) {
      if (!down) return;
      var x = e.clientX - cv.getBoundingClientRect().left;
      if (down.pan) { var d = (down.x - x) / r.w * (down.b - down.a); setView(down.a + d, down.b + d); }
      else if (Math.abs(x - down.x) > 3) { sel = { t0: down.t, t1: x2t(r, x) }; draw(); }
    });
    window.addEventListener('mouseup', function (e) {
      if (!down) return;
      var x = e.clientX - cv.getBoundingClientRect().left, d = down; down = null;
      if (sel) { var a = Math.min(sel.t0, sel.t1), b = Math.max(sel.t0, sel.t1); sel = null; setView(a, b); }
      else if (!d.pan && Math.abs(x - d.x) <= 3 && r.kind === 'lane') details.textContent = info(r, x);
    });
    if (r.kind === 'lane') {
      cv.addEventListener('mousemove', function (e) {
        if (down) return;
        tip.textContent = info(r, e.offsetX); tip.style.display = 'block';
        var tx = Math.min(e.clientX + 14, window.innerWidth - 540);
        tip.style.left = Math.max(tx, 0) + 'px'; tip.style.top = (e.clientY + 14) + 'px';
      });
      cv.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
    }
  });
  document.getElementById('b-reset').onclick = function () { setView(0, span); };
  document.getElementById('b-out').onclick = function () { var c = (view.a + view.b) / 2; zoomAt(c, 4); };
  document.getElementById('b-peak').onclick = function () {
    var p = META.runs.filter(function (r) { return r.has_peak; })[0];
    if (p) { var w = (view.b - view.a) / 20; setView(p.peak_ts - w, p.peak_ts + w); }
  };
  document.addEventListener('keydown', function (e) {
    if (e.target.tagName === 'INPUT') return;
    var w = view.b - view.a;
    if (e.key === 'ArrowLeft') setView(view.a - w / 5, view.b - w / 5);
    else if (e.key === 'ArrowRight') setView(view.a + w / 5, view.b + w / 5);
    else if (e.key === '+' || e.key === '=') zoomAt((view.a + view.b) / 2, 0.5);
    else if (e.key === '-') zoomAt((view.a + view.b) / 2, 2);
    else if (e.key === '0') setView(0, span);
  });
  /* the device filter: numbers and ranges ("0-3, 8"), or text matched against the lane's name */
  function filterLanes() {
    var q = document.getElementById('f-dev').value.trim(), want = null;
    if (q) {
      want = [];
      q.split(/[\s,]+/).forEach(function (p) {
        var m = /^(\d+)(?:-(\d+))?$/.exec(p);
        if (m) want.push([+m[1], m[2] === undefined ? +m[1] : +m[2]]); else want.push(p);
      });
    }
    lanes.forEach(function (l) {
      var ok = !want || want.some(function (w) { return typeof w === 'string' ? laneName(l).indexOf(w) >= 0 : l.device >= w[0] && l.device <= w[1]; });
      l.r.row.style.display = ok ? '' : 'none';
    });
    layout(); draw();
  }
  document.getElementById('f-dev').addEventListener('input', filterLanes);
  var spaceEl = document.getElementById('f-space');
  spaceEl.value = String(spaceSel);
  spaceEl.onchange = function () { spaceSel = +spaceEl.value; draw(); };
  document.getElementById('f-scale').onchange = function (e) { scaleMode = e.target.value; draw(); };
  window.addEventListener('resize', function () { layout(); draw(); });

  /* ---- the live set at each run's peak ------------------------------------------------------- */

  var peaksOut = [];
  (function () {
    var sec = el('section');
    sec.appendChild(el('h2', {}, 'Live at the peak'));
    META.runs.forEach(function (run, ri) {
      if (!run.has_peak) return;
      var idx = [];
      for (var i = 0; i < B.n; i++) if ((B.flags[i] & 4) && lanes[B.lane[i]].run === ri) idx.push(i);
      idx.sort(function (a, b) { return B.size[b] - B.size[a]; });
      var listed = 0; idx.forEach(function (i) { listed += B.size[i]; });
      peaksOut.push({ run: ri, ts: run.peak_ts, bytes: run.peak_bytes, live_count: run.live_count, live_bytes: run.live_bytes, listed: idx.length, listed_bytes: listed });
      sec.appendChild(el('div', {}, (META.runs.length > 1 ? run.host + ': ' : '') + fmtBytes(run.peak_bytes) + ' in use at ' + fmtTime(run.peak_ts) +
        ' (every device and memory type together), held by ' + run.live_count + ' buffers' +
        (idx.length < run.live_count ? ' (the ' + idx.length + ' largest listed)' : '') + '.'));
      var bySite = {};
      idx.forEach(function (i) { var k = B.site[i]; var s = bySite[k] = bySite[k] || { n: 0, bytes: 0 }; s.n++; s.bytes += B.size[i]; });
      var sites = Object.keys(bySite).sort(function (a, b) { return bySite[b].bytes - bySite[a].bytes; });
      var t1 = el('table');
      t1.innerHTML = '<tr><th class="n">bytes</th><th class="n">buffers</th><th>allocation site</th></tr>';
      sites.slice(0, 50).forEach(function (k) {
        var tr = el('tr'); tr.appendChild(el('td', { 'class': 'n' }, fmtBytes(bySite[k].bytes)));
        tr.appendChild(el('td', { 'class': 'n' }, String(bySite[k].n)));
        var td = el('td'); td.appendChild(el('pre', {}, +k ? META.sites[+k] : '(no call stack)')); tr.appendChild(td); t1.appendChild(tr);
      });
      sec.appendChild(el('h2', {}, 'By allocation site'));
      sec.appendChild(t1);
      var t2 = el('table');
      t2.innerHTML = '<tr><th>buffer</th><th>device</th><th>type</th><th class="n">size</th><th>owner</th><th class="n">alloc</th><th class="n">free</th><th>site</th></tr>';
      idx.slice(0, 200).forEach(function (i) {
        var l = lanes[B.lane[i]], tr = el('tr', { 'class': 'click' }), who = procName[l.run + ':' + B.pid[i]];
        [bufName(i), laneName(l), MT[B.memtype[i]].name, fmtBytes(B.size[i]), B.pid[i] + (who ? ' ' + who : ''),
          fmtTime(B.alloc[i]), B.free[i] >= 0 ? fmtTime(B.free[i]) : 'live at end'].forEach(function (v, c) {
          tr.appendChild(el('td', c === 3 || c >= 5 ? { 'class': 'n' } : {}, v)); });
        var td = el('td'); td.appendChild(el('pre', {}, B.site[i] ? META.sites[B.site[i]].split('\n')[0] : '')); tr.appendChild(td);
        tr.onclick = function () { details.textContent = bufText(i); var e = B.free[i] >= 0 ? B.free[i] : span, p = (e - B.alloc[i]) * 0.1 + 1;
          setView(B.alloc[i] - p, e + p); details.scrollIntoView({ block: 'nearest' }); };
        t2.appendChild(tr);
      });
      sec.appendChild(el('h2', {}, 'Largest buffers' + (idx.length > 200 ? ' (200 of ' + idx.length + ')' : '')));
      sec.appendChild(t2);
    });
    app.appendChild(sec);
  })();

  /* ---- first paint, then what was drawn ---------------------------------------------------- */

  layout();
  draw();
  var paint = performance.now();
  measureDrawn();
  var probes = [];
  /* #at=T1,T2,...: record times (ns, as the journal has them) whose values are published */
  var m = /at=([0-9,]+)/.exec(location.hash);
  if (m) probes = m[1].split(',').map(function (x) { return Number(x) - META.t0; });
  var classes = {};
  META.classes.forEach(function (c, k) {
    if (!c.anomaly) return;
    var n = 0; for (var i = 0; i < M.n; i++) if (M.cls[i] === k) n++;
    classes[c.name] = { events: c.events, markers: n, seen: c.markers_seen };
  });
  var out = {
    ok: true, paint_ms: paint, t0: META.t0, span: META.span, lanes: lanes.length,
    markers: M.n, buffers: B.n, exits: META.procs.filter(function (p) { return p[4] >= 0; }).length,
    classes: classes, peaks: peaksOut,
    series: series.map(function (s) {
      var l = lanes[s.lane], p = peakOf(s);
      return { run: l.run, host: l.host, device: l.device, memtype: MT[s.memtype].name, exact: !!s.exact,
        changes: s.changes, peak: p.v, peak_ts: p.ts, drawn_peak: drawn[s.lane + ':' + s.memtype],
        finest_w: s.exact ? 0 : finest(s).w, last: valueAt(s, span).v, probes: probes.map(function (t) { return valueAt(s, t).v; }) };
    })
  };
  var d = document.getElementById('ttm-drawn');
  d.textContent = JSON.stringify(out);
  d.setAttribute('data-state', 'ok');
})();
