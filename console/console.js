/*
 * recd's console (docs/console.md): sign in, list and filter recordings and calls, look at a
 * recording's waveform, listen, read its transcription, download it, delete it.
 *
 * Everything shown comes from recd's public API (/2010-04-01/…) and its own endpoints
 * (/recd/…, contract §10), fetched with the signed-in credentials as Basic auth. Every value from
 * outside is put on the page as text (textContent, or a string given to append()), never as
 * markup; the page's Content-Security-Policy also forbids inline script and every HTML sink
 * (Trusted Types 'none'), so a mistake here would throw rather than run someone's markup.
 */
'use strict';

(function () {
  performance.mark('recd:script-start');
  const VERSION = '2010-04-01';
  const PAGE = 50;                 // rows a page, as asked
  const SCAN_PAGE = 1000;          // rows fetched at a time when filtering by status or duration
  const SCAN_LIMIT = 20000;        // rows read for one page of such a filter before pausing
  const LINK_TTL = 3600;           // seconds a signed media link lives
  const PEAK_POINTS = 2000;        // waveform points to ask for, whatever the length
  const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];
  const LANE_COLOURS = ['#1d4ed8', '#c2410c'];
  const MUTED_COLOUR = '#b8bec8';
  const STORE_KEY = 'recd.console';
  const SID = {
    AC: /^AC[0-9a-f]{32}$/, SK: /^SK[0-9a-f]{32}$/, RE: /^RE[0-9a-f]{32}$/,
    CA: /^CA[0-9a-f]{32}$/, CF: /^CF[0-9a-f]{32}$/,
  };
  // The console is served at ROOT/console/, so the API is at ROOT/2010-04-01/ and recd's own
  // endpoints at ROOT/recd/: ROOT is "/" unless a proxy serves recd under a prefix.
  const ROOT = new URL('../', location.href);

  const $ = (id) => document.getElementById(id);
  const audio = $('audio');

  let creds = null; // {account, user, auth}: in memory, and in this tab's sessionStorage

  // --- Small helpers --------------------------------------------------------------------------

  /* An element with attributes (text values only) and children (strings become text nodes). */
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }

  function text(v) {
    return v === null || v === undefined ? '' : String(v);
  }

  const pad = (n) => String(n).padStart(2, '0');

  /* RFC 2822 (as the API writes dates) to local "YYYY-MM-DD HH:MM:SS"; other text as it is. */
  function fmtDate(v) {
    const d = new Date(text(v));
    if (!v || isNaN(d)) return text(v);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function fmtClock(t) {
    if (!isFinite(t) || t < 0) t = 0;
    t = Math.floor(t);
    const hh = Math.floor(t / 3600), mm = Math.floor(t / 60) % 60, ss = t % 60;
    return (hh ? hh + ':' + pad(mm) : mm) + ':' + pad(ss);
  }

  /* The API's duration (whole seconds as a string, "-1" while recording) for a person. */
  function fmtDur(v) {
    const n = Number(v);
    return v === null || v === undefined || v === '' || !isFinite(n) || n < 0 ? '—' : fmtClock(n);
  }

  /* Runs f once what was just changed has been painted (the marks bench/console.py reads). */
  function afterPaint(f) {
    requestAnimationFrame(() => setTimeout(f, 0));
  }

  function notice(msg, isError) {
    const n = $('notice');
    n.textContent = msg || '';
    n.className = isError ? 'error' : '';
    n.hidden = !msg;
  }

  function show(id, on) {
    $(id).hidden = !on;
  }

  // --- Talking to recd ------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  const apiUrl = (path) => new URL(VERSION + '/Accounts/' + creds.account + path, ROOT).href;
  const ownUrl = (path) => new URL('recd/Accounts/' + creds.account + path, ROOT).href;

  /* A list envelope's relative URI ("/2010-04-01/…"), resolved under ROOT; only the signed-in
   * account's paths are followed. */
  function envelopeUrl(uri) {
    const want = '/' + VERSION + '/Accounts/' + creds.account + '/';
    if (typeof uri !== 'string' || !uri.startsWith(want)) return null;
    return new URL(uri.slice(1), ROOT).href;
  }

  /* A signed link as this page's own origin sees it: the signature covers the path from
   * /2010-04-01/ on, so the link works here even when recd's public base URL is another host. */
  function localLink(url) {
    const u = new URL(url, ROOT);
    const i = u.pathname.indexOf('/' + VERSION + '/');
    return i < 0 ? u.href : new URL(u.pathname.slice(i + 1) + u.search, ROOT).href;
  }

  /*
   * One request with the credentials. Never sends cookies or lets the browser's own HTTP auth
   * step in ('omit': a 401 then cannot open the browser's password prompt). A 401 after sign-in
   * means the credentials stopped working (revoked, changed): the console signs out.
   */
  async function request(method, url, opts) {
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

  async function getJson(url, opts) {
    return (await request('GET', url, opts)).json();
  }

  // --- Signing in and out ---------------------------------------------------------------------

  function setCreds(account, user, secret) {
    creds = {account, user, auth: 'Basic ' + btoa(user + ':' + secret)};
  }

  async function signIn(account, key, secret, fromStore) {
    const err = $('signin-error');
    err.textContent = '';
    if (!SID.AC.test(account)) {
      err.textContent = 'The account SID is AC followed by 32 lower-case hex digits.';
      return;
    }
    if (key && !SID.SK.test(key)) {
      err.textContent = 'An API key SID is SK followed by 32 lower-case hex digits.';
      return;
    }
    if (!secret || !/^[\x21-\x7e]+$/.test(secret)) {
      err.textContent = 'Enter the auth token (or the API key\'s secret).';
      return;
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
      return;
    } finally {
      $('signin-go').disabled = false;
    }
    sessionStorage.setItem(STORE_KEY, JSON.stringify({account, key, secret}));
    $('in-secret').value = '';
    $('who').textContent = key ? account + ' (key ' + key + ')' : account;
    show('signin', false);
    show('top', true);
    tab('recordings');
    afterPaint(() => performance.mark('recd:list-rendered'));
  }

  function signOut(why) {
    creds = null;
    sessionStorage.removeItem(STORE_KEY);
    closePlayer();
    mediaAuth.clear();
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

  function showError(e) {
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
  const rec = {items: [], page: 0, cursor: null, next: null, prev: null, history: [], seq: 0,
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
  async function recLoad(cursor, dir, opts) {
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

  function recRow(r, list, index) {
    const tr = h('tr', {tabindex: 0, 'data-sid': text(r.sid)},
      h('td', {}, fmtDate(r.date_created)), h('td', {class: 'num'}, fmtDur(r.duration)),
      h('td', {class: 'num'}, text(r.channels)), h('td', {class: 'mono'}, text(r.call_sid) || '—'),
      h('td', {}, text(r.source)), h('td', {class: 'status'}, text(r.status)));
    if (player.rec && player.rec.sid === r.sid) tr.classList.add('current');
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

  const calls = {items: [], page: 0, next: null, prev: null, seq: 0, loaded: false, recs: []};

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

  // --- The player -----------------------------------------------------------------------------

  const player = {rec: null, list: null, index: -1, peaks: null, muted: [false, false], graph: undefined,
    seq: 0, linkFor: null, retried: false, raf: 0, drag: null};
  const mediaAuth = new Map(); // account → does it need auth on media (learnt once per session)

  /* Whether the account's media needs auth: a request without credentials for the recording's
   * metadata answers 401 then (and 200 when it is public). */
  async function needsMediaAuth(sid) {
    if (mediaAuth.has(creds.account)) return mediaAuth.get(creds.account);
    const r = await fetch(apiUrl('/Recordings/' + sid + '.json'), {method: 'HEAD', credentials: 'omit',
      referrerPolicy: 'no-referrer'});
    if (r.status === 401 || r.status === 200) mediaAuth.set(creds.account, r.status === 401);
    return r.status === 401;
  }

  /* A URL the <audio> element (or a download) can fetch without credentials: the public media
   * URL, or a signed link from recd when the account requires auth on media. */
  async function mediaUrl(sid, format, mono) {
    const plain = apiUrl('/Recordings/' + sid + '.' + format) + (mono ? '?RequestedChannels=1' : '');
    if (!(await needsMediaAuth(sid))) return plain;
    const form = {Format: format, Ttl: String(LINK_TTL)};
    if (mono) form.RequestedChannels = '1';
    const j = await (await request('POST', ownUrl('/Recordings/' + sid + '/Links'), {form})).json();
    if (typeof j.url !== 'string') throw new ApiError(0, 'recd gave no link');
    return localLink(j.url);
  }

  function listOf(name) {
    return name === 'call' ? calls.recs : rec.items;
  }

  function markCurrent() {
    for (const id of ['rec-rows', 'cd-rows']) {
      for (const tr of $(id).children) tr.classList.toggle('current', !!player.rec && tr.dataset.sid === player.rec.sid);
    }
  }

  async function openRecording(list, index) {
    const r = listOf(list)[index];
    if (!r || !SID.RE.test(text(r.sid))) return;
    const seq = ++player.seq;
    performance.mark('recd:open');
    Object.assign(player, {rec: r, list, index, peaks: null, muted: [false, false], retried: false});
    audio.pause();
    audio.removeAttribute('src');
    audio.load();
    audio.muted = false;
    setGains();
    show('player', true);
    $('p-sid').textContent = r.sid;
    $('p-meta').textContent = [fmtDate(r.date_created), fmtDur(r.duration), text(r.channels) + ' ch',
      text(r.source), text(r.status)].join(' · ');
    $('p-error').textContent = '';
    $('p-text').replaceChildren();
    show('p-transcript', false);
    $('p-downloads').replaceChildren();
    $('wave-canvas').dataset.drawn = '';
    markCurrent();
    renderLanes();
    drawWave();
    updateHead();
    const hasMedia = r.status === 'completed';
    $('p-play').disabled = !hasMedia;
    $('wave-msg').textContent = hasMedia ? 'Loading the waveform…' : 'No audio: the recording is ' + text(r.status) + '.';
    $('p-delete').disabled = r.status === 'deleted' || r.status === 'in-progress';
    loadTranscription(r, seq).catch(() => {});
    if (!hasMedia) return;
    buildDownloads(r);
    loadPeaks(r, seq).catch((e) => {
      if (seq === player.seq) $('wave-msg').textContent = 'No waveform: ' + e.message;
    });
    try {
      const url = await mediaUrl(r.sid, 'wav', false);
      if (seq !== player.seq) return;
      player.linkFor = r.sid;
      audio.src = url;
    } catch (e) {
      if (seq === player.seq) $('p-error').textContent = 'Cannot play: ' + e.message;
    }
  }

  function closePlayer() {
    player.seq++;
    player.rec = null;
    audio.pause();
    audio.removeAttribute('src');
    audio.load();
    show('player', false);
    markCurrent();
  }

  /* Moves to the next (1) or previous (-1) recording of the list the current one came from,
   * crossing to the next or previous page of the recordings list at its ends. */
  async function step(dir) {
    const list = player.rec ? player.list : 'rec';
    const items = listOf(list);
    const i = player.rec ? player.index + dir : dir > 0 ? 0 : items.length - 1;
    if (i >= 0 && i < items.length) return openRecording(list, i);
    if (list !== 'rec') return;
    const to = dir > 0 ? rec.next : rec.prev;
    if (to && (await recLoad(to, dir))) openRecording('rec', dir > 0 ? 0 : rec.items.length - 1);
  }

  async function loadTranscription(r, seq) {
    const body = await getJson(apiUrl('/Recordings/' + r.sid + '/Transcriptions.json'));
    if (seq !== player.seq) return;
    const ts = (Array.isArray(body.transcriptions) ? body.transcriptions : []).filter((t) => t.status !== 'deleted');
    if (!ts.length) return;
    $('p-text').replaceChildren(...ts.map((t) => h('p', {class: 'transcript', 'data-sid': text(t.sid)},
      t.transcription_text !== null && t.transcription_text !== undefined ? text(t.transcription_text)
        : '(' + text(t.status) + ')')));
    show('p-transcript', true);
  }

  function buildDownloads(r) {
    const stereo = Number(r.channels) >= 2;
    const kinds = [['wav', false], ['mp3', false]];
    if (stereo) kinds.push(['wav', true], ['mp3', true]);
    const links = kinds.map(([fmt, mono]) => {
      const label = fmt.toUpperCase() + (stereo ? (mono ? ' mono' : ' as recorded') : '');
      const name = r.sid + (mono ? '.mono.' : '.') + fmt;
      const a = h('a', {href: apiUrl('/Recordings/' + r.sid + '.' + fmt) + (mono ? '?RequestedChannels=1' : ''),
        download: name, class: 'download', 'data-format': fmt, 'data-mono': mono ? '1' : '0'}, label);
      // The link is resolved on click: public URL or a fresh signed link (media auth).
      a.addEventListener('click', async (e) => {
        if (a.dataset.ready === '1') {
          a.dataset.ready = '';
          return;
        }
        e.preventDefault();
        try {
          a.href = await mediaUrl(r.sid, fmt, mono);
          a.dataset.ready = '1';
          a.click();
        } catch (err) {
          $('p-error').textContent = 'Cannot download: ' + err.message;
        }
      });
      return a;
    });
    $('p-downloads').replaceChildren('Download: ', ...links);
  }

  // --- Waveform -------------------------------------------------------------------------------

  /* BBC audiowaveform's binary format: version 1 or 2 (2 adds the channel count), flags bit 0
   * for 8-bit values, then per point and per channel a min and a max. */
  function parseDat(buf) {
    if (buf.byteLength < 20) throw new Error('peaks too short');
    const v = new DataView(buf);
    const version = v.getInt32(0, true), flags = v.getUint32(4, true);
    const p = {rate: v.getInt32(8, true), spp: v.getInt32(12, true), length: v.getUint32(16, true), channels: 1};
    let off = 20;
    if (version === 2) {
      if (buf.byteLength < 24) throw new Error('peaks too short');
      p.channels = v.getInt32(20, true);
      off = 24;
    } else if (version !== 1) {
      throw new Error('unknown peaks version ' + version);
    }
    if (p.channels < 1 || p.channels > 24 || p.rate <= 0 || p.spp <= 0) throw new Error('bad peaks header');
    p.bits = flags & 1 ? 8 : 16;
    const n = p.length * p.channels * 2, size = p.bits / 8;
    if (buf.byteLength < off + n * size) throw new Error('peaks shorter than their header says');
    if (p.bits === 8) {
      p.data = new Int8Array(buf, off, n);
    } else {
      p.data = new Int16Array(n);
      for (let i = 0; i < n; i++) p.data[i] = v.getInt16(off + 2 * i, true);
    }
    p.seconds = p.length * p.spp / p.rate;
    return p;
  }

  /* Samples per pixel for about PEAK_POINTS points across the recording (a power of two within
   * recd's 32…65536, so that a recording's peaks are made once at one resolution), from its
   * duration at telephony's 8 kHz (other rates give more points, which is harmless). */
  function samplesPerPixel(r) {
    const frames = Math.max(0, Number(r.duration) || 0) * 8000;
    let spp = 32;
    while (spp < 65536 && frames / spp > PEAK_POINTS) spp *= 2;
    return spp;
  }

  async function loadPeaks(r, seq) {
    const res = await request('GET', ownUrl('/Recordings/' + r.sid + '/Peaks.dat?SamplesPerPixel=' + samplesPerPixel(r)));
    const p = parseDat(await res.arrayBuffer());
    if (seq !== player.seq) return;
    player.peaks = p;
    $('wave-msg').textContent = '';
    renderLanes();
    drawWave();
    updateHead();
    afterPaint(() => {
      performance.mark('recd:wave-drawn');
      performance.measure('recd:wave', 'recd:open', 'recd:wave-drawn');
      $('wave-canvas').dataset.drawn = r.sid;
    });
  }

  /*
   * Draws each channel in its lane: for every pixel column, a bar from the lowest to the highest
   * value of the points under it (points are combined, or stretched over several columns, to fit
   * the width). Silence (both zero) draws nothing; a muted lane is grey.
   */
  function drawWave() {
    const c = $('wave-canvas'), p = player.peaks;
    const lanes = p ? Math.min(p.channels, 2) : 1, laneH = lanes > 1 ? 64 : 96;
    const dpr = window.devicePixelRatio || 1;
    c.style.height = lanes * laneH + 'px';
    c.width = Math.max(1, Math.round($('wave').clientWidth * dpr));
    c.height = Math.round(lanes * laneH * dpr);
    const g = c.getContext('2d');
    g.clearRect(0, 0, c.width, c.height);
    if (!p || !p.length) return;
    const W = c.width, full = p.bits === 8 ? 128 : 32768, d = p.data, stride = p.channels * 2;
    for (let ch = 0; ch < lanes; ch++) {
      const half = (laneH / 2 - 2) * dpr, mid = (ch + 0.5) * laneH * dpr;
      g.fillStyle = player.muted[ch] ? MUTED_COLOUR : LANE_COLOURS[ch];
      for (let x = 0; x < W; x++) {
        const a = Math.floor(x * p.length / W);
        const b = Math.max(a + 1, Math.floor((x + 1) * p.length / W));
        let lo = 0, hi = 0;
        for (let i = a; i < b; i++) {
          const k = i * stride + ch * 2;
          if (d[k] < lo) lo = d[k];
          if (d[k + 1] > hi) hi = d[k + 1];
        }
        if (lo === 0 && hi === 0) continue;
        const y0 = mid - hi / full * half, y1 = mid - lo / full * half;
        g.fillRect(x, y0, 1, Math.max(1, y1 - y0));
      }
    }
  }

  function renderLanes() {
    const p = player.peaks, n = p ? Math.min(p.channels, 2) : 0;
    $('lanes').replaceChildren(...Array.from({length: n}, (_, ch) => {
      const b = h('button', {type: 'button', class: 'lane lane' + ch, 'aria-pressed': String(player.muted[ch]),
        'data-lane': ch}, n > 1 ? 'Channel ' + (ch + 1) + (ch ? ' (second party)' : ' (first party)') : 'Sound');
      b.addEventListener('click', () => toggleLane(ch));
      return b;
    }));
  }

  /*
   * Muting one party of a two-channel recording needs the channels apart: the first mute routes
   * the <audio> element through Web Audio (split, one gain per channel, both mixed to both ears).
   * Until then, and for one channel, the element plays on its own.
   */
  function toggleLane(ch) {
    player.muted[ch] = !player.muted[ch];
    const stereo = player.peaks && player.peaks.channels >= 2;
    if (!stereo) {
      audio.muted = player.muted[0];
    } else {
      if (player.graph === undefined) {
        try {
          const ctx = new AudioContext();
          const src = ctx.createMediaElementSource(audio), split = ctx.createChannelSplitter(2);
          const merge = ctx.createChannelMerger(2), gains = [ctx.createGain(), ctx.createGain()];
          src.connect(split);
          gains.forEach((g, i) => {
            split.connect(g, i);
            g.connect(merge, 0, 0);
            g.connect(merge, 0, 1);
          });
          merge.connect(ctx.destination);
          player.graph = {ctx, gains};
        } catch (e) {
          player.graph = null;
          $('p-error').textContent = 'This browser cannot mute one channel: ' + e.message;
        }
      }
      if (player.graph) player.graph.ctx.resume();
      setGains();
    }
    renderLanes();
    drawWave();
  }

  function setGains() {
    if (player.graph) player.graph.gains.forEach((g, i) => { g.gain.value = player.muted[i] ? 0 : 1; });
  }

  // --- Playing and seeking --------------------------------------------------------------------

  function duration() {
    if (isFinite(audio.duration) && audio.duration > 0) return audio.duration;
    if (player.peaks) return player.peaks.seconds;
    const d = player.rec ? Number(player.rec.duration) : 0;
    return d > 0 ? d : 0;
  }

  function updateHead(t) {
    const d = duration();
    if (t === undefined) t = audio.currentTime;
    const f = d > 0 ? Math.min(1, Math.max(0, t / d)) : 0;
    $('wave-head').style.left = f * 100 + '%';
    $('wave-played').style.width = f * 100 + '%';
    $('p-time').textContent = fmtClock(t) + ' / ' + fmtClock(d);
    $('p-play').textContent = audio.paused ? 'Play' : 'Pause';
  }

  function tick() {
    updateHead();
    player.raf = audio.paused ? 0 : requestAnimationFrame(tick);
  }

  function togglePlay() {
    if (!player.rec || $('p-play').disabled) return;
    if (audio.paused) {
      audio.play().catch((e) => {
        if (e.name !== 'AbortError') $('p-error').textContent = 'Cannot play: ' + e.message;
      });
    } else {
      audio.pause();
    }
  }

  function seek(t) {
    const d = duration();
    if (!player.rec || !(d > 0)) return;
    t = Math.min(Math.max(0, t), d);
    audio.currentTime = t;
    updateHead(t);
  }

  function setSpeed(v) {
    audio.preservesPitch = true;
    audio.defaultPlaybackRate = v;
    audio.playbackRate = v;
    $('p-speed').value = String(v);
  }

  function stepSpeed(dir) {
    const i = SPEEDS.indexOf(audio.playbackRate);
    const j = Math.min(SPEEDS.length - 1, Math.max(0, (i < 0 ? 2 : i) + dir));
    setSpeed(SPEEDS[j]);
  }

  function waveFraction(e) {
    const box = $('wave').getBoundingClientRect();
    return Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
  }

  /* A press on the waveform seeks; dragging moves the playhead and seeks where it is let go. */
  function wireWave() {
    const w = $('wave');
    w.addEventListener('pointerdown', (e) => {
      if (!player.rec || e.button !== 0) return;
      w.setPointerCapture(e.pointerId);
      player.drag = waveFraction(e);
      updateHead(player.drag * duration());
    });
    w.addEventListener('pointermove', (e) => {
      if (player.drag === null) return;
      player.drag = waveFraction(e);
      updateHead(player.drag * duration());
    });
    const end = (e) => {
      if (player.drag === null) return;
      const f = e.type === 'pointerup' ? waveFraction(e) : player.drag;
      player.drag = null;
      seek(f * duration());
    };
    w.addEventListener('pointerup', end);
    w.addEventListener('pointercancel', end);
  }

  function wireAudio() {
    for (const ev of ['play', 'pause', 'seeked', 'timeupdate', 'loadedmetadata', 'ended']) {
      audio.addEventListener(ev, () => {
        if (player.drag === null) updateHead();
        if (ev === 'play' && !player.raf) player.raf = requestAnimationFrame(tick);
      });
    }
    audio.addEventListener('loadedmetadata', () => { player.retried = false; });
    // A signed link can expire while the page sits open: fetch a new one once, keep the place.
    audio.addEventListener('error', async () => {
      const r = player.rec;
      if (!r || !audio.getAttribute('src')) return;
      if (!player.retried && mediaAuth.get(creds && creds.account)) {
        player.retried = true;
        const t = audio.currentTime, seq = player.seq;
        try {
          const url = await mediaUrl(r.sid, 'wav', false);
          if (seq !== player.seq) return;
          audio.src = url;
          audio.currentTime = t;
          return;
        } catch (e) { /* reported below */ }
      }
      $('p-error').textContent = 'The audio could not be played' + (audio.error ? ' (' + audio.error.message + ')' : '') + '.';
    });
  }

  // --- Deleting -------------------------------------------------------------------------------

  function confirmDialog(msg) {
    const d = $('confirm');
    $('confirm-text').textContent = msg;
    return new Promise((resolve) => {
      const done = (v) => {
        $('confirm-ok').onclick = $('confirm-cancel').onclick = d.oncancel = null;
        if (d.open) d.close();
        resolve(v);
      };
      $('confirm-ok').onclick = () => done(true);
      $('confirm-cancel').onclick = () => done(false);
      d.oncancel = () => done(false);
      d.showModal();
      $('confirm-cancel').focus();
    });
  }

  async function deleteCurrent() {
    const r = player.rec;
    if (!r) return;
    const ok = await confirmDialog('Delete recording ' + r.sid + ' (' + fmtDate(r.date_created) + ', ' +
      fmtDur(r.duration) + ')? Its audio and transcriptions are removed; this cannot be undone.');
    if (!ok || player.rec !== r) return;
    try {
      await request('DELETE', apiUrl('/Recordings/' + r.sid + '.json'));
    } catch (e) {
      $('p-error').textContent = 'Not deleted: ' + e.message;
      return;
    }
    closePlayer();
    notice('Deleted recording ' + r.sid + '.');
    const drop = (items) => items.filter((x) => x.sid !== r.sid);
    rec.items = drop(rec.items);
    calls.recs = drop(calls.recs);
    $('rec-rows').replaceChildren(...rec.items.map((x, i) => recRow(x, 'rec', i)));
    $('cd-rows').replaceChildren(...calls.recs.map((x, i) => recRow(x, 'call', i)));
    show('rec-empty', rec.items.length === 0);
  }

  // --- Keyboard -------------------------------------------------------------------------------

  function onKey(e) {
    if (!creds || e.ctrlKey || e.metaKey || e.altKey || $('confirm').open) return;
    const tag = e.target && e.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') return;
    // A focused button or link keeps its own space and enter.
    if ((tag === 'BUTTON' || tag === 'A') && (e.key === ' ' || e.key === 'Enter')) return;
    const keys = {
      ' ': togglePlay,
      ArrowLeft: () => seek(audio.currentTime - 5),
      ArrowRight: () => seek(audio.currentTime + 5),
      '[': () => stepSpeed(-1),
      ']': () => stepSpeed(1),
      j: () => step(1).catch(showError),
      k: () => step(-1).catch(showError),
      Enter: () => e.target.click(), // a focused row opens
    };
    const f = keys[e.key];
    if (!f || (e.key === 'Enter' && tag !== 'TR')) return;
    if ((e.key.startsWith('Arrow') || e.key === ' ') && !player.rec) return;
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
    $('p-close').addEventListener('click', closePlayer);
    $('p-play').addEventListener('click', togglePlay);
    $('p-speed').addEventListener('change', () => setSpeed(Number($('p-speed').value)));
    $('p-delete').addEventListener('click', () => deleteCurrent());
    document.addEventListener('keydown', onKey);
    let resize = 0;
    window.addEventListener('resize', () => {
      cancelAnimationFrame(resize);
      resize = requestAnimationFrame(drawWave);
    });
    wireWave();
    wireAudio();
    setSpeed(1);
  }

  wire();
  // Signed in earlier in this tab: the credentials are in sessionStorage (never a cookie or URL).
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
    if (saved && saved.account && saved.secret) {
      $('in-account').value = saved.account;
      $('in-key').value = saved.key || '';
      signIn(saved.account, saved.key || '', saved.secret, true);
    }
  } catch (e) {
    sessionStorage.removeItem(STORE_KEY);
  }
})();
