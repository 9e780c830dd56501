// BlazePose in the browser: the person detector, the landmark model on a rotated ROI, and the tracker that follows
// one person — the same steps, constants and decoding as d3ke_edge/video/{detector,landmarks,tracker}.py, which
// the Chromium test checks this file against (tests/test_demo.py). The constants come from /config.json, which the
// server writes from the Python modules (one source of truth).

export const N_LANDMARKS = 33;

/** Anchor centres in [0, 1] (fixed-size SSD anchors), as MediaPipe's SsdAnchorsCalculator merges equal strides. */
export function poseAnchors(cfg) {
  const {strides, aspect_ratios, interpolated_scale_aspect_ratio, anchor_offset} = cfg.anchors;
  const perLayer = aspect_ratios.length + (interpolated_scale_aspect_ratio ? 1 : 0);
  const out = [];
  let i = 0;
  while (i < strides.length) {
    let j = i;
    while (j < strides.length && strides[j] === strides[i]) j++;
    const cells = Math.ceil(cfg.detector_input / strides[i]);
    const n = perLayer * (j - i);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let k = 0; k < n; k++) out.push([(x + anchor_offset) / cells, (y + anchor_offset) / cells]);
      }
    }
    i = j;
  }
  return out;
}

const sigmoid = (x) => 1 / (1 + Math.exp(-Math.max(-80, Math.min(80, x))));

/** Detections above minScore in the letterboxed input's [0, 1] coordinates: {box: [x0, y0, x1, y1], score, kps}. */
export function decodeDetections(rawBoxes, rawScores, anchors, cfg) {
  const out = [];
  const S = cfg.detector_input;
  for (let k = 0; k < anchors.length; k++) {
    const logit = Math.max(-cfg.score_clip, Math.min(cfg.score_clip, rawScores[k]));
    const score = 1 / (1 + Math.exp(-logit));
    if (score < cfg.min_score) continue;
    const v = rawBoxes.subarray(k * 12, k * 12 + 12);
    const cx = v[0] / S + anchors[k][0], cy = v[1] / S + anchors[k][1];
    const w = v[2] / S, h = v[3] / S;
    const kps = [];
    for (let p = 0; p < 4; p++) kps.push([v[4 + 2 * p] / S + anchors[k][0], v[5 + 2 * p] / S + anchors[k][1]]);
    out.push({box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, kps});
  }
  return out;
}

