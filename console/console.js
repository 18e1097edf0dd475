/*
 * recd's console (docs/console.md): sign in, list and filter recordings and calls, look at a
 * recording's waveform, listen, read its transcription, download it, delete it.
 *
 * This module is what the first screen needs: signing in, the recordings and calls lists, and the
 * keys. The player (waveform, audio, downloads, delete) is player.js, imported when a recording
 * first opens, or earlier once the list is on the screen and the browser is idle; so the first
 * list render fetches and compiles only this file (bench/RESULTS.md, "Console").
 *
 * Everything shown comes from recd's public API (/2010-04-01/…) and its own endpoints
 * (/recd/…, contract §10), fetched with the signed-in credentials as Basic auth. Every value from
 * outside is put on the page as text (textContent, or a string given to append()), never as
 * markup; the page's Content-Security-Policy also forbids inline script and every HTML sink
 * (Trusted Types 'none'), so a mistake here would throw rather than run someone's markup.
 */

performance.mark('recd:script-start');
export const VERSION = '2010-04-01';
export const PAGE = 50;          // rows a page, as asked
const SCAN_PAGE = 1000;          // rows fetched at a time when filtering by status or duration
const SCAN_LIMIT = 20000;        // rows read for one page of such a filter before pausing
const STORE_KEY = 'recd.console';
export const SID = {
  AC: /^AC[0-9a-f]{32}$/, SK: /^SK[0-9a-f]{32}$/, RE: /^RE[0-9a-f]{32}$/,
  CA: /^CA[0-9a-f]{32}$/, CF: /^CF[0-9a-f]{32}$/,
};
// The console is served at ROOT/console/, so the API is at ROOT/2010-04-01/ and recd's own
// endpoints at ROOT/recd/: ROOT is "/" unless a proxy serves recd under a prefix.
export const ROOT = new URL('../', location.href);

export const $ = (id) => document.getElementById(id);

let creds = null; // {account, user, auth}: in memory, and in this tab's sessionStorage
/* The signed-in account's SID, or null (player.js reads it: an importer cannot see `creds` change). */
export const accountSid = () => (creds ? creds.account : null);

// --- Small helpers --------------------------------------------------------------------------

/* An element with attributes (text values only) and children (strings become text nodes). */
export function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else e.setAttribute(k, String(v));
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

export function text(v) {
  return v === null || v === undefined ? '' : String(v);
}

const pad = (n) => String(n).padStart(2, '0');

/* RFC 2822 (as the API writes dates) to local "YYYY-MM-DD HH:MM:SS"; other text as it is. */
export function fmtDate(v) {
  const d = new Date(text(v));
  if (!v || isNaN(d)) return text(v);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

export function fmtClock(t) {
  if (!isFinite(t) || t < 0) t = 0;
  t = Math.floor(t);
  const hh = Math.floor(t / 3600), mm = Math.floor(t / 60) % 60, ss = t % 60;
  return (hh ? hh + ':' + pad(mm) : mm) + ':' + pad(ss);
}

/* The API's duration (whole seconds as a string, "-1" while recording) for a person. */
export function fmtDur(v) {
  const n = Number(v);
  return v === null || v === undefined || v === '' || !isFinite(n) || n < 0 ? '—' : fmtClock(n);
}

/* Runs f once what was just changed has been painted (the marks bench/console.py reads). */
export function afterPaint(f) {
  requestAnimationFrame(() => setTimeout(f, 0));
}

export function notice(msg, isError) {
  const n = $('notice');
  n.textContent = msg || '';
  n.className = isError ? 'error' : '';
  n.hidden = !msg;
}

export function show(id, on) {
  $(id).hidden = !on;
}

// --- Talking to recd ------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const apiUrl = (path) => new URL(VERSION + '/Accounts/' + creds.account + path, ROOT).href;
export const ownUrl = (path) => new URL('recd/Accounts/' + creds.account + path, ROOT).href;

/* A list envelope's relative URI ("/2010-04-01/…"), resolved under ROOT; only the signed-in
 * account's paths are followed. */
function envelopeUrl(uri) {
  const want = '/' + VERSION + '/Accounts/' + creds.account + '/';
  if (typeof uri !== 'string' || !uri.startsWith(want)) return null;
  return new URL(uri.slice(1), ROOT).href;
}

/* A signed link as this page's own origin sees it: the signature covers the path from
 * /2010-04-01/ on, so the link works here even when recd's public base URL is another host. */
export function localLink(url) {
  const u = new URL(url, ROOT);
  const i = u.pathname.indexOf('/' + VERSION + '/');
  return i < 0 ? u.href : new URL(u.pathname.slice(i + 1) + u.search, ROOT).href;
}

/*
 * One request with the credentials. Never sends cookies or lets the browser's own HTTP auth
 * step in ('omit': a 401 then cannot open the browser's password prompt). A 401 after sign-in
 * means the credentials stopped working (revoked, changed): the console signs out.
 */
export async function request(method, url, opts) {
  opts = opts || {};
  const init = {method, headers: {Authorization: creds.auth}, credentials: 'omit',
    referrerPolicy: 'no-referrer'};
  if (opts.form) init.body = new URLSearchParams(opts.form);
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, 'Cannot reach recd: ' + e.message);
  }
  if (r.ok) return r;
  let msg = r.status + ' ' + r.statusText;
  try {
    const j = await r.json();
    if (j && typeof j.message === 'string') msg = j.message;
  } catch (e) { /* not a JSON error body: the status says it */ }
  if (r.status === 429) {
    const wait = r.headers.get('Retry-After');
    msg = 'Too many failed sign-ins from this address' + (wait ? '; try again in ' + wait + ' s' : '');
  }
  if (r.status === 401 && !opts.signingIn) {
    signOut('recd refused the credentials (changed or revoked?); sign in again.');
  }
  throw new ApiError(r.status, msg);
}

