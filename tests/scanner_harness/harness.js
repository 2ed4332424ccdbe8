// Test harness for /static/js/scanner.js: wires the API to a few buttons and records
// everything on window.harness so Playwright tests and bench/scan.py can read it.
//
// Query parameters:
//   zxing=1        always use the zxing-wasm ponyfill, even if a native BarcodeDetector exists
//   continuous=1   keep scanning after a hit
//   camera=canvas  replace the camera by a 1280x720 canvas stream (bench: show a QR at a known time)
//   wasmBase=URL   serve the .wasm from somewhere else

import {
  configureScanner,
  createScanner,
  decodeImageFile,
  DEDUPE_WINDOW_MS,
  isDuplicateScan,
  loadDetector,
  resetScanHistory,
} from "/static/js/scanner.js";

const params = new URLSearchParams(location.search);
configureScanner({
  forceZxing: params.has("zxing"),
  wasmBase: params.get("wasmBase") ?? undefined,
});

const $ = (id) => document.getElementById(id);
const video = $("preview");

const log = { decodes: [], errors: [], states: [], streams: [], photos: [] };

/** A fake camera backed by a canvas, so a benchmark can show a QR at a known moment. */
class CanvasCamera {
  constructor(width = 1280, height = 720) {
    this.canvas = Object.assign(document.createElement("canvas"), { width, height });
    this.ctx = this.canvas.getContext("2d");
    this.image = null; // null: blank scene
    this.pendingShow = false;
    this.shownAt = null;
    const paint = () => {
      this.paint();
      requestAnimationFrame(paint);
    };
    requestAnimationFrame(paint);
  }

  paint() {
    const { ctx, canvas } = this;
    ctx.fillStyle = "rgb(205 200 190)";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    // Something changes every frame, so captureStream keeps delivering frames.
    ctx.fillStyle = `rgb(90 110 ${(performance.now() / 8) % 255})`;
    ctx.fillRect(40, 40, 60, 60);
    if (this.image) {
      const side = Math.round(canvas.height * 0.6);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(this.image, (canvas.width - side) / 2, (canvas.height - side) / 2, side, side);
      if (this.pendingShow) {
        this.pendingShow = false;
        this.shownAt = performance.now();
      }
    }
  }

  /** Show the QR from the next painted frame on; shownAt is when that frame was painted. */
  async show(imageUrl) {
    const img = new Image();
    img.src = imageUrl;
    await img.decode();
    this.shownAt = null;
    this.pendingShow = true;
    this.image = img;
  }

  hide() {
    this.image = null;
    this.shownAt = null;
  }

  stream() {
    return this.canvas.captureStream(30);
  }
}

const canvasCamera = params.get("camera") === "canvas" ? new CanvasCamera() : null;

// Record every stream handed to the scanner, so tests can check its tracks were stopped.
if (navigator.mediaDevices?.getUserMedia) {
  const devices = navigator.mediaDevices;
  const original = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async (constraints) => {
    const stream = canvasCamera ? canvasCamera.stream() : await original(constraints);
    log.streams.push(stream);
    return stream;
  };
}

const scanner = createScanner({
  video,
  continuous: params.has("continuous"),
  onDecode(text) {
    log.decodes.push({ text, at: performance.now() });
    $("result").value = text;
  },
  onError(error) {
    log.errors.push({ code: error.code, message: error.message, name: error.cause?.name ?? null });
    $("error").value = error.message;
  },
  onState(state) {
    log.states.push(state);
    $("state").value = state;
    $("torch").disabled = !scanner.torchAvailable || !scanner.running;
  },
});

$("scan").addEventListener("click", () => {
  $("error").value = "";
  scanner.start();
});
$("stop").addEventListener("click", () => scanner.stop());
$("torch").addEventListener("click", () => scanner.toggleTorch());

$("photo").addEventListener("change", async (event) => {
  const output = $("photo-result");
  const [file] = event.target.files;
  output.value = "";
  delete output.dataset.status;
  if (!file) return;
  const started = performance.now();
  try {
    const text = await decodeImageFile(file);
    log.photos.push({ text, ms: performance.now() - started });
    output.value = text ?? "No QR code found in the photo.";
    output.dataset.status = text === null ? "none" : "found";
  } catch (err) {
    log.photos.push({ error: String(err), ms: performance.now() - started });
    output.value = `Error: ${err}`;
    output.dataset.status = "error";
  }
});

/** Per-call timings of detector.detect(source) in ms, after `warmup` untimed calls. */
async function timeDetect(detector, source, runs, warmup) {
  let text = null;
  for (let i = 0; i < warmup; i++) await detector.detect(source);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const codes = await detector.detect(source);
    times.push(performance.now() - t0);
    text = codes[0]?.rawValue ?? null;
  }
  return { times, text };
}

/**
 * Decode-time benchmark: a 1280x720 frame with the QR, decoded `runs` times from a canvas,
 * from ImageData, and (if the canvas camera is on and playing) from the <video> itself.
 */
async function benchDecode(imageUrl, { runs = 50, warmup = 5 } = {}) {
  const t0 = performance.now();
  const detector = await loadDetector();
  const loadMs = performance.now() - t0;
  const img = new Image();
  img.src = imageUrl;
  await img.decode();
  const canvas = Object.assign(document.createElement("canvas"), { width: 1280, height: 720 });
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, 1280, 720);
  const side = 432;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(img, (1280 - side) / 2, (720 - side) / 2, side, side);
  const results = {
    decoder: detector.kind,
    loadMs,
    canvas: await timeDetect(detector, canvas, runs, warmup),
    imageData: await timeDetect(detector, ctx.getImageData(0, 0, 1280, 720), runs, warmup),
  };
  if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && canvasCamera?.image) {
    results.video = await timeDetect(detector, video, runs, warmup);
  }
  return results;
}

function trackStates() {
  return log.streams.flatMap((s) => s.getTracks().map((t) => t.readyState));
}

window.harness = {
  scanner,
  log,
  canvasCamera,
  trackStates,
  benchDecode,
  isDuplicateScan,
  resetScanHistory,
  loadDetector,
  decodeImageFile,
  DEDUPE_WINDOW_MS,
  ready: true,
};
document.documentElement.dataset.ready = "true";
