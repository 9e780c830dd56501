// From BlazePose's landmarks to the model's input, and from the model's outputs to the picture: the landmark
// features (d3ke_edge/data/landmark_input.py, whose layout the artefact's metadata states), the camera's intrinsics,
// the smoothed person box and the root's position (d3ke_edge/video/crop.py). Constants come from /config.json.

/** K of an upright frame whose long side spans hfovDeg; principal point at the centre. */
export function frameIntrinsics(width, height, hfovDeg) {
  const f = (Math.max(width, height) / 2) / Math.tan((hfovDeg * Math.PI / 180) / 2);
  return {fx: f, fy: f, cx: width / 2, cy: height / 2};
}

function box(xy) {
  let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  for (const [x, y] of xy) {
    lo = [Math.min(lo[0], x), Math.min(lo[1], y)];
    hi = [Math.max(hi[0], x), Math.max(hi[1], y)];
  }
  return {lo, hi, centre: [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2], side: Math.max(1, hi[0] - lo[0], hi[1] - lo[1])};
}

/** The landmark model's input vector, in the order of the artefact's metadata (model.input). */
export function landmarkFeatures(lm, K, layout) {
  const n = layout.landmarks;
  const out = new Float32Array(layout.features);
  const b = box(lm.xy);
  for (let i = 0; i < n; i++) {
    out[2 * i] = (lm.xy[i][0] - b.centre[0]) / b.side * 2;
    out[2 * i + 1] = (lm.xy[i][1] - b.centre[1]) / b.side * 2;
    out[2 * n + i] = lm.visibility[i];
    out[3 * n + i] = lm.presence[i];
  }
  out[4 * n] = (b.centre[0] - K.cx) / K.fx;
  out[4 * n + 1] = (b.centre[1] - K.cy) / K.fy;
  out[4 * n + 2] = b.side / K.fx;
  if (layout.world) {
    const [l, r] = [23, 24];
    const mid = [0, 1, 2].map((c) => (lm.world[l][c] + lm.world[r][c]) / 2);
    let ss = 0;
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) ss += (lm.world[i][c] - mid[c]) ** 2;
    const rms = Math.max(Math.sqrt(ss / n), 1e-6);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[4 * n + 3 + 3 * i + c] = (lm.world[i][c] - mid[c]) / rms;
  }
  return out;
}

/** The image models' input: the square box [x0, y0, side] resized to size x size, bilinear at pixel centres, black
 * outside the frame, NCHW RGB in [0, 1] (crop.py's cut_crop; the artefact normalises inside). */
export function cutCrop(frame, b, size) {
  const {width: w, height: h, data} = frame;
  const s = size / Math.max(b[2], 2);
  const out = new Float32Array(3 * size * size);
  const px = (x, y, c) => (x < 0 || y < 0 || x >= w || y >= h) ? 0 : data[(y * w + x) * 4 + c];
  for (let v = 0; v < size; v++) {
    const Y = (v + 0.5) / s + b[1] - 0.5;
    const y0 = Math.floor(Y), fy = Y - y0;
    for (let u = 0; u < size; u++) {
      const X = (u + 0.5) / s + b[0] - 0.5;
      const x0 = Math.floor(X), fx = X - x0;
      for (let c = 0; c < 3; c++) {
        const val = (px(x0, y0, c) * (1 - fx) + px(x0 + 1, y0, c) * fx) * (1 - fy) +
                    (px(x0, y0 + 1, c) * (1 - fx) + px(x0 + 1, y0 + 1, c) * fx) * fy;
        out[c * size * size + v * size + u] = Math.round(val) / 255;
      }
    }
  }
  return out;
}

/** The engine-style square box [x0, y0, side] around the landmarks. */
export function boxFromLandmarks(xy, cfg) {
  const b = box(xy);
  const side = Math.max(b.hi[0] - b.lo[0], b.hi[1] - b.lo[1]) * cfg.silhouette_per_landmarks * cfg.engine_margin;
  return [b.centre[0] - side / 2, b.centre[1] - side / 2, side];
}

/** A causal One-Euro filter on the box centre and log side (crop.py's BoxSmoother). */
export class BoxSmoother {
  constructor(minCutoff = 1.0, beta = 0.02, dCutoff = 1.0) {
    Object.assign(this, {minCutoff, beta, dCutoff});
    this.reset();
  }
  reset() { this.x = null; this.dx = null; this.t = null; }
  static alpha(cutoff, dt) { const r = 2 * Math.PI * cutoff * dt; return r / (r + 1); }
  filter(b, t) {
    const x = [b[0] + b[2] / 2, b[1] + b[2] / 2, Math.log(b[2])];
    if (this.x === null || t <= this.t) {
      this.x = x; this.dx = [0, 0, 0]; this.t = t;
    } else {
      const dt = t - this.t;
      const aD = BoxSmoother.alpha(this.dCutoff, dt);
      this.dx = this.dx.map((d, i) => aD * (x[i] - this.x[i]) / dt + (1 - aD) * d);
      const speed = Math.hypot(this.dx[0], this.dx[1]) / Math.exp(this.x[2]) * 100;
      const a = BoxSmoother.alpha(this.minCutoff + this.beta * speed, dt);
      this.x = this.x.map((v, i) => a * x[i] + (1 - a) * v);
      this.t = t;
    }
    const side = Math.exp(this.x[2]);
    return [this.x[0] - side / 2, this.x[1] - side / 2, side];
  }
}

/** The root's camera-frame position from the box and the predicted root-relative points (crop.py). */
export function rootTranslation(b, K, points, cfg) {
  let lo = [Infinity, Infinity], hi = [-Infinity, -Infinity];
  for (const p of points) {
    lo = [Math.min(lo[0], p[0]), Math.min(lo[1], p[1])];
    hi = [Math.max(hi[0], p[0]), Math.max(hi[1], p[1])];
  }
  const extent = Math.max(hi[0] - lo[0], hi[1] - lo[1]);
  const z = cfg.box_per_extent * K.fx * extent / b[2];
  const ray = [(b[0] + b[2] / 2 - K.cx) / K.fx, (b[1] + b[2] / 2 - K.cy) / K.fx];
  const mid = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2];
  return [ray[0] * z - mid[0], ray[1] * z - mid[1], z];
}

/** Camera-frame points -> pixels. */
export function project(points, root, K) {
  return points.map(([x, y, z]) => {
    const X = x + root[0], Y = y + root[1], Z = z + root[2];
    return Z > 1e-6 ? [K.fx * X / Z + K.cx, K.fy * Y / Z + K.cy] : [NaN, NaN];
  });
}
