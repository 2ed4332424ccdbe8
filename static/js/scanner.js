// Hookline badge scanner: camera + QR decoding, no framework, no build step.
//
// The decoder is the browser's own BarcodeDetector where it exists and reads QR codes
// (Chrome on Android, Safari on macOS), otherwise the vendored zxing-wasm ponyfill from
// /static/vendor/, which is imported only when a scan is started (never at page load) and
// whose wasm comes from our own origin, so scanning works offline and without a CDN.
//
// Usage:
//   import { createScanner, decodeImageFile } from "/static/js/scanner.js";
//   const scanner = createScanner({ video, onDecode: (text) => fill(text), onError: (e) => show(e.message) });
//   button.addEventListener("click", () => scanner.start());

const VENDOR_BASE = new URL("../vendor/", import.meta.url);

const config = {
  /** URL of the barcode-detector ponyfill module. */
  ponyfillUrl: new URL("barcode-detector/ponyfill.js", VENDOR_BASE).href,
  /** Folder the zxing reader .wasm is served from (ends with "/"). */
  wasmBase: new URL("zxing-wasm/reader/", VENDOR_BASE).href,
  /** Ignore native BarcodeDetector even when present (tests, benchmarks). */
  forceZxing: false,
};

/** How long a decoded text is ignored after it was last seen, in milliseconds. */
export const DEDUPE_WINDOW_MS = 4000;

const MESSAGES = {
  denied:
    "Camera permission was denied. You can allow it in your browser's site settings, or type the details instead.",
  "no-camera":
    "No camera was found on this device. Type the details instead, or take a photo of the badge.",
  insecure:
    "The camera only works on a secure (https) connection. Type the details instead, or take a photo of the badge.",
  busy: "The camera is in use by another app. Close it and try again, or type the details instead.",
  decoder:
    "The code reader could not be loaded. Reload the page and try again, or type the details instead.",
  camera: "The camera could not be started. Try again, or type the details instead.",
};

/**
 * @typedef {object} ScanError
 * @property {"denied"|"no-camera"|"insecure"|"busy"|"decoder"|"camera"} code
 * @property {string} message  A sentence that can be shown to the user as is.
 * @property {unknown} [cause] The original exception, for logging.
 */

/**
 * @typedef {object} Detector
 * @property {"native"|"zxing-wasm"} kind  Which decoder is in use.
 * @property {(source: ImageBitmapSource) => Promise<Array<{rawValue: string, format: string}>>} detect
 */

/**
 * Override where the decoder files are fetched from. Call before the first scan.
 * @param {{ponyfillUrl?: string, wasmBase?: string, forceZxing?: boolean}} options
 */
export function configureScanner(options = {}) {
  for (const key of Object.keys(config)) {
    if (options[key] !== undefined) config[key] = options[key];
  }
  detectorPromise = null;
}

/** @param {ScanError["code"]} code @param {unknown} [cause] @returns {ScanError} */
function scanError(code, cause) {
  return { code, message: MESSAGES[code], cause };
}

/** Map a getUserMedia failure to a ScanError. @param {any} err @returns {ScanError} */
function cameraError(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
    case "PermissionDeniedError":
      return scanError("denied", err);
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return scanError("no-camera", err);
    case "NotReadableError":
    case "TrackStartError":
      return scanError("busy", err);
    default:
      return scanError("camera", err);
  }
}

// ---------------------------------------------------------------------------
// Decoder

/** @type {Promise<Detector>|null} */
let detectorPromise = null;

/**
 * Load a QR detector: the native BarcodeDetector if it reads QR codes, else the vendored
 * zxing-wasm ponyfill (imported on first call, wasm fetched from our origin).
 * The promise is cached; a failed load is forgotten so that the next call retries.
 * @returns {Promise<Detector>}
 */
export function loadDetector() {
  if (!detectorPromise) {
    detectorPromise = createDetector().catch((err) => {
      detectorPromise = null;
      throw err;
    });
  }
  return detectorPromise;
}