export async function getJson(url, opts) {
  return (await request('GET', url, opts)).json();
}

// --- Signing in and out ---------------------------------------------------------------------

function setCreds(account, user, secret) {
  creds = {account, user, auth: 'Basic ' + btoa(user + ':' + secret)};
}

/* Checks the credentials with the first page of recordings and shows it; whether it worked. */
async function signIn(account, key, secret, fromStore) {
  const err = $('signin-error');
  err.textContent = '';
  if (!SID.AC.test(account)) {
    err.textContent = 'The account SID is AC followed by 32 lower-case hex digits.';
    return false;
  }
  if (key && !SID.SK.test(key)) {
    err.textContent = 'An API key SID is SK followed by 32 lower-case hex digits.';
    return false;
  }
  if (!secret || !/^[\x21-\x7e]+$/.test(secret)) {
    err.textContent = 'Enter the auth token (or the API key\'s secret).';
    return false;
  }
  setCreds(account, key || account, secret);
  $('signin-go').disabled = true;
  try {
    // The first page of recordings is both the credentials' check and the first thing shown.
    await recStart({signingIn: true});
  } catch (e) {
    creds = null;
    if (fromStore) sessionStorage.removeItem(STORE_KEY);
    err.textContent = e.status === 401
      ? 'Sign-in failed: recd refused these credentials. Check the account SID, the key SID and ' +
        'the token or secret.'
      : 'Sign-in failed: ' + e.message;
    return false;
  } finally {
    $('signin-go').disabled = false;
  }
  sessionStorage.setItem(STORE_KEY, JSON.stringify({account, key, secret}));
  $('in-secret').value = '';
  $('who').textContent = key ? account + ' (key ' + key + ')' : account;
  show('signin', false);
  show('top', true);
  tab('recordings');
  afterPaint(() => {
    performance.mark('recd:list-rendered');
    // The player's code, fetched and compiled while the user reads the list.
    (window.requestIdleCallback || setTimeout)(() => loadPlayer().catch(() => {}));
  });
  return true;
}

function signOut(why) {
  creds = null;
  sessionStorage.removeItem(STORE_KEY);
  if (P) P.signedOut();
  for (const id of ['rec-rows', 'call-rows', 'cd-rows', 'cd-fields']) $(id).replaceChildren();
  for (const id of ['top', 'recordings', 'calls', 'call-detail', 'rec-empty', 'call-empty']) show(id, false);
  rec.items = [];
  calls.loaded = false;
  show('signin', true);
  $('signin-error').textContent = why || '';
  notice('');
}

function tab(name) {
  show('recordings', name === 'recordings');
  show('calls', name === 'calls');
  $('tab-recordings').setAttribute('aria-pressed', String(name === 'recordings'));
  $('tab-calls').setAttribute('aria-pressed', String(name === 'calls'));
  if (name === 'calls' && !calls.loaded) callsStart().catch(showError);
}