function iou(a, b) {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** MediaPipe's weighted NMS: the best remaining detection absorbs those overlapping it by more than the IoU. */
export function weightedNms(dets, threshold) {
  let rest = [...dets].sort((a, b) => b.score - a.score);
  const out = [];
  while (rest.length) {
    const best = rest[0];
    const group = rest.filter((d) => iou(best.box, d.box) > threshold);
    rest = rest.filter((d) => iou(best.box, d.box) <= threshold);
    const wsum = group.reduce((s, d) => s + d.score, 0);
    const box = [0, 1, 2, 3].map((i) => group.reduce((s, d) => s + d.box[i] * d.score, 0) / wsum);
    const kps = [0, 1, 2, 3].map((p) => [0, 1].map((c) => group.reduce((s, d) => s + d.kps[p][c] * d.score, 0) / wsum));
    out.push({box, score: best.score, kps});
  }
  return out;
}

/** The frame (RGBA ImageData-like {data, width, height}) area-averaged into the detector's letterboxed square,
 * in [-1, 1] (cv2.INTER_AREA's weights: each output pixel is the mean of the source area it covers). */
export function letterbox(frame, size) {
  const {width: w, height: h, data} = frame;
  const scale = size / Math.max(w, h);
  const nw = Math.round(w * scale), nh = Math.round(h * scale);
  const px = Math.floor((size - nw) / 2), py = Math.floor((size - nh) / 2);
  const out = new Float32Array(size * size * 3).fill(-1);
  const sx = w / nw, sy = h / nh;
  const row = new Float64Array(nw * 3);
  for (let oy = 0; oy < nh; oy++) {
    const y0 = oy * sy, y1 = y0 + sy;
    row.fill(0);
    for (let y = Math.floor(y0); y < Math.min(h, Math.ceil(y1)); y++) {
      const wy = Math.min(y + 1, y1) - Math.max(y, y0);
      for (let ox = 0; ox < nw; ox++) {
        const x0 = ox * sx, x1 = x0 + sx;
        for (let x = Math.floor(x0); x < Math.min(w, Math.ceil(x1)); x++) {
          const wgt = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
          const i = (y * w + x) * 4;
          row[ox * 3] += data[i] * wgt;
          row[ox * 3 + 1] += data[i + 1] * wgt;
          row[ox * 3 + 2] += data[i + 2] * wgt;
        }
      }
    }
    const area = sx * sy;
    for (let ox = 0; ox < nw; ox++) {
      const o = ((oy + py) * size + ox + px) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = Math.round(row[ox * 3 + c] / area) / 127.5 - 1;
    }
  }
  return {input: out, scale, pad: [px, py]};
}

/** A rotated square in frame pixels (centre, side, rotation: MediaPipe's sign). */
export function roiFromPoints(centre, scalePoint, scale) {
  const dx = scalePoint[0] - centre[0], dy = scalePoint[1] - centre[1];
  let rotation = Math.PI / 2 - Math.atan2(-dy, dx);
  rotation = ((rotation + Math.PI) % (2 * Math.PI) + 2 * Math.PI) % (2 * Math.PI) - Math.PI;
  return {centre: [centre[0], centre[1]], side: 2 * Math.hypot(dx, dy) * scale, rotation};
}

/** 2x3 affine from crop pixels (0..size) to frame pixels. */
export function roiMatrix(roi, size) {
  const c = Math.cos(roi.rotation), s = Math.sin(roi.rotation), k = roi.side / size;
  const a = [[c * k, -s * k], [s * k, c * k]];
  return [[a[0][0], a[0][1], roi.centre[0] - (a[0][0] + a[0][1]) * size / 2],
          [a[1][0], a[1][1], roi.centre[1] - (a[1][0] + a[1][1]) * size / 2]];
}

/** The ROI's crop, bilinear, black outside the frame, in [0, 1] (cv2.warpAffine INTER_LINEAR, inverse map). */
export function cropRoi(frame, roi, size) {
  const m = roiMatrix(roi, size);
  const {width: w, height: h, data} = frame;
  const out = new Float32Array(size * size * 3);
  const px = (x, y, c) => (x < 0 || y < 0 || x >= w || y >= h) ? 0 : data[(y * w + x) * 4 + c];
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const X = m[0][0] * u + m[0][1] * v + m[0][2], Y = m[1][0] * u + m[1][1] * v + m[1][2];
      const x0 = Math.floor(X), y0 = Math.floor(Y), fx = X - x0, fy = Y - y0;
      const o = (v * size + u) * 3;
      for (let c = 0; c < 3; c++) {
        const val = (px(x0, y0, c) * (1 - fx) + px(x0 + 1, y0, c) * fx) * (1 - fy) +
                    (px(x0, y0 + 1, c) * (1 - fx) + px(x0 + 1, y0 + 1, c) * fx) * fy;
        out[o + c] = Math.round(val) / 255;
      }
    }
  }
  return out;
}

/** The landmark model's outputs -> landmarks in frame pixels (see landmarks.py). */
export function decodeLandmarks(points, flag, world, roi, cfg) {
  const m = roiMatrix(roi, cfg.landmark_input);
  const xy = [], vis = [], pres = [], aux = [], wl = [];
  for (let i = 0; i < 39; i++) {
    const x = points[i * 5], y = points[i * 5 + 1];
    const p = [m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2]];
    if (i < N_LANDMARKS) {
      xy.push(p);
      vis.push(sigmoid(points[i * 5 + 3]));
      pres.push(sigmoid(points[i * 5 + 4]));
      const c = Math.cos(roi.rotation), s = Math.sin(roi.rotation);
      const wx = world[i * 3], wy = world[i * 3 + 1];
      wl.push([c * wx - s * wy, s * wx + c * wy, world[i * 3 + 2]]);
    } else {
      aux.push(p);
    }
  }
  return {xy, visibility: vis, presence: pres, world: wl, poseScore: flag, roi, aux};
}

/** The same detection with its left and right labels swapped (``mirror``: config's mirror_order); ``swapped``
 * says whether the result is BlazePose's own labelling mirrored (a relabel can mirror an unswapped frame back). */
export function mirroredLandmarks(res, mirror) {
  return {...res, xy: mirror.map((j) => res.xy[j]), visibility: mirror.map((j) => res.visibility[j]),
          presence: mirror.map((j) => res.presence[j]), world: mirror.map((j) => res.world[j]), swapped: !res.swapped};
}