/** @returns {Promise<Detector>} */
async function createDetector() {
  const Native = globalThis.BarcodeDetector;
  if (Native && !config.forceZxing) {
    try {
      const formats = await Native.getSupportedFormats();
      if (formats.includes("qr_code")) {
        const native = new Native({ formats: ["qr_code"] });
        return { kind: "native", detect: (source) => native.detect(source) };
      }
    } catch {
      // A native detector that cannot list its formats is no use; fall through to zxing.
    }
  }
  const mod = await import(config.ponyfillUrl);
  const wasmBase = config.wasmBase.endsWith("/") ? config.wasmBase : `${config.wasmBase}/`;
  try {
    // fireImmediately compiles the wasm now, so a missing file fails here, not mid-scan.
    await mod.prepareZXingModule({
      overrides: {
        locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasmBase + path : prefix + path),
      },
      fireImmediately: true,
    });
  } catch (err) {
    mod.purgeZXingModule(); // otherwise the rejected module promise is cached forever
    throw err;
  }
  const zxing = new mod.BarcodeDetector({ formats: ["qr_code"] });
  const grabber = createFrameGrabber();
  return {
    kind: "zxing-wasm",
    detect: (source) => zxing.detect(grabber(source) ?? source),
  };
}

/**
 * The ponyfill turns a <video> into pixels through a fresh canvas on every call; copying the
 * frame into one reused, CPU-backed canvas instead takes the per-frame cost at 1280x720
 * down noticeably (see docs/scanning.md). Other sources are passed through unchanged.
 * @returns {(source: unknown) => ImageData|null}
 */
function createFrameGrabber() {
  let ctx = null;
  return (source) => {
    if (!(source instanceof HTMLVideoElement)) return null;
    const { videoWidth: width, videoHeight: height } = source;
    if (!width || !height) return null;
    try {
      if (!ctx) {
        const canvas = document.createElement("canvas");
        ctx = canvas.getContext("2d", { willReadFrequently: true });
      }
      if (ctx.canvas.width !== width || ctx.canvas.height !== height) {
        ctx.canvas.width = width;
        ctx.canvas.height = height;
      }
      ctx.drawImage(source, 0, 0, width, height);
      return ctx.getImageData(0, 0, width, height);
    } catch {
      return null; // let the ponyfill try its own way
    }
  };
}

/** @param {Array<{rawValue: string, format: string}>} codes @returns {string|null} */
function firstQr(codes) {
  const hit = codes.find((c) => c.format === "qr_code" && c.rawValue);
  return hit ? hit.rawValue : null;
}

// ---------------------------------------------------------------------------
// Dedupe

/** @type {Map<string, number>} text -> when it was last seen */
const recentScans = new Map();

/**
 * Tell whether `text` was already seen less than DEDUPE_WINDOW_MS before `now`, and record
 * `now` as its latest sighting. Ignored sightings refresh the window, so a badge that stays
 * in view is not re-added; it must be out of view for 4 s to count again.
 * @param {string} text
 * @param {number} [now] milliseconds, performance.now() by default
 * @returns {boolean} true if this sighting should be ignored
 */
export function isDuplicateScan(text, now = performance.now()) {
  for (const [seen, at] of recentScans) {
    if (now - at >= DEDUPE_WINDOW_MS) recentScans.delete(seen);
  }
  const duplicate = recentScans.has(text);
  recentScans.set(text, now);
  return duplicate;
}

/** Forget every recent scan (e.g. when the user starts a new event). */
export function resetScanHistory() {
  recentScans.clear();
}

// ---------------------------------------------------------------------------
// Feedback

/** @type {AudioContext|null} */
let audioCtx = null;

/** Create or resume the AudioContext while we are (probably) inside the user's tap. */
function primeAudio() {
  try {
    const Ctx = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!Ctx) return;
    audioCtx ??= new Ctx();
    if (audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
  } catch {
    audioCtx = null;
  }
}

function feedback() {
  try {
    navigator.vibrate?.(80);
  } catch {
    // Vibration is a nicety; some browsers throw without user activation.
  }
  try {
    if (!audioCtx || audioCtx.state !== "running") return;
    const t = audioCtx.currentTime;
    const osc = audioCtx.createOscillator();
    const gain = audioCtx.createGain();
    osc.frequency.value = 1760;
    gain.gain.setValueAtTime(0.15, t);
    gain.gain.exponentialRampToValueAtTime(0.001, t + 0.09);
    osc.connect(gain).connect(audioCtx.destination);
    osc.start(t);
    osc.stop(t + 0.1);
  } catch {
    // A silent scan is still a scan.
  }
}

