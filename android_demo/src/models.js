// The .tflite models through LiteRT.js (wasm, XNNPACK), named by what their sidecar JSON says they hold.
import {loadLiteRt, loadAndCompile, Tensor} from '@litertjs/core';

let ready = null;

/** LiteRT.js's wasm, served by this app (never a CDN); threads when the page is cross-origin isolated. */
export function initLiteRt(wasmDir) {
  ready ??= loadLiteRt(wasmDir, {threads: self.crossOriginIsolated === true});
  return ready;
}

const argIndex = (name) => {
  const m = /(\d+)$/.exec(name);
  return m ? Number(m[1]) : 0;
};

/** One compiled model; ``run(inputs)`` takes Float32Arrays in its input order and returns {name: Float32Array}. */
export class Model {
  static async load(url, names = null, threads = 1) {
    const m = new Model();
    m.url = url;
    m.model = await loadAndCompile(url, {accelerator: 'wasm', cpuOptions: {numThreads: threads}});
    const ins = [...m.model.getInputDetails()];
    const outs = [...m.model.getOutputDetails()];
    // exported artefacts name tensors args_N / output_N: their order is the sidecar's order
    m.inputs = ins.sort((a, b) => argIndex(a.name) - argIndex(b.name));
    m.outputs = outs;
    m.outputOrder = [...outs].sort((a, b) => argIndex(a.name) - argIndex(b.name));
    m.names = names;  // sidecar output names, in order (null: keep the model's own names)
    return m;
  }

  async run(arrays) {
    const tensors = arrays.map((a, i) => new Tensor(a, this.inputs[i].shape));
    const t0 = performance.now();
    let results;
    try {
      results = await this.model.run(tensors);
    } finally {
      tensors.forEach((t) => t.delete());
    }
    this.lastMs = performance.now() - t0;
    const out = {};
    const list = Array.isArray(results) ? results : Object.values(results);
    list.forEach((t, i) => {
      const detail = this.outputs[i];
      const key = this.names ? this.names[this.outputOrder.indexOf(detail)] : detail.name;
      out[key] = new Float32Array(t.toTypedArray());
      t.delete();
    });
    return out;
  }
}

/** BlazePose's two models behind the tracker's small interface; outputs picked by their sizes as the Python does. */
export async function loadBlazePose(detectorUrl, landmarkUrl, threads) {
  const det = await Model.load(detectorUrl, null, threads);
  const lmk = await Model.load(landmarkUrl, null, threads);
  const bySize = (out) => Object.fromEntries(Object.values(out).map((a) => [a.length, a]));
  return {
    detector: det, landmark: lmk,
    async detect(input) {
      const out = bySize(await det.run([input]));
      const boxes = Object.entries(out).sort((a, b) => b[0] - a[0]);
      return {boxes: boxes[0][1], scores: boxes[1][1]};
    },
    async landmarks(crop) {
      const out = bySize(await lmk.run([crop]));
      return {points: out[195], flag: out[1][0], world: out[117]};
    },
  };
}