/** Follows one person: detect, then each frame's landmarks give the next ROI; swaps undone as tracker.py does. */
export class PoseTracker {
  constructor(runtime, cfg) {
    this.rt = runtime;  // {detect(input) -> {boxes, scores}, landmarks(input) -> {points, flag, world}}
    this.cfg = cfg;
    this.anchors = poseAnchors(cfg);
    this.roi = null;
    this.last = null;
    this.stats = {frames: 0, tracked: 0, detectorCalls: 0, swaps: 0, relabelled: 0};
    this.mirror = cfg.mirror_order;
    this.limbs = cfg.swap_limbs;
  }

  reset() { this.roi = null; this.last = null; }

  async detect(frame, log) {
    this.stats.detectorCalls++;
    const {input, scale, pad} = letterbox(frame, this.cfg.detector_input);
    const raw = await this.rt.detect(input);
    const S = this.cfg.detector_input;
    const back = ([x, y]) => [(x * S - pad[0]) / scale, (y * S - pad[1]) / scale];
    const dets = weightedNms(decodeDetections(raw.boxes, raw.scores, this.anchors, this.cfg), this.cfg.nms_iou)
      .map((d) => ({...d, box: [...back([d.box[0], d.box[1]]), ...back([d.box[2], d.box[3]])], kps: d.kps.map(back)}));
    if (log) log.detector = {input: Array.from(input), boxes: Array.from(raw.boxes), scores: Array.from(raw.scores), detections: dets};
    let det = null;
    if (this.last === null) {
      det = dets.reduce((best, d) => (!best || this.side(d) > this.side(best)) ? d : best, null);
    } else {
      const hip = this.last.aux[0];
      const near = dets.filter((d) => Math.hypot(d.kps[0][0] - hip[0], d.kps[0][1] - hip[1]) <=
                                      this.cfg.reacquire_sides * this.last.roi.side);
      det = near.reduce((best, d) => (!best || Math.hypot(d.kps[0][0] - hip[0], d.kps[0][1] - hip[1]) <
                                       Math.hypot(best.kps[0][0] - hip[0], best.kps[0][1] - hip[1])) ? d : best, null);
    }
    return det ? roiFromPoints(det.kps[0], det.kps[1], this.cfg.roi_scale) : null;
  }

  side(d) { return roiFromPoints(d.kps[0], d.kps[1], this.cfg.roi_scale).side; }

  unswap(res) {
    if (this.last === null) return res;
    let keep = 0, mirrored = 0;
    for (const i of this.limbs) {
      keep += Math.hypot(res.xy[i][0] - this.last.xy[i][0], res.xy[i][1] - this.last.xy[i][1]);
      const j = this.mirror[i];
      mirrored += Math.hypot(res.xy[j][0] - this.last.xy[i][0], res.xy[j][1] - this.last.xy[i][1]);
    }
    if (mirrored >= this.cfg.swap_ratio * keep) return res;
    this.stats.swaps++;
    return mirroredLandmarks(res, this.mirror);
  }

  /** The caller found this frame's labels the wrong way round and took ``lm`` (mirrored) instead: later frames are
   * compared with it, so the corrected labelling carries on (tracker.py's relabel). */
  relabel(lm) {
    this.last = lm;
    this.stats.relabelled++;
  }

  /** Landmarks of the followed person in this frame, or null. ``log`` (optional) collects what was computed. */
  async track(frame, log) {
    this.stats.frames++;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.roi === null) {
        this.roi = await this.detect(frame, log);
        if (this.roi === null) return null;
      }
      const roi = this.roi;
      const crop = cropRoi(frame, roi, this.cfg.landmark_input);
      const raw = await this.rt.landmarks(crop);
      const res = decodeLandmarks(raw.points, raw.flag, raw.world, roi, this.cfg);
      if (log) log.landmark_roi = {centre: roi.centre, side: roi.side, rotation: roi.rotation};
      if (res.poseScore >= this.cfg.min_pose) {
        this.roi = roiFromPoints(res.aux[0], res.aux[1], this.cfg.roi_scale);
        this.stats.tracked++;
        this.last = this.unswap(res);
        return this.last;
      }
      this.roi = null;
    }
    return null;
  }
}