export function showError(e) {
  if (creds) notice(e.message, true);
}

// --- Recordings list ------------------------------------------------------------------------

/*
 * Twilio's filters (dates, CallSid, ConferenceSid) are the API's, and pages follow its
 * next_page_uri and previous_page_uri. Status and duration are not filters the API has, so
 * when one is set the console reads the API's pages in order and keeps the rows that match
 * until it has a page of 50: a cursor is then (URL, rows of it already used), and going back
 * retraces the cursors it came by.
 */
export const rec = {items: [], page: 0, cursor: null, next: null, prev: null, history: [], seq: 0,
  local: null, scanned: 0};

function recFilters() {
  const q = new URLSearchParams();
  const from = $('f-from').value, to = $('f-to').value;
  const call = $('f-call').value.trim(), conf = $('f-conf').value.trim();
  if (call && !SID.CA.test(call)) throw new ApiError(0, 'A Call SID is CA followed by 32 hex digits.');
  if (conf && !SID.CF.test(conf)) throw new ApiError(0, 'A Conference SID is CF followed by 32 hex digits.');
  if (from) q.set('DateCreated>', from);
  if (to) q.set('DateCreated<', to);
  if (call) q.set('CallSid', call);
  if (conf) q.set('ConferenceSid', conf);
  const status = $('f-status').value;
  const dmin = $('f-dmin').value === '' ? null : Number($('f-dmin').value);
  const dmax = $('f-dmax').value === '' ? null : Number($('f-dmax').value);
  if (status === 'deleted') q.set('IncludeSoftDeleted', 'true');
  const local = status || dmin !== null || dmax !== null ? {status, dmin, dmax} : null;
  q.set('PageSize', String(local ? SCAN_PAGE : PAGE));
  return {url: apiUrl('/Recordings.json?' + q.toString()), local};
}

function recMatches(r, f) {
  if (f.status && r.status !== f.status) return false;
  const d = Number(r.duration);
  if (f.dmin !== null && !(d >= f.dmin)) return false;
  if (f.dmax !== null && !(d >= 0 && d <= f.dmax)) return false;
  return true;
}

/* Rows from `cursor` on that match the local filter, up to a page (see rec above). */
async function recScan(cursor, f, opts) {
  const items = [];
  let url = cursor.url, skip = cursor.skip, scanned = 0;
  for (;;) {
    const body = await getJson(url, opts);
    const rows = Array.isArray(body.recordings) ? body.recordings : [];
    let i = skip;
    for (; i < rows.length && items.length < PAGE; i++) if (recMatches(rows[i], f)) items.push(rows[i]);
    scanned += i - skip;
    const after = body.next_page_uri ? envelopeUrl(body.next_page_uri) : null;
    if (items.length >= PAGE) return {items, scanned, next: i < rows.length ? {url, skip: i} : after && {url: after, skip: 0}};
    if (!after) return {items, scanned, next: null};
    if (scanned >= SCAN_LIMIT) return {items, scanned, next: {url: after, skip: 0}, paused: true};
    url = after;
    skip = 0;
  }
}

/* Loads the page at `cursor`; dir is 0 for a first page, 1 older, -1 newer. */
export async function recLoad(cursor, dir, opts) {
  const seq = ++rec.seq;
  let res;
  if (rec.local) {
    res = await recScan(cursor, rec.local, opts);
    res.prev = dir === 1 ? rec.cursor : dir === -1 ? rec.history[rec.history.length - 2] || null : null;
  } else {
    if (opts && opts.signingIn) performance.mark('recd:api-sent');
    const body = await getJson(cursor.url, opts);
    if (opts && opts.signingIn) performance.mark('recd:api-answered');
    const nx = body.next_page_uri && envelopeUrl(body.next_page_uri);
    const pv = body.previous_page_uri && envelopeUrl(body.previous_page_uri);
    res = {items: Array.isArray(body.recordings) ? body.recordings : [], next: nx ? {url: nx, skip: 0} : null,
      prev: pv ? {url: pv, skip: 0} : null};
  }
  if (seq !== rec.seq) return false; // a later click superseded this one
  if (dir === 1) {
    rec.history.push(rec.cursor);
    rec.page++;
  } else if (dir === -1) {
    rec.history.pop();
    rec.page--;
  } else {
    rec.history = [];
    rec.page = 0;
  }
  Object.assign(rec, {cursor, items: res.items, next: res.next, prev: res.prev});
  recRender(res);
  if (opts && opts.signingIn) performance.mark('recd:rows-drawn');
  return true;
}

