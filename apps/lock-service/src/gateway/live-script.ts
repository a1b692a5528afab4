// The live view's script, as the page inlines it. Plain browser JavaScript: it subscribes to
// `cluster.watch` on this node's WebSocket, draws each snapshot, and reconnects when the socket
// closes. No template literals inside, since this file holds it in one.
export const LIVE_SCRIPT = `
'use strict';
var $ = function (id) { return document.getElementById(id); };
var seen = new Set();

function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function ms(n) {
  if (n <= 0) return '0 s';
  return n >= 10000 ? Math.round(n / 1000) + ' s' : (n / 1000).toFixed(1) + ' s';
}

function rows(body, empty, items, cells, key) {
  var next = new Set();
  body.replaceChildren.apply(body, items.map(function (item) {
    var tr = el('tr');
    var k = key(item);
    next.add(k);
    if (!seen.has(k)) tr.className = 'fresh';
    cells(item).forEach(function (c, i) {
      var td = el(i === 0 ? 'th' : 'td', c[0], c[1]);
      if (i === 0) td.scope = 'row';
      tr.appendChild(td);
    });
    tr.dataset.key = k;
    return tr;
  }));
  empty.hidden = items.length > 0;
  return next;
}

function draw(v) {
  var leader = v.leader || 'none';
  var shown = $('leader');
  if (shown.textContent !== leader) shown.textContent = leader;
  shown.dataset.leader = v.leader;
  $('term').textContent = '(term ' + v.term + ', seen from ' + v.node + ')';
  $('nodes').replaceChildren.apply($('nodes'), v.nodes.map(function (n) {
    var li = el('li', null, 'node' + (n.role === 'leader' ? ' leader' : '') + (n.error ? ' down' : ''));
    li.dataset.node = n.id;
    li.dataset.role = n.role;
    var h = el('h3');
    h.append(el('span', n.id), el('span', n.learner ? 'learner' : n.role, 'role'));
    var health = el('p', n.healthy ? '● healthy' : '○ ' + (n.error ? 'unreachable' : 'not ready'),
      'health ' + (n.healthy ? 'ok' : 'bad'));
    if (n.error) health.title = n.error;
    var dl = el('dl');
    [['term', n.term], ['commit', n.commitIndex], ['applied', n.appliedIndex]].forEach(function (p) {
      dl.append(el('dt', p[0]), el('dd', n.error ? '–' : p[1]));
    });
    li.append(h, health, dl);
    return li;
  }));
  var keys = new Set();
  var add = function (s) { s.forEach(function (k) { keys.add(k); }); };
  add(rows($('locks'), $('locks-empty'), v.locks, function (l) {
    return [[l.name], [l.holder || '(free)'], [l.holder ? l.fencingToken : '–', 'num'],
      [l.holder ? ms(l.remainingMs) : '–', 'num'], [l.waiters.length ? l.waiters.join(', ') : '–']];
  }, function (l) { return 'lock:' + l.name + ':' + l.fencingToken; }));
  add(rows($('elections'), $('elections-empty'), v.elections, function (e) {
    return [[e.name], [e.leader || '(none)'], [e.value], [e.fencingToken, 'num'],
      [e.candidates.length ? e.candidates.join(', ') : '–']];
  }, function (e) { return 'election:' + e.name + ':' + e.fencingToken; }));
  add(rows($('leases'), $('leases-empty'), v.leases, function (l) {
    return [[l.id], [ms(l.ttlMs), 'num'], [ms(l.remainingMs), 'num'], [l.holds, 'num'], [l.waits, 'num']];
  }, function (l) { return 'lease:' + l.id; }));
  add(rows($('log'), el('span'), v.log.slice().reverse(), function (e) {
    return [[e.index, 'num'], [e.term, 'num'], [e.kind + (e.committed ? '' : ' (uncommitted)'),
      e.committed ? '' : 'uncommitted']];
  }, function (e) { return 'log:' + e.index + ':' + e.term; }));
  $('log-node').textContent = '(' + v.node + ')';
  seen = keys;
}

var delay = 500;
function connect() {
  var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  ws.onopen = function () {
    delay = 500;
    $('conn').textContent = 'live';
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'cluster.watch' }));
  };
  ws.onmessage = function (m) {
    var msg = JSON.parse(m.data);
    if (msg.error) $('conn').textContent = 'refused: ' + msg.error.message;
    else if (msg.method === 'cluster.view' && msg.params.result) draw(msg.params.result);
  };
  ws.onclose = function (e) {
    $('conn').textContent = 'disconnected' + (e.reason ? ': ' + e.reason : '') + ', reconnecting…';
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 5000);
  };
}
connect();
`;