// ---------------------------------------------------------------------------
// Camera scanner

/**
 * @typedef {"starting"|"scanning"|"found"|"stopped"|"error"} ScanState
 */

/**
 * @typedef {object} Scanner
 * @property {() => Promise<boolean>} start  Open the camera and decode until a new QR code is
 *   seen. Resolves true once frames are being decoded, false if it failed (onError was
 *   called) or was stopped meanwhile. Never rejects. Call it from the user's tap.
 * @property {() => void} stop  Stop decoding and release the camera.
 * @property {() => Promise<boolean>} toggleTorch  Switch the torch; resolves to its new state.
 * @property {boolean} torchAvailable  Whether the camera has a torch (known after start).
 * @property {boolean} torchOn
 * @property {boolean} running  True from start() until stop(), a hit or an error.
 * @property {"native"|"zxing-wasm"|null} decoder  Which decoder is in use (after start).
 */

/**
 * Create a camera QR scanner bound to a <video> element.
 *
 * On a hit `onDecode(text)` is called once, with vibration and a short beep, and the camera
 * is released (unless `continuous`). A text already seen in the last 4 s is ignored.
 * @param {object} options
 * @param {HTMLVideoElement} options.video  Where the camera preview is shown.
 * @param {(text: string) => void} options.onDecode
 * @param {(error: ScanError) => void} [options.onError]
 * @param {(state: ScanState) => void} [options.onState]
 * @param {boolean} [options.continuous]  Keep scanning after a hit ("scan next" mode).
 * @returns {Scanner}
 */