async function recStart(opts) {
  const f = recFilters();
  rec.local = f.local;
  await recLoad({url: f.url, skip: 0}, 0, opts);
}

export function recRow(r, list, index) {
  const tr = h('tr', {tabindex: 0, 'data-sid': text(r.sid)},
    h('td', {}, fmtDate(r.date_created)), h('td', {class: 'num'}, fmtDur(r.duration)),
    h('td', {class: 'num'}, text(r.channels)), h('td', {class: 'mono'}, text(r.call_sid) || '—'),
    h('td', {}, text(r.source)), h('td', {class: 'status'}, text(r.status)));
  if (currentSid() === r.sid) tr.classList.add('current');
  tr.addEventListener('click', () => openRecording(list, index));
  return tr;
}

function recRender(res) {
  const from = rec.items.map((r, i) => recRow(r, 'rec', i));
  $('rec-rows').replaceChildren(...from);
  const empty = $('rec-empty');
  empty.hidden = rec.items.length > 0 && !res.paused;
  empty.textContent = res.paused
    ? 'Read ' + res.scanned + ' recordings for this filter; “Older” reads on.'
    : 'No recordings' + (rec.page ? ' on this page.' : ' match.');
  $('rec-prev').disabled = !rec.prev;
  $('rec-next').disabled = !rec.next;
  $('rec-page').textContent = 'Page ' + (rec.page + 1);
  $('rec-rows').dataset.page = String(rec.page);
}

// --- Calls ----------------------------------------------------------------------------------

export const calls = {items: [], page: 0, next: null, prev: null, seq: 0, loaded: false, recs: []};

async function callsLoad(url, dir) {
  const seq = ++calls.seq;
  const body = await getJson(url);
  if (seq !== calls.seq) return;
  calls.loaded = true;
  calls.items = Array.isArray(body.calls) ? body.calls : [];
  calls.next = body.next_page_uri && envelopeUrl(body.next_page_uri);
  calls.prev = body.previous_page_uri && envelopeUrl(body.previous_page_uri);
  calls.page = dir ? calls.page + dir : 0;
  $('call-rows').replaceChildren(...calls.items.map((c) => {
    const tr = h('tr', {tabindex: 0, 'data-sid': text(c.sid)},
      h('td', {}, fmtDate(c.start_time || c.date_created)), h('td', {}, text(c.from)), h('td', {}, text(c.to)),
      h('td', {class: 'status'}, text(c.status)), h('td', {class: 'num'}, fmtDur(c.duration)),
      h('td', {class: 'mono'}, text(c.sid)));
    tr.addEventListener('click', () => callOpen(c).catch(showError));
    return tr;
  }));
  show('call-empty', calls.items.length === 0);
  $('call-empty').textContent = 'No calls' + (calls.page ? ' on this page.' : ' match.');
  $('call-prev').disabled = !calls.prev;
  $('call-next').disabled = !calls.next;
  $('call-page').textContent = 'Page ' + (calls.page + 1);
}

async function callsStart() {
  const q = new URLSearchParams({PageSize: String(PAGE)});
  for (const [id, key] of [['c-from', 'From'], ['c-to', 'To'], ['c-status', 'Status']]) {
    const v = $(id).value.trim();
    if (v) q.set(key, v);
  }
  await callsLoad(apiUrl('/Calls.json?' + q.toString()), 0);
}

async function callOpen(c) {
  if (!SID.CA.test(text(c.sid))) return;
  const body = await getJson(apiUrl('/Calls/' + c.sid + '/Recordings.json?PageSize=' + PAGE));
  calls.recs = Array.isArray(body.recordings) ? body.recordings : [];
  $('cd-sid').textContent = c.sid;
  const fields = [['From', c.from], ['To', c.to], ['Status', c.status], ['Direction', c.direction],
    ['Started', fmtDate(c.start_time)], ['Ended', fmtDate(c.end_time)], ['Duration', fmtDur(c.duration)]];
  $('cd-fields').replaceChildren(...fields.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, text(v) || '—')]));
  $('cd-rows').replaceChildren(...calls.recs.map((r, i) => recRow(r, 'call', i)));
  show('cd-empty', calls.recs.length === 0);
  if (body.next_page_uri) {
    $('cd-empty').textContent = 'Only the newest ' + PAGE + ' are shown: filter the recordings by this Call SID for all.';
    show('cd-empty', true);
  }
  show('call-detail', true);
  $('call-detail').scrollIntoView({block: 'nearest'});
}

