// Live updates for the edgeloop status page. The page arrives fully rendered by the device;
// this script keeps it current: it loads /api/history for the sparklines, then listens to
// EventSource('/events') (each message is the /api/status JSON) and falls back to polling
// /api/status every two seconds. No framework, no external resources.
'use strict';
(function () {
  var POLL_MS = 2000;
  var UNKNOWN = '\u2014';
  var $ = function (id) { return document.getElementById(id); };
  var hist = { seq: 0, cpu: [], mem: [], rx: [], tx: [], temp: [] };
  var len = 300;
  var box = $('spark_cpu') && $('spark_cpu').ownerSVGElement;
  if (box && box.viewBox && box.viewBox.baseVal) len = Math.round(box.viewBox.baseVal.width) + 1;

  function known(v) { return v !== null && v !== undefined; }
  function set(id, text) { var e = $(id); if (e && e.textContent !== text) e.textContent = text; }
  function pct(v) { return known(v) ? (Math.floor(v * 10 + 1e-6) / 10).toFixed(1) + ' %' : UNKNOWN; }
  function bytes(n) {
    if (!known(n)) return UNKNOWN;
    if (n < 1024) return n + ' B';
    var units = [' KiB', ' MiB', ' GiB', ' TiB', ' PiB', ' EiB'];
    var t = Math.floor(n * 10 / 1024), u = 0;
    while (t >= 10240 && u + 1 < units.length) { t = Math.floor(t / 1024); u++; }
    return Math.floor(t / 10) + '.' + (t % 10) + units[u];
  }
  function rate(n) { return known(n) ? bytes(n) + '/s' : UNKNOWN; }
  function temp(c) {
    if (!known(c)) return UNKNOWN;
    var t = Math.trunc(c * 10 + (c < 0 ? -1e-6 : 1e-6)) / 10;
    return t.toFixed(1) + ' \u00b0C';
  }
  function duration(s) {
    if (!known(s)) return UNKNOWN;
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d > 0) return d + 'd ' + h + 'h ' + m + 'm';
    if (h > 0) return h + 'h ' + m + 'm';
    return m + 'm ' + (s % 60) + 's';
  }
  function date(ms) {
    if (!known(ms)) return UNKNOWN;
    var iso = new Date(ms).toISOString();
    return iso.slice(0, 10) + ' ' + iso.slice(11, 19) + ' UTC';
  }
  function num(v) { return known(v) ? String(v) : UNKNOWN; }
  function load(v) { return known(v) ? v.toFixed(2) : UNKNOWN; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (known(text)) e.textContent = text;
    return e;
  }
  function meter(value) {
    var m = el('meter');
    m.min = 0; m.max = 100; m.value = known(value) ? value : 0;
    return m;
  }
  function fill(id, rows) {
    var body = $(id);
    if (!body) return;
    while (body.firstChild) body.removeChild(body.firstChild);
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function row(cells) {
    var tr = el('tr');
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }
  function td(text, cls) { return el('td', cls, text); }

  // Sparklines: the same path the device draws (x = sample index, newest at the right edge).
  function path(values, yOf) {
    var d = '', pen = false, x = len - values.length;
    values.forEach(function (v) {
      var y = known(v) ? yOf(v) : null;
      if (known(y)) {
        y = Math.max(0, Math.min(100, Math.floor(y)));
        d += (pen ? 'L' : 'M') + x + ' ' + (100 - y);
        pen = true;
      } else {
        pen = false;
      }
      x++;
    });
    return d;
  }
  function draw() {
    var peak = 1, lo = null, hi = null;
    hist.rx.concat(hist.tx).forEach(function (v) { if (known(v) && v > peak) peak = v; });
    hist.temp.forEach(function (v) {
      if (!known(v)) return;
      if (lo === null || v < lo) lo = v;
      if (hi === null || v > hi) hi = v;
    });
    var draws = {
      spark_cpu: [hist.cpu, function (v) { return v; }],
      spark_mem: [hist.mem, function (v) { return v; }],
      spark_rx: [hist.rx, function (v) { return v * 100 / peak; }],
      spark_tx: [hist.tx, function (v) { return v * 100 / peak; }],
      spark_temp: [hist.temp, function (v) { return (v - lo + 1) * 100 / (hi - lo + 2); }]
    };
    Object.keys(draws).forEach(function (id) {
      var e = $(id);
      if (e) e.setAttribute('d', path(draws[id][0], draws[id][1]));
    });
    set('net_scale', rate(peak));
    set('temp_scale', lo === null ? UNKNOWN : temp(lo) + ' \u2013 ' + temp(hi));
  }
  function trim(a) { while (a.length > len) a.shift(); }
  function append(st) {
    var s = st.sample || {};
    hist.cpu.push(s.cpu_pct); hist.mem.push(s.mem_pct);
    hist.rx.push(s.rx_bytes_per_s); hist.tx.push(s.tx_bytes_per_s); hist.temp.push(s.temp_c);
    [hist.cpu, hist.mem, hist.rx, hist.tx, hist.temp].forEach(trim);
    hist.seq = st.seq;
  }
  function loadHistory() {
    return fetch('/api/history', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (h) {
        hist = { seq: h.seq, cpu: h.cpu_pct, mem: h.mem_pct, rx: h.rx_bytes_per_s,
                 tx: h.tx_bytes_per_s, temp: h.temp_c };
        draw();
      })
      .catch(function () { /* keep the server-drawn charts */ });
  }

  function update(st) {
    set('hostname', st.hostname); document.title = st.hostname + ' \u00b7 status';
    set('os', st.os); set('kernel', st.kernel); set('arch', st.arch);
    set('uptime', duration(st.uptime_s));
    set('boot_time', known(st.boot_time_s) ? date(st.boot_time_s * 1000) : UNKNOWN);
    set('updated', date(st.time_ms));
    var l = st.load || {};
    set('load1', load(l.load1)); set('load5', load(l.load5)); set('load15', load(l.load15));
    set('tasks', num(l.tasks));
    var t = st.cpu.total || {};
    set('cpu_busy', pct(t.busy_pct)); set('cpu_count', String(st.cpu.count));
    set('cpu_user', pct(t.user_pct)); set('cpu_system', pct(t.system_pct));
    set('cpu_iowait', pct(t.iowait_pct));
    fill('cores', st.cpu.cores.map(function (c) {
      var d = el('div', 'core');
      d.appendChild(el('span', null, 'cpu' + c.cpu));
      d.appendChild(meter(c.busy_pct));
      d.appendChild(el('span', null, pct(c.busy_pct)));
      return d;
    }));
    var m = st.memory || {};
    set('mem_pct', pct(m.used_pct)); set('mem_used', bytes(m.used_bytes));
    set('mem_avail', bytes(m.available_bytes)); set('mem_total', bytes(m.total_bytes));
    if ($('mem_meter')) $('mem_meter').value = known(m.used_pct) ? m.used_pct : 0;
    var sw = st.swap;
    set('swap', !sw || !known(sw.used_bytes) ? UNKNOWN
      : known(sw.used_pct) ? bytes(sw.used_bytes) + ' (' + pct(sw.used_pct) + ')' : 'no swap');
    set('temp_max', temp(st.sample.temp_c));
    fill('temperatures', st.temperatures.map(function (s) {
      var name = (s.name || 'sensor') + (s.label ? ' ' + s.label : '');
      return row([td(name), td(temp(s.celsius), 'num' + (s.celsius >= 80 ? ' hot' : ''))]);
    }));
    set('net_rx', rate(st.sample.rx_bytes_per_s)); set('net_tx', rate(st.sample.tx_bytes_per_s));
    fill('interfaces', st.interfaces.map(function (i) {
      var addr = td(null, 'addr');
      i.addresses.forEach(function (a, n) {
        if (n > 0) addr.appendChild(el('br'));
        addr.appendChild(document.createTextNode(a));
      });
      var down = ['down', 'lowerlayerdown', 'notpresent'].indexOf(i.state) >= 0;
      return row([td(i.name), td(i.state || UNKNOWN, down ? 'down' : ''),
        addr, td(rate(i.rx_bytes_per_s), 'num'), td(rate(i.tx_bytes_per_s), 'num'),
        td(bytes(i.rx_bytes) + ' / ' + bytes(i.tx_bytes), 'num'),
        td((i.rx_errs + i.tx_errs) + ' / ' + (i.rx_drop + i.tx_drop), 'num')]);
    }));
    fill('filesystems', st.filesystems.map(function (f) {
      var used = td(null, 'num');
      used.appendChild(meter(f.used_pct));
      used.appendChild(document.createTextNode(' ' + pct(f.used_pct)));
      var mount = td(f.mountpoint);
      mount.title = f.device;
      return row([mount, td(f.fstype), used, td(bytes(f.size_bytes), 'num'),
        td(bytes(f.avail_bytes), 'num')]);
    }));
    var v = st.server;
    set('srv_uptime', duration(v.uptime_s)); set('srv_connections', String(v.connections_open));
    set('srv_requests', String(v.requests_total));
    set('srv_in', bytes(v.bytes_in_total)); set('srv_out', bytes(v.bytes_out_total));
    set('srv_rss', bytes(v.rss_bytes)); set('srv_static', bytes(v.static_memory_bytes));
    if (st.seq > hist.seq) {
      if (hist.seq && st.seq - hist.seq > 1) loadHistory(); else { append(st); draw(); }
    }
  }

  var mode = '';
  function status(text) { mode = text; set('mode', text); }
  function received(st) { update(st); status(mode.replace(/ \u2014 .*/, '')); }
  function lost() { if (mode.indexOf(' \u2014 ') < 0) status(mode + ' \u2014 connection lost, retrying'); }

  function poll() {
    fetch('/api/status', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(received, lost)
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  function startPolling() { status('Live (polling every ' + POLL_MS / 1000 + ' s)'); poll(); }

  function listen() {
    if (!window.EventSource) { startPolling(); return; }
    var es = new EventSource('/events'), got = false;
    status('Live (server events)');
    es.onmessage = function (e) {
      got = true;
      try { received(JSON.parse(e.data)); } catch (err) { /* a bad message: wait for the next */ }
    };
    es.onerror = function () {
      // Never worked (no /events on this firmware, or a proxy in the way): poll instead.
      if (!got || es.readyState === EventSource.CLOSED) { es.close(); startPolling(); } else lost();
    };
  }

  loadHistory().then(listen);
})();