export function createScanner({ video, onDecode, onError, onState, continuous = false }) {
  /** @type {MediaStream|null} */
  let stream = null;
  /** @type {MediaStreamTrack|null} */
  let track = null;
  /** @type {Detector|null} */
  let detector = null;
  let generation = 0; // bumps on every start/stop so stale async work can tell it is stale
  let frameHandle = null;
  let busy = false;

  const scanner = {
    running: false,
    torchAvailable: false,
    torchOn: false,
    decoder: null,
    start,
    stop,
    toggleTorch,
  };

  const setState = (state) => {
    try {
      onState?.(state);
    } catch (err) {
      console.error(err);
    }
  };

  const fail = (error) => {
    release();
    setState("error");
    try {
      onError?.(error);
    } catch (err) {
      console.error(err);
    }
  };

  function release() {
    generation += 1;
    scanner.running = false;
    cancelFrame();
    document.removeEventListener("visibilitychange", onVisibility);
    if (stream) {
      for (const t of stream.getTracks()) t.stop();
    }
    stream = null;
    track = null;
    scanner.torchOn = false;
    if (video.srcObject) {
      video.pause();
      video.srcObject = null;
    }
  }

  function onVisibility() {
    // Release the camera when the user switches app or locks the phone.
    if (document.hidden && scanner.running) stop();
  }

  async function start() {
    if (scanner.running) return true;
    const gen = ++generation;
    scanner.running = true;
    setState("starting");
    primeAudio();

    if (globalThis.isSecureContext === false) {
      fail(scanError("insecure"));
      return false;
    }
    if (!navigator.mediaDevices?.getUserMedia) {
      fail(scanError("no-camera"));
      return false;
    }

    // Fetch the decoder while the user answers the permission prompt.
    const detectorReady = loadDetector();
    detectorReady.catch(() => {});

    try {
      const media = await navigator.mediaDevices.getUserMedia({
        video: {
          facingMode: { ideal: "environment" },
          width: { ideal: 1280 },
          height: { ideal: 720 },
        },
        audio: false,
      });
      if (gen !== generation) {
        for (const t of media.getTracks()) t.stop();
        return false;
      }
      stream = media;
      [track] = media.getVideoTracks();
      scanner.torchAvailable = Boolean(track?.getCapabilities?.().torch);
      video.muted = true;
      video.playsInline = true; // iOS would otherwise go full screen
      video.setAttribute("playsinline", "");
      video.srcObject = media;
      await video.play();
    } catch (err) {
      if (gen === generation) fail(cameraError(err));
      return false;
    }

    try {
      detector = await detectorReady;
    } catch (err) {
      if (gen === generation) fail(scanError("decoder", err));
      return false;
    }
    if (gen !== generation) return false;
    scanner.decoder = detector.kind;
    document.addEventListener("visibilitychange", onVisibility);
    setState("scanning");
    requestFrame(gen);
    return true;
  }

  function requestFrame(gen) {
    const tick = () => onFrame(gen);
    if (typeof video.requestVideoFrameCallback === "function") {
      const id = video.requestVideoFrameCallback(tick);
      frameHandle = () => video.cancelVideoFrameCallback(id);
    } else {
      const id = requestAnimationFrame(tick);
      frameHandle = () => cancelAnimationFrame(id);
    }
  }

  function cancelFrame() {
    frameHandle?.();
    frameHandle = null;
  }

  function onFrame(gen) {
    if (gen !== generation) return;
    requestFrame(gen);
    // One decode at a time: frames that arrive while one is in flight are skipped.
    if (busy || video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) return;
    busy = true;
    detector
      .detect(video)
      .then((codes) => {
        if (gen !== generation) return;
        const text = firstQr(codes);
        if (text !== null && !isDuplicateScan(text)) hit(text);
      })
      .catch(() => {
        // A frame that cannot be read (e.g. mid-resize) is just skipped.
      })
      .finally(() => {
        busy = false;
      });
  }

  function hit(text) {
    if (!continuous) release();
    feedback();
    setState("found");
    try {
      onDecode(text);
    } catch (err) {
      console.error(err); // the page's bug, not a frame to skip silently
    }
    if (continuous && scanner.running) setState("scanning");
  }

  function stop() {
    const wasActive = scanner.running || stream !== null;
    release();
    if (wasActive) setState("stopped");
  }

  async function toggleTorch() {
    if (!track || !scanner.torchAvailable) return false;
    const on = !scanner.torchOn;
    try {
      await track.applyConstraints({ advanced: [{ torch: on }] });
      scanner.torchOn = on;
    } catch {
      // Some devices report a torch but refuse it while streaming; keep the old state.
    }
    return scanner.torchOn;
  }

  return scanner;
}

// ---------------------------------------------------------------------------
// Photo fallback

/** Longest side a photo is scaled down to before decoding. */
const PHOTO_MAX_SIDE = 1600;

/**
 * Decode the first QR code in a photo, e.g. from
 * `<input type="file" accept="image/*" capture="environment">`.
 * Large photos are scaled down to 1600 px on the long side first; if that finds nothing the
 * full-size image is tried. Resolves to the QR text, or null if there is none.
 * Rejects only if the decoder cannot be loaded.
 * @param {Blob} file
 * @returns {Promise<string|null>}
 */
export async function decodeImageFile(file) {
  const detector = await loadDetector();
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    // Formats the browser cannot draw (e.g. HEIC outside Safari): let the decoder try the bytes.
    return detectQuietly(detector, file);
  }
  try {
    const longSide = Math.max(bitmap.width, bitmap.height);
    if (longSide > PHOTO_MAX_SIDE) {
      const scaled = downscale(bitmap, PHOTO_MAX_SIDE / longSide);
      if (scaled) {
        const text = await detectQuietly(detector, scaled);
        if (text !== null) return text;
      }
    }
    return await detectQuietly(detector, bitmap);
  } finally {
    bitmap.close();
  }
}

/** @returns {Promise<string|null>} */
async function detectQuietly(detector, source) {
  try {
    return firstQr(await detector.detect(source));
  } catch {
    return null;
  }
}

/** @param {ImageBitmap} bitmap @param {number} scale @returns {OffscreenCanvas|HTMLCanvasElement|null} */
function downscale(bitmap, scale) {
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  try {
    let canvas;
    if (typeof OffscreenCanvas === "function") {
      canvas = new OffscreenCanvas(width, height);
    } else {
      canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, width, height);
    return canvas;
  } catch {
    return null;
  }
}
