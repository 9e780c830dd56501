// The phone demo: camera -> BlazePose -> the exported model -> its causal step model (state carried) -> OpenSim
// joint angles, drawn over the video and plotted live, recorded as a .mot. Everything model-specific comes from
// /config.json (written by `d3ke-edge demo serve` from the export's own metadata and the Python constants).
import {PoseTracker, mirroredLandmarks} from './blazepose.js';
import {BoxSmoother, boxFromLandmarks, cutCrop, frameIntrinsics, landmarkFeatures, project, rootTranslation} from './kinematics.js';
import {Model, initLiteRt, loadBlazePose} from './models.js';
import {motText} from './mot.js';
import {SideGuard} from './sides.js';

const params = new URLSearchParams(location.search);
const TEST = params.has('test');  // the Chromium test: keep a per-frame log of every stage
const $ = (id) => document.getElementById(id);
const STAGES = ['track', 'model', 'head', 'draw'];

const app = {
  cfg: null, tracker: null, frameModel: null, stepModel: null, state: [], smoother: new BoxSmoother(), sides: null,
  facing: params.get('facing') || 'environment', stream: null, running: false, gap: true,
  recording: false, rows: [], t0: null, frames: 0, log: [], history: [], timing: {}, lastFps: [],
  chosen: [], K: null, error: null, done: false,
};
window.d3ke = app;

function status(text, bad = false) {
  $('status').textContent = text;
  $('status').classList.toggle('bad', bad);
}

function zeros(shape) { return new Float32Array(shape.reduce((a, b) => a * b, 1)); }

function resetState() {
  app.state = app.stepModel ? app.cfg.step.meta.state.map((s) => zeros(s.shape)) : [];
  app.sides?.reset();
}

async function load() {
  app.cfg = await (await fetch('config.json')).json();
  const cfg = app.cfg;
  status('loading LiteRT.js ...');
  await initLiteRt(cfg.wasm);
  status('loading models ...');
  const threads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  const bp = await loadBlazePose(cfg.blazepose.detector, cfg.blazepose.landmark, threads);
  app.tracker = new PoseTracker(bp, cfg.blazepose);
  app.bp = bp;
  app.frameModel = await Model.load(cfg.per_frame.url, cfg.per_frame.meta.outputs.map((o) => o.name), threads);
  if (cfg.step) app.stepModel = await Model.load(cfg.step.url, cfg.step.meta.outputs.map((o) => o.name), threads);
  // a landmark model takes BlazePose's labels as they come: guard it against whole-body side flips (infer's rule)
  if (cfg.sides && cfg.per_frame.meta.inputs[0].name === 'landmarks') {
    const g = cfg.sides;
    app.sides = new SideGuard(g.max_turn_deg_s, g.keep_ratio, g.min_flip_deg, g.hold_s, g.max_gap_s);
  }
  resetState();
  const meta = cfg.per_frame.meta.model;
  const chosen = cfg.angles.filter((a) => meta.coordinate_names.includes(a));
  app.chosen = chosen;
  const box = $('angles');
  for (const name of meta.predicted_coordinates) {
    const label = document.createElement('label');
    const input = Object.assign(document.createElement('input'), {type: 'checkbox', value: name,
                                                                  checked: chosen.includes(name)});
    input.addEventListener('change', () => {
      app.chosen = [...box.querySelectorAll('input:checked')].map((i) => i.value);
    });
    label.append(input, ' ' + name);
    box.append(label);
  }
  $('model').textContent = `${cfg.per_frame.name}` + (cfg.step ? ` + ${cfg.step.meta.head}` : '') +
    ` (${meta.skeleton_name})`;
  // a first run of every model: the first call costs ~30 ms (its plan is made), not a camera frame's budget
  await bp.detect(new Float32Array(cfg.blazepose.detector_input ** 2 * 3));
  await bp.landmarks(new Float32Array(cfg.blazepose.landmark_input ** 2 * 3));
  await app.frameModel.run([zeros(cfg.per_frame.meta.inputs[0].shape)]);
  if (app.stepModel) await app.stepModel.run([zeros(cfg.step.meta.inputs[0].shape), ...app.state]);
}

