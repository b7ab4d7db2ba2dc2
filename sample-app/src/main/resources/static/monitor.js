// The live page: polls /actuator/workqueues and /actuator/health/workqueues once a second and
// renders what the kernel's tools/workqueue/wq_monitor.py prints, plus the pools and any stall.
// Plain fetch() and DOM; every row carries data-queue / data-pool and every cell data-col, so that
// a test (or a curious human with devtools) can find a value.
(function () {
  'use strict';

  var REFRESH_MS = 1000;
  var previous = null; // { at: ms, totals: {queue: total} } of the last successful refresh

  function $(id) { return document.getElementById(id); }

  function fmtInt(n) { return (n === undefined || n === null) ? '-' : String(n); }
  function fmtSec(ms) { return (ms === undefined || ms === null) ? '-' : (ms / 1000).toFixed(2); }

  // Finds or creates the row of `key` in `tbody`; rows stay in place between refreshes.
  function rowFor(tbody, attr, key, cols) {
    var row = tbody.querySelector('tr[' + attr + '="' + CSS.escape(String(key)) + '"]');
    if (!row) {
      row = document.createElement('tr');
      row.setAttribute(attr, String(key));
      row.id = attr.replace('data-', '') + '-' + String(key).replace(/[^A-Za-z0-9_-]/g, '_');
      cols.forEach(function (c) {
        var td = document.createElement('td');
        td.setAttribute('data-col', c.col);
        if (c.cls) { td.className = c.cls; }
        row.appendChild(td);
      });
      tbody.appendChild(row);
    }
    return row;
  }

  function setCell(row, col, text) {
    var td = row.querySelector('td[data-col="' + col + '"]');
    if (td.textContent !== text) { td.textContent = text; }
  }

  function removeStale(tbody, attr, keep) {
    Array.prototype.slice.call(tbody.querySelectorAll('tr[' + attr + ']')).forEach(function (row) {
      if (!keep[row.getAttribute(attr)]) { tbody.removeChild(row); }
    });
  }

  var QUEUE_COLS = [
    { col: 'name', cls: 'name' }, { col: 'total', cls: 'num' }, { col: 'rate', cls: 'num' },
    { col: 'infl', cls: 'num' }, { col: 'cputime', cls: 'num' }, { col: 'cpuitsv', cls: 'num' },
    { col: 'cmw-rpr', cls: 'num' }, { col: 'mayday', cls: 'num' }, { col: 'rescued', cls: 'num' },
    { col: 'failed', cls: 'num' }, { col: 'max-active', cls: 'num' }, { col: 'flags', cls: 'flags' }
  ];

  var POOL_COLS = [
    { col: 'id', cls: 'num' }, { col: 'kind' }, { col: 'cpu', cls: 'num' }, { col: 'cpus' },
    { col: 'nice', cls: 'num' }, { col: 'workers', cls: 'num' }, { col: 'idle', cls: 'num' },
    { col: 'running', cls: 'num' }, { col: 'pending', cls: 'num' }, { col: 'last-start' }
  ];

  function renderEngine(wq) {
    var um = wq.unbound_cpumask || {};
    var eff = um.effective || {};
    var req = um.requested || {};
    var text = 'engine: ' + wq.engine + ' \u2014 cpus: ' + wq.cpus +
      ' (online ' + wq.online_cpus + ') \u2014 placement: ' + wq.placement +
      ' \u2014 unbound cpumask: ' + eff.list + ' (0x' + eff.hex + ')';
    if (req.hex !== eff.hex) { text += ', requested ' + req.list + ' (0x' + req.hex + ')'; }
    text += ' \u2014 worker threads: ' + wq.worker_threads +
      ' \u2014 watchdog: ' + wq.watchdog_thresh_seconds + ' s';
    if (wq.frozen) { text += ' \u2014 FROZEN'; }
    var el = $('engine');
    el.textContent = text;
    el.setAttribute('data-cpus', String(wq.cpus));
  }

  function renderQueues(wq, now) {
    var tbody = $('queue-rows');
    var keep = {};
    var totals = {};
    var names = Object.keys(wq.workqueues || {}).sort();
    names.forEach(function (name) {
      var q = wq.workqueues[name];
      var s = q.stats || {};
      keep[name] = true;
      totals[name] = s.total;
      var row = rowFor(tbody, 'data-queue', name, QUEUE_COLS);
      setCell(row, 'name', q.alias ? name + ' (' + q.alias + ')' : name);
      setCell(row, 'total', fmtInt(s.total));
      var rate = '-';
      if (previous && previous.totals[name] !== undefined && now > previous.at) {
        rate = ((s.total - previous.totals[name]) * 1000 / (now - previous.at)).toFixed(1);
      }
      setCell(row, 'rate', rate);
      setCell(row, 'infl', fmtInt(s.in_flight));
      setCell(row, 'cputime', fmtSec(s.cpu_time_ms));
      setCell(row, 'cpuitsv', fmtInt(s.cpu_intensive));
      // wq_monitor.py: CMW for per-CPU queues, RPR for unbound ones; both shown as CMW/RPR
      setCell(row, 'cmw-rpr', fmtInt(s.cm_wakeups) + '/' + fmtInt(s.repatriated));
      setCell(row, 'mayday', fmtInt(s.mayday));
      setCell(row, 'rescued', fmtInt(s.rescued));
      setCell(row, 'failed', fmtInt(s.failed));
      setCell(row, 'max-active', fmtInt(q.max_active));
      setCell(row, 'flags', (q.flags || []).join(' ') || (q.per_cpu ? 'per-cpu' : ''));
      row.setAttribute('data-total', String(s.total));
      row.classList.toggle('busy', s.in_flight > 0);
    });
    removeStale(tbody, 'data-queue', keep);
    previous = { at: now, totals: totals };
  }

  function renderPools(wq) {
    var tbody = $('pool-rows');
    var keep = {};
    var stalled = {};
    (wq.stalled_pools || []).forEach(function (id) { stalled[String(id)] = true; });
    (wq.pools || []).forEach(function (p) {
      var id = String(p.id);
      keep[id] = true;
      var row = rowFor(tbody, 'data-pool', id, POOL_COLS);
      setCell(row, 'id', id);
      setCell(row, 'kind', p.kind);
      setCell(row, 'cpu', p.cpu === undefined ? '-' : String(p.cpu));
      setCell(row, 'cpus', p.cpus ? p.cpus.list + ' (0x' + p.cpus.hex + ')' : '-');
      setCell(row, 'nice', fmtInt(p.nice));
      setCell(row, 'workers', fmtInt(p.workers));
      setCell(row, 'idle', fmtInt(p.idle));
      setCell(row, 'running', fmtInt(p.running));
      setCell(row, 'pending', fmtInt(p.pending));
      setCell(row, 'last-start', p.last_start || '-');
      row.setAttribute('data-stalled', stalled[id] ? 'true' : 'false');
      row.classList.toggle('stalled', !!stalled[id]);
    });
    removeStale(tbody, 'data-pool', keep);
  }

  function renderHealth(health) {
    var status = (health && health.status) || 'UNKNOWN';
    var h = $('health');
    h.textContent = status;
    h.className = status === 'UP' ? 'up' : 'down';
    var stalled = (health && health.details && health.details.stalled) || [];
    var banner = $('stall');
    var list = $('stall-list');
    while (list.firstChild) { list.removeChild(list.firstChild); }
    if (status === 'UP' || stalled.length === 0) {
      banner.hidden = true;
      banner.setAttribute('data-stalled', '0');
      if (status !== 'UP') { // DOWN without details: still worth saying
        banner.hidden = false;
        $('stall-title').textContent = 'Workqueues health is ' + status;
      }
      return;
    }
    $('stall-title').textContent = 'Workqueue lockup: ' + stalled.length + ' pool' +
      (stalled.length === 1 ? '' : 's') + ' stuck (watchdog threshold ' +
      ((health.details && health.details.watchdogThreshold) || '?') + ')';
    stalled.forEach(function (s) {
      var li = document.createElement('li');
      li.setAttribute('data-stalled-pool', s.pool);
      li.textContent = 'pool ' + s.pool + ' stuck for ' + s.stuckFor + ', ' + s.pending + ' pending';
      list.appendChild(li);
    });
    banner.setAttribute('data-stalled', String(stalled.length));
    banner.hidden = false;
  }

  function getJson(url) {
    // the health endpoint answers 503 with a JSON body while DOWN: read the body either way
    return fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } }).then(function (r) {
      return r.json();
    });
  }

  function refresh() {
    Promise.all([getJson('actuator/workqueues'), getJson('actuator/health/workqueues')]).then(function (res) {
      var now = Date.now();
      renderEngine(res[0]);
      renderQueues(res[0], now);
      renderPools(res[0]);
      renderHealth(res[1]);
      var u = $('updated');
      u.textContent = 'last updated: ' + new Date(now).toLocaleTimeString() + ' (every ' + REFRESH_MS / 1000 + ' s)';
      u.className = '';
      u.setAttribute('data-updated', String(now));
    }).catch(function (e) {
      var u = $('updated');
      u.textContent = 'refresh failed: ' + e + ' (retrying)';
      u.className = 'error';
    }).then(function () {
      setTimeout(refresh, REFRESH_MS);
    });
  }

  refresh();
})();