// --- The player, loaded on demand -------------------------------------------------------------

let playerModule = null; // the import's promise
let P = null;            // player.js once it has loaded

/* player.js, imported once. Its own top level wires the player's buttons, waveform and audio. */
export function loadPlayer() {
  if (!playerModule) {
    playerModule = import('./player.js').then((m) => (P = m));
    playerModule.catch(() => { playerModule = null; }); // a later click tries again
  }
  return playerModule;
}

/* The SID of the recording open in the player, or null. */
const currentSid = () => (P ? P.currentSid() : null);

function openRecording(list, index) {
  performance.mark('recd:open');
  loadPlayer().then((m) => m.openRecording(list, index)).catch(showError);
}

function step(dir) {
  return loadPlayer().then((m) => m.step(dir));
}

// --- Keyboard -------------------------------------------------------------------------------

function onKey(e) {
  if (!creds || e.ctrlKey || e.metaKey || e.altKey || $('confirm').open) return;
  const tag = e.target && e.target.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') return;
  // A focused button or link keeps its own space and enter.
  if ((tag === 'BUTTON' || tag === 'A') && (e.key === ' ' || e.key === 'Enter')) return;
  // The player's own keys do something only once it has loaded (a recording was opened).
  const keys = {
    ' ': () => P.togglePlay(),
    ArrowLeft: () => P.skip(-5),
    ArrowRight: () => P.skip(5),
    '[': () => P.stepSpeed(-1),
    ']': () => P.stepSpeed(1),
    j: () => step(1).catch(showError),
    k: () => step(-1).catch(showError),
    Enter: () => e.target.click(), // a focused row opens
  };
  const f = keys[e.key];
  if (!f || (e.key === 'Enter' && tag !== 'TR')) return;
  if ((e.key.startsWith('Arrow') || e.key === ' ') && !currentSid()) return;
  if ((e.key === '[' || e.key === ']') && !P) return;
  e.preventDefault();
  f();
}

// --- Start ----------------------------------------------------------------------------------

function onSubmit(id, f) {
  $(id).addEventListener('submit', (e) => {
    e.preventDefault();
    f();
  });
}

function wire() {
  onSubmit('signin-form', () => signIn($('in-account').value.trim(), $('in-key').value.trim(), $('in-secret').value));
  $('signout').addEventListener('click', () => signOut(''));
  $('tab-recordings').addEventListener('click', () => tab('recordings'));
  $('tab-calls').addEventListener('click', () => tab('calls'));
  onSubmit('filters', () => {
    notice('');
    recStart().catch(showError);
  });
  $('f-clear').addEventListener('click', () => {
    for (const id of ['f-from', 'f-to', 'f-call', 'f-conf', 'f-status', 'f-dmin', 'f-dmax']) $(id).value = '';
    recStart().catch(showError);
  });
  $('rec-next').addEventListener('click', () => rec.next && recLoad(rec.next, 1).catch(showError));
  $('rec-prev').addEventListener('click', () => rec.prev && recLoad(rec.prev, -1).catch(showError));
  onSubmit('call-filters', () => callsStart().catch(showError));
  $('call-next').addEventListener('click', () => calls.next && callsLoad(calls.next, 1).catch(showError));
  $('call-prev').addEventListener('click', () => calls.prev && callsLoad(calls.prev, -1).catch(showError));
  document.addEventListener('keydown', onKey);
}

/*
 * Signed in earlier in this tab (a reload): the credentials are in sessionStorage (never a cookie
 * or URL). The first list request goes out before anything else is done, the wiring included;
 * the sign-in form stays hidden meanwhile (index.html), so the first frame draws nothing that
 * the list then replaces. Returns whether it is signing in.
 */
function resume() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
  } catch (e) { /* not ours: forgotten below */ }
  if (!saved || typeof saved.account !== 'string' || typeof saved.secret !== 'string') {
    sessionStorage.removeItem(STORE_KEY);
    return false;
  }
  $('in-account').value = saved.account;
  $('in-key').value = typeof saved.key === 'string' ? saved.key : '';
  signIn(saved.account, $('in-key').value, saved.secret, true).then((ok) => ok || show('signin', true));
  return true;
}

if (!resume()) show('signin', true);
wire();