async function startCamera() {
  if (app.stream) app.stream.getTracks().forEach((t) => t.stop());
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('this page has no camera access: open it over HTTPS (d3ke-edge demo serve makes a certificate) ' +
                    'or on localhost');
  }
  app.stream = await navigator.mediaDevices.getUserMedia(
    {video: {facingMode: app.facing, width: {ideal: 1280}, height: {ideal: 720}}, audio: false});
  const video = $('video');
  video.srcObject = app.stream;
  await video.play();
  app.tracker.reset();
  app.smoother.reset();
  app.gap = true;
  resetState();
  const w = video.videoWidth, h = video.videoHeight;
  app.K = frameIntrinsics(w, h, Number($('hfov').value) || app.cfg.hfov_deg);
  for (const c of [$('view'), $('grab')]) { c.width = w; c.height = h; }
  status(`camera ${w}x${h} (${app.facing === 'user' ? 'front' : 'rear'})`);
  if (!app.running) {
    app.running = true;
    loop();
  }
}

function loop() {
  const video = $('video');
  const next = () => (video.requestVideoFrameCallback ? video.requestVideoFrameCallback(tick)
                                                      : requestAnimationFrame(() => tick(performance.now(), null)));
  const tick = async (now, meta) => {
    try {
      await processFrame(meta?.mediaTime ?? now / 1000);
    } catch (e) {
      app.error = String(e?.stack || e);
      status(`error: ${e.message || e}`, true);
      console.error(e);
    }
    if (app.running) next();
  };
  next();
}

function timed(name, t0) {
  const ms = performance.now() - t0;
  (app.timing[name] ??= []).push(ms);
  if (app.timing[name].length > 60) app.timing[name].shift();
  return ms;
}

async function processFrame(time) {
  const video = $('video');
  const w = video.videoWidth, h = video.videoHeight;
  if (!w || !h) return;
  const grab = $('grab').getContext('2d', {willReadFrequently: true});
  grab.drawImage(video, 0, 0, w, h);
  const frame = grab.getImageData(0, 0, w, h);
  const record = TEST && app.log.length < app.cfg.test_frames ? {time, index: app.frames} : null;
  if (record && app.log.length < app.cfg.test_images) record.image = $('grab').toDataURL('image/png');
  app.frames++;
  let t = performance.now();
  let lm = await app.tracker.track(frame, record);
  timed('track', t);
  let out = null, root = null, box = null;
  if (lm === null) {
    app.gap = true;
  } else {
    if (app.gap) {  // a new stretch: the step state and the box filter start fresh
      resetState();
      app.smoother.reset();
      app.gap = false;
    }
    t = performance.now();
    const meta = app.cfg.per_frame.meta;
    box = app.smoother.filter(boxFromLandmarks(lm.xy, app.cfg.crop), time);
    // a landmark model takes BlazePose's landmarks; an image model the engine-style crop around them
    let x = meta.inputs[0].name === 'landmarks' ? landmarkFeatures(lm, app.K, meta.model.input)
                                                : cutCrop(frame, box, meta.model.input_size);
    let frameOut = await app.frameModel.run([x]);
    if (app.sides) {  // the body turning faster than a person can: BlazePose flipped every side; run it mirrored
      let resolved = true;
      if (app.sides.suspect(frameOut.pelvis_rot_cam, time)) {
        const lmM = mirroredLandmarks(lm, app.cfg.blazepose.mirror_order);
        const xM = landmarkFeatures(lmM, app.K, meta.model.input);
        const frameM = await app.frameModel.run([xM]);
        resolved = app.sides.prefer(frameOut.pelvis_rot_cam, frameM.pelvis_rot_cam);
        if (resolved) {
          app.tracker.relabel(lmM);
          [lm, x, frameOut] = [{...lmM, relabelled: true}, xM, frameM];
        }
      }
      if (record) {
        record.sides = {reference: app.sides.last && {...app.sides.last}, resolved, relabelled: !!lm.relabelled};
      }
      app.sides.accept(frameOut.pelvis_rot_cam, time, resolved);
    }
    timed('model', t);
    t = performance.now();
    out = frameOut;
    if (app.stepModel) {
      const stateIn = app.state;
      const stepOut = await app.stepModel.run([frameOut.params, ...stateIn]);
      app.state = app.cfg.step.meta.state.map((s) => stepOut[s.output]);
      out = stepOut;
      if (record) record.state_in = stateIn.map((s) => Array.from(s));
    }
    timed('head', t);
    const rel = [...chunks(out.joints_rel, 3), ...chunks(out.markers_rel, 3)];
    root = rootTranslation(box, app.K, rel, app.cfg.crop);
    if (record) {
      Object.assign(record, {landmarks: {xy: lm.xy, visibility: lm.visibility, presence: lm.presence,
                                         world: lm.world, pose_score: lm.poseScore, swapped: !!lm.swapped},
                             input: Array.from(x), per_frame: mapArrays(frameOut),
                             outputs: mapArrays(out), root, box});
    }
    if (app.recording) {
      app.t0 ??= time;
      app.rows.push({time: time - app.t0, coordinates: Array.from(out.coordinates)});
    }
  }
  t = performance.now();
  draw(frame, lm, out, root, box);
  timed('draw', t);
  if (record) app.log.push(record);
  // done when the log is full and the recording (started by the test's click, frames later) holds as many rows:
  // on a slow machine the log may fill before the click lands
  if (TEST && app.log.length >= app.cfg.test_frames && app.rows.length >= app.cfg.test_frames) app.done = true;
  app.lastFps.push(performance.now());
  if (app.lastFps.length > 30) app.lastFps.shift();
}

