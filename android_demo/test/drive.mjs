// Drives the demo in headless Chromium with a fake camera (a .y4m clip), for tests/test_demo.py:
//   node test/drive.mjs '{"url": ..., "y4m": ..., "out": DIR, "chromium": PATH, "frames": N, "viewports": [[w, h], ...]}'
// Writes DIR/log.json (the page's per-frame record), DIR/session.mot (downloaded through the page's button),
// DIR/screenshot_<w>x<h>.png per viewport, DIR/console.txt; prints a one-line JSON summary.
import {chromium} from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const args = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: args.chromium, headless: true,
  args: ['--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
         `--use-file-for-fake-video-capture=${args.y4m}`, '--autoplay-policy=no-user-gesture-required'],
});
const summary = {};
const consoleLines = [];
try {
  const [w, h] = args.viewports[0];
  const context = await browser.newContext({viewport: {width: w, height: h}, acceptDownloads: true});
  const page = await context.newPage();
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await page.goto(args.url + '?test=1', {waitUntil: 'load'});
  await page.waitForFunction(() => window.d3ke && (window.d3ke.running || window.d3ke.error), null, {timeout: 120000});
  let err = await page.evaluate(() => window.d3ke.error);
  if (err) throw new Error(`page: ${err}`);
  await page.click('#record');
  await page.waitForFunction(() => window.d3ke.done || window.d3ke.error, null, {timeout: args.timeout_ms || 240000});
  err = await page.evaluate(() => window.d3ke.error);
  if (err) throw new Error(`page: ${err}`);
  await page.click('#record');  // stop
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await download.saveAs(path.join(args.out, 'session.mot'));
  const log = await page.evaluate(() => ({
    log: window.d3ke.log, isolated: self.crossOriginIsolated, stats: window.d3ke.tracker.stats, rows: window.d3ke.rows,
    timing: window.d3ke.timing, frames: window.d3ke.frames,
    size: [document.getElementById('video').videoWidth, document.getElementById('video').videoHeight],
  }));
  fs.writeFileSync(path.join(args.out, 'log.json'), JSON.stringify(log));
  for (const [vw, vh] of args.viewports) {
    await page.setViewportSize({width: vw, height: vh});
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(300);
    await page.screenshot({path: path.join(args.out, `screenshot_${vw}x${vh}.png`)});
  }
  // model latency in the browser: each model on the recorded inputs, after warm-up
  summary.latency = await page.evaluate(async (n) => {
    const app = window.d3ke;
    const rec = app.log.find((r) => r.input);
    const cfg = app.cfg;
    const bench = async (fn) => {
      for (let i = 0; i < 3; i++) await fn();
      const t = [];
      for (let i = 0; i < n; i++) { const t0 = performance.now(); await fn(); t.push(performance.now() - t0); }
      t.sort((a, b) => a - b);
      return t[t.length >> 1];
    };
    const det = new Float32Array(cfg.blazepose.detector_input ** 2 * 3);
    const crop = new Float32Array(cfg.blazepose.landmark_input ** 2 * 3);
    const out = {
      detector: await bench(() => app.bp.detect(det)),
      landmarks: await bench(() => app.bp.landmarks(crop)),
      per_frame: await bench(() => app.frameModel.run([Float32Array.from(rec.input)])),
    };
    if (app.stepModel) {
      out.step = await bench(() => app.stepModel.run([Float32Array.from(rec.per_frame.params), ...app.state]));
    }
    return out;
  }, args.latency_runs || 30);
  if (args.offline) {  // the installed app: everything cached, the network gone, a reload must still run it
    await page.waitForFunction(async (url) => !!(await caches.match(url)), args.offline_probe, {timeout: 60000});
    await context.setOffline(true);
    await page.reload({waitUntil: 'load'});
    await page.waitForFunction(() => window.d3ke && (window.d3ke.frames > 3 || window.d3ke.error), null, {timeout: 120000});
    summary.offline = await page.evaluate(() => ({frames: window.d3ke.frames, error: window.d3ke.error,
                                                  controlled: !!navigator.serviceWorker.controller}));
    await context.setOffline(false);
  }
  summary.ok = true;
  summary.frames = log.frames;
  summary.isolated = log.isolated;
} catch (e) {
  summary.ok = false;
  summary.error = String(e.stack || e);
} finally {
  fs.writeFileSync(path.join(args.out, 'console.txt'), consoleLines.join('\n'));
  await browser.close();
}
console.log(JSON.stringify(summary));
