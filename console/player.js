/*
 * The console's player (docs/console.md): a recording's waveform from recd's peaks, the audio
 * with seeking and speed, one lane per channel that can be muted, the transcription, downloads
 * and delete. console.js imports this module when a recording first opens (or once the list is
 * on the screen and the browser is idle), so the first list render does not wait for it. Its
 * top level wires the player's controls, once.
 *
 * As in console.js, every value from outside is put on the page as text, never as markup.
 */

import {
  $, ApiError, SID, accountSid, afterPaint, apiUrl, calls, fmtClock, fmtDate, fmtDur, h, localLink,
  getJson, notice, ownUrl, rec, recLoad, recRow, request, show, text,
} from './console.js';

const LINK_TTL = 3600;           // seconds a signed media link lives
const PEAK_POINTS = 2000;        // waveform points to ask for, whatever the length
const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];
const LANE_COLOURS = ['#1d4ed8', '#c2410c'];
const MUTED_COLOUR = '#b8bec8';

const audio = $('audio');

// --- The player -----------------------------------------------------------------------------

const player = {rec: null, list: null, index: -1, peaks: null, muted: [false, false], graph: undefined,
  seq: 0, linkFor: null, retried: false, raf: 0, drag: null};
const mediaAuth = new Map(); // account → does it need auth on media (learnt once per session)

/* Whether the account's media needs auth: a request without credentials for the recording's
 * metadata answers 401 then (and 200 when it is public). */
async function needsMediaAuth(sid) {
  if (mediaAuth.has(accountSid())) return mediaAuth.get(accountSid());
  const r = await fetch(apiUrl('/Recordings/' + sid + '.json'), {method: 'HEAD', credentials: 'omit',
    referrerPolicy: 'no-referrer'});
  if (r.status === 401 || r.status === 200) mediaAuth.set(accountSid(), r.status === 401);
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

export async function openRecording(list, index) {
  const r = listOf(list)[index];
  if (!r || !SID.RE.test(text(r.sid))) return;
  const seq = ++player.seq;
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

export function closePlayer() {
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
export async function step(dir) {
  const list = player.rec ? player.list : 'rec';
  const items = listOf(list);
  const i = player.rec ? player.index + dir : dir > 0 ? 0 : items.length - 1;
  performance.mark('recd:open');
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

export function togglePlay() {
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

export function stepSpeed(dir) {
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
    if (!player.retried && mediaAuth.get(accountSid())) {
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

// --- What console.js calls ------------------------------------------------------------------

/* The SID of the recording open in the player, or null. */
export function currentSid() {
  return player.rec ? player.rec.sid : null;
}

/* Back or forward (seconds < 0 or > 0) from where the audio is. */
export function skip(seconds) {
  seek(audio.currentTime + seconds);
}

/* Sign-out: the player closes and forgets which accounts need signed links. */
export function signedOut() {
  closePlayer();
  mediaAuth.clear();
}

// --- Wiring (once, when the module loads) ---------------------------------------------------

$('p-close').addEventListener('click', closePlayer);
$('p-play').addEventListener('click', togglePlay);
$('p-speed').addEventListener('change', () => setSpeed(Number($('p-speed').value)));
$('p-delete').addEventListener('click', () => deleteCurrent());
let resize = 0;
window.addEventListener('resize', () => {
  cancelAnimationFrame(resize);
  resize = requestAnimationFrame(drawWave);
});
wireWave();
wireAudio();
setSpeed(1);