function* chunks(arr, n) { for (let i = 0; i < arr.length; i += n) yield Array.from(arr.subarray(i, i + n)); }
function mapArrays(o) { return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.from(v)])); }

function draw(frame, lm, out, root, box) {
  const view = $('view');
  const ctx = view.getContext('2d');
  ctx.putImageData(frame, 0, 0);
  const thick = Math.max(2, Math.round(Math.max(view.width, view.height) / 300));
  const meta = app.cfg.per_frame.meta.model;
  if (lm) {
    ctx.fillStyle = 'rgba(255,255,255,0.7)';
    for (const [x, y] of lm.xy) ctx.fillRect(x - thick / 2, y - thick / 2, thick, thick);
  }
  if (out) {
    const joints = project([...chunks(out.joints_rel, 3)], root, app.K);
    ctx.strokeStyle = '#3cf';
    ctx.lineWidth = thick;
    meta.joint_parents.forEach((p, i) => {
      if (p < 0) return;
      const [a, b] = [joints[p], joints[i]];
      if ([...a, ...b].every(Number.isFinite)) {
        ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
      }
    });
    ctx.strokeStyle = 'rgba(255,200,0,0.8)';
    ctx.lineWidth = 1;
    ctx.strokeRect(box[0], box[1], box[2], box[2]);
  }
  const names = meta.coordinate_names;
  const now = out ? app.chosen.map((n) => out.coordinates[names.indexOf(n)] * 180 / Math.PI) : null;
  app.history.push(now);
  if (app.history.length > app.cfg.plot_frames) app.history.shift();
  $('readout').innerHTML = app.chosen.map((n, k) =>
    `<span style="color:${colour(k)}">${n.replace(/_/g, ' ')}: ${now ? now[k].toFixed(0) : '-'}°</span>`).join('');
  plot();
  const fps = app.lastFps.length > 1 ? (app.lastFps.length - 1) * 1000 / (app.lastFps.at(-1) - app.lastFps[0]) : 0;
  const ms = STAGES.map((s) => `${s} ${median(app.timing[s] || []).toFixed(1)}`).join(' · ');
  // a step model learnt its dynamics at one frame rate (its metadata says which); far slower frames change them
  const hz = app.cfg.step?.meta.frame_rate_hz;
  const slow = hz && fps > 0 && app.lastFps.length > 20 && fps < 0.7 * hz ? ` · step model trained at ${hz} Hz` : '';
  $('speed').textContent = `${fps.toFixed(1)} fps · ms: ${ms}` + (lm ? '' : ' · no person') + slow;
}

