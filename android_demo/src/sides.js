// Whole-body left/right label flips, caught by how fast the body would have to turn: d3ke_edge/infer/sides.py in
// JavaScript, its limit, ratio, minimum flip and hold read from config.json (infer's). A landmark model believes
// BlazePose's labels, so when BlazePose starts reading a person facing the camera as facing away the per-frame model's
// pelvis turns by 118-176 deg between two frames; such a frame is run again with the labels mirrored (app.js) and the
// mirrored labelling is kept when the given one turns the body by ``minFlipDeg`` or more and the mirrored one by less
// than ``keepRatio`` x ``minFlipDeg``. Suspect frames that mirroring did not resolve do not become the reference while
// it is younger than ``holdS`` (a flip can take a few frames). Frames further apart than ``maxGapS`` (the page keeping
// up at under 10 fps) are judged as if that far apart, so a flip stays suspect however slowly frames arrive.

/** The angle (deg) of the rotation between two row-major 3x3 rotation matrices (9 numbers each). */
export function turnDeg(r0, r1) {
  let trace = 0;  // trace(R0^T R1) = sum of the element-wise products
  for (let i = 0; i < 9; i++) trace += r0[i] * r1[i];
  return Math.acos(Math.min(1, Math.max(-1, (trace - 1) / 2))) * 180 / Math.PI;
}

export class SideGuard {
  constructor(maxTurnDegS, keepRatio, minFlipDeg, holdS, maxGapS) {
    if (!(maxTurnDegS > 0)) throw new Error(`max_turn_deg_s must be a positive number, got ${maxTurnDegS}`);
    this.maxTurn = maxTurnDegS;
    this.keepRatio = keepRatio;
    this.minFlip = minFlipDeg;
    this.holdS = holdS;
    this.maxGap = maxGapS;
    this.reset();
  }

  /** A new stretch: nothing to compare the next frame with. */
  reset() { this.last = null; }

  turn(rot) { return this.last === null ? 0 : turnDeg(this.last.rot, rot); }

  /** Whether the body turns faster than the limit from the last frame to this one (never on a stretch's first);
   * the time between them counts up to maxGap s. */
  suspect(rot, time) {
    if (this.last === null) return false;
    return this.turn(rot) / Math.min(Math.max(time - this.last.time, 1e-3), this.maxGap) > this.maxTurn;
  }

  /** True when the given labelling turns the body by minFlip deg or more and the mirrored one by less than
   * keepRatio x minFlip. */
  prefer(rot, rotMirrored) {
    return this.turn(rot) >= this.minFlip && this.turn(rotMirrored) < this.keepRatio * this.minFlip;
  }

  /** The rotation this frame went on with; resolved false (suspect, mirroring did not help): not the reference
   * while the reference is younger than holdS. */
  accept(rot, time, resolved = true) {
    if (!resolved && this.last !== null && time - this.last.time < this.holdS) return;
    this.last = {rot: Array.from(rot), time};
  }
}