const median = (a) => (a.length ? [...a].sort((x, y) => x - y)[a.length >> 1] : 0);
const colour = (k) => ['#3cf', '#f90', '#6d6', '#f6c', '#ff5', '#c9f', '#f66', '#9ff'][k % 8];

function plot() {
  const c = $('plot');
  const r = c.getBoundingClientRect();
  if (c.width !== Math.round(r.width) || c.height !== Math.round(r.height)) {
    c.width = Math.round(r.width); c.height = Math.round(r.height);
  }
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  const [lo, hi] = [-30, 150];  // degrees: the flexion range of the large joints
  const y = (v) => c.height - (v - lo) / (hi - lo) * c.height;
  ctx.strokeStyle = '#444';
  ctx.lineWidth = 1;
  for (const v of [0, 45, 90]) {
    ctx.beginPath(); ctx.moveTo(0, y(v)); ctx.lineTo(c.width, y(v)); ctx.stroke();
    ctx.fillStyle = '#888'; ctx.fillText(`${v}°`, 2, y(v) - 2);
  }
  const n = app.cfg.plot_frames;
  app.chosen.forEach((_, k) => {
    ctx.strokeStyle = colour(k);
    ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    app.history.forEach((row, i) => {
      const x = c.width * (i + n - app.history.length) / n;
      if (!row || row[k] === undefined) { pen = false; return; }
      if (pen) ctx.lineTo(x, y(row[k])); else ctx.moveTo(x, y(row[k]));
      pen = true;
    });
    ctx.stroke();
  });
}

function motFile() {
  const meta = app.cfg.per_frame.meta.model;
  return motText('d3ke-edge phone demo', meta.coordinate_names, meta.coordinate_motion_types, app.rows,
                 {model: app.cfg.per_frame.name, head: app.cfg.step?.meta.head ?? 'none',
                  root: 'root coordinates are 0: the phone does not solve the ground frame (d3ke-edge infer does)'});
}
app.motFile = motFile;

function download() {
  const blob = new Blob([motFile()], {type: 'text/plain'});
  const a = Object.assign(document.createElement('a'), {href: URL.createObjectURL(blob),
                                                        download: `d3ke_session_${Date.now()}.mot`});
  document.body.append(a);
  a.click();
  a.remove();
}

$('flip').addEventListener('click', () => {
  app.facing = app.facing === 'user' ? 'environment' : 'user';
  startCamera().catch((e) => status(String(e.message || e), true));
});
$('record').addEventListener('click', () => {
  app.recording = !app.recording;
  if (app.recording) { app.rows = []; app.t0 = null; }
  $('record').textContent = app.recording ? 'stop' : 'record';
  $('download').disabled = app.recording || !app.rows.length;
});
$('download').addEventListener('click', download);
$('hfov').addEventListener('change', () => {
  const v = $('video');
  app.K = frameIntrinsics(v.videoWidth, v.videoHeight, Number($('hfov').value) || app.cfg.hfov_deg);
});

/** Offline after the first load: the service worker (sw.js) keeps the shell; once the models run, every file this
 * page fetched (the wasm build LiteRT.js chose, the models, config.json) is handed to it to keep as well. */
async function installOffline() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register(`sw.js?v=${app.cfg.version}`);
    const reg = await navigator.serviceWorker.ready;
    const urls = performance.getEntriesByType('resource').map((e) => e.name)
      .filter((u) => new URL(u).origin === location.origin);
    reg.active.postMessage({keep: [...new Set([location.href.split('?')[0], ...urls])]});
  } catch (e) {
    console.warn(`no offline copy: ${e.message || e}`);  // e.g. an untrusted certificate: the app still runs
  }
}

load().then(startCamera).then(installOffline).catch((e) => {
  app.error = String(e?.stack || e);
  status(String(e.message || e), true);
  console.error(e);
});
