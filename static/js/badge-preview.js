// Hookline badge preview: guess a name from a scanned QR text on the phone, before the server
// has parsed it. No framework, no build step, no dependencies.
//
// The server's parser (webapp/badges) is the authority: this module only mirrors it closely
// enough to agree on name, org and emails for every vector in tests/vectors/badges.json
// (tests/test_badge_preview_js.py checks that). It never throws and never builds markup:
// put its strings in the page with textContent, never innerHTML.
//
// Usage:
//   import { previewPayload } from "/static/js/badge-preview.js";
//   const { kind, name, org, emails } = previewPayload(text);

const MAX_BYTES = 4096;
// Python's str.split()/strip() whitespace, spelled out so both sides collapse the same runs
// (JavaScript's \s also matches U+FEFF, Python's does not).
const WS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUN = new RegExp(`[${WS}]+`, "g");
const WS_EDGES = new RegExp(`^[${WS}]+|[${WS}]+$`, "g");
const REFUSED_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;
const DECODED_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const EMAIL = new RegExp(
  "^[\\p{L}\\p{N}_.!#$%&'*+/=?^`{|}~-]+@" +
    "(?:[\\p{L}\\p{N}](?:[\\p{L}\\p{N}_-]*[\\p{L}\\p{N}])?\\.)+" +
    "(?:xn--[\\p{L}\\p{N}_-]+|[\\p{L}\\p{Nl}\\p{No}]{2,})$",
  "u",
);
const NAMED_EMAIL = new RegExp(`^"?([^"<>]*?)"?[${WS}]*<([^<>${WS}]+)>$`);
const PROPERTY = /^(?:[A-Za-z0-9-]+\.)?[A-Za-z0-9-]+(?:;[^:]*)?:/;
const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]/;
const ID_PREFIX = /^[A-Za-z0-9_-]{1,64}$/;
const IGNORED_PREFIXES = [
  "WIFI:", "GEO:", "BEGIN:VEVENT", "BEGIN:VCALENDAR", "BEGIN:VTODO", "SMSTO:", "SMS:",
  "MMSTO:", "MMS:", "MEBKM:", "MARKET:", "BITCOIN:", "ETHEREUM:", "LIGHTNING:", "OTPAUTH:",
  "FACETIME:", "SPOTIFY:", "JAVASCRIPT:", "VBSCRIPT:", "DATA:", "FILE:", "BLOB:", "ABOUT:",
  "INTENT:", "BCD\n", "BCD\r\n",
];
const OTHER_SCHEME = /^(?!https?:\/\/)[A-Za-z][A-Za-z0-9+.-]*:\/\//i;
const URL_START = /^(?:https?:\/\/|www\.|linkedin:\/\/in\/)/i;
// JSON keys, lower-cased with everything but letters and digits removed (as on the server).
const JSON_NAME = ["name", "fullname", "displayname", "fn", "attendeename"];
const JSON_GIVEN = ["firstname", "givenname", "first", "fname", "forename"];
const JSON_FAMILY = ["lastname", "familyname", "surname", "last", "lname"];
const JSON_ORG = ["company", "companyname", "organization", "organisation", "org", "employer"];
const JSON_EMAIL = ["email", "emails", "emailaddress", "mail", "workemail"];
const JSON_WRAPPERS = ["attendee", "profile", "contact", "person", "user", "data", "badge"];

/** Trim Python-style whitespace from both ends. */
const strip = (s) => s.replace(WS_EDGES, "");

/** Collapse every whitespace run to one space and trim. */
const oneLine = (s) => strip(s.replace(WS_RUN, " "));

/** A fresh, empty set of fields. */
const emptyCard = () => ({ name: "", given: "", family: "", org: "", emails: [] });

/** Decode bytes in the declared charset, then UTF-8, then Latin-1 (which always works). */
function decodeBytes(bytes, charset) {
  for (const label of [charset, "utf-8"]) {
    try {
      return new TextDecoder(label, { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      // unknown label or bytes that are not in it: try the next one
    }
  }
  return Array.from(bytes, (b) => String.fromCharCode(b)).join("");
}

/** Decode %XX runs as UTF-8, leaving malformed escapes alone (like Python's unquote). */
function unquote(s) {
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  });
}

/** Decode a quoted-printable value in its charset. */
function decodeQp(value, charset) {
  const src = new TextEncoder().encode(value);
  const out = [];
  const hex = (b) => (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102);
  for (let i = 0; i < src.length; i += 1) {
    if (src[i] === 61 && i + 2 < src.length + 0 && hex(src[i + 1]) && hex(src[i + 2])) {
      out.push(parseInt(String.fromCharCode(src[i + 1], src[i + 2]), 16));
      i += 2;
    } else if (src[i] === 61 && i === src.length - 1) {
      // a soft line break at the very end
    } else {
      out.push(src[i]);
    }
  }
  return decodeBytes(new Uint8Array(out), charset).replace(DECODED_CONTROL, "");
}

/** Split on sep where it is not escaped by a backslash; escapes stay in place. */
function splitEscaped(value, sep) {
  const parts = [];
  let current = "";
  const chars = Array.from(value);
  for (let i = 0; i < chars.length; i += 1) {
    if (chars[i] === "\\" && i + 1 < chars.length) {
      current += chars[i] + chars[i + 1];
      i += 1;
    } else if (chars[i] === sep) {
      parts.push(current);
      current = "";
    } else {
      current += chars[i];
    }
  }
  parts.push(current);
  return parts;
}

/** Undo vCard/MECARD backslash escapes (\n is a newline, \x is x). */
const unescape = (s) => s.replace(/\\([^\n])/gu, (_, c) => (c === "n" || c === "N" ? "\n" : c));

/** Split a structured value and unescape each part. */
const components = (value, sep = ";") => splitEscaped(value, sep).map((p) => strip(unescape(p)));

/** Return the address with a lower-cased domain, or null if it does not look like one. */
function cleanEmail(value) {
  let v = strip(value);
  if (v.slice(0, 7).toLowerCase() === "mailto:") v = strip(unquote(v.slice(7)).split("?")[0]);
  v = strip(v.replace(/^[<>]+|[<>]+$/g, ""));
  if (!EMAIL.test(v)) return null;
  const at = v.lastIndexOf("@");
  return `${v.slice(0, at)}@${v.slice(at + 1).toLowerCase()}`;
}

/** Keep an address once (the same mailbox in any case only once). */
function addEmail(card, value) {
  const email = cleanEmail(value);
  if (email && !card.emails.some((e) => e.toLowerCase() === email.toLowerCase())) card.emails.push(email);
}

/** Build a display name from parts, family name first for CJK names. */
function composeName(given, family, middle = "", prefix = "", suffix = "") {
  const parts = CJK.test(given + family) ? [prefix, family, given, middle, suffix] : [prefix, given, middle, family, suffix];
  return oneLine(parts.join(" "));
}

/** Tell whether a content line declares quoted-printable encoding. */
const isQp = (line) => line.split(":")[0].toUpperCase().includes("QUOTED-PRINTABLE");

/** Unfold lines, tolerating quoted-printable soft breaks and folds that lost their space. */
function logicalLines(text) {
  const lines = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].endsWith("=") && isQp(lines[last])) {
      lines[last] = lines[last].slice(0, -1) + line.replace(/^[ \t]+/, "");
    } else if (last >= 0 && (line[0] === " " || line[0] === "\t" || (strip(line) && !PROPERTY.test(line)))) {
      lines[last] += line[0] === " " || line[0] === "\t" ? line.slice(1) : line;
    } else if (strip(line)) {
      lines.push(line);
    }
  }
  return lines;
}

/** Read the charset and encodings of a ;-separated parameter list. */
function readParams(raw) {
  const params = { CHARSET: [], ENCODING: [] };
  for (const item of raw) {
    const eq = item.indexOf("=");
    let key = eq < 0 ? "TYPE" : strip(item.slice(0, eq)).toUpperCase();
    const val = eq < 0 ? item : item.slice(eq + 1);
    if (eq < 0 && ["QUOTED-PRINTABLE", "BASE64"].includes(strip(item).toUpperCase())) key = "ENCODING";
    if (key in params) params[key].push(...val.split(",").map((v) => strip(v).replace(/^"+|"+$/g, "")));
  }
  return params;
}

/** Read the first vCard in text. */
function parseVcard(text) {
  const card = emptyCard();
  let fn = "";
  let seen = 0;
  for (const line of logicalLines(text)) {
    const colon = line.indexOf(":");
    const head = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    const [rawName, ...rawParams] = head.split(";");
    const name = rawName.slice(rawName.lastIndexOf(".") + 1).toUpperCase();
    if (name === "END" && strip(value).toUpperCase() === "VCARD" && seen) break;
    seen += 1;
    const params = readParams(rawParams);
    const encoding = params.ENCODING.map((e) => e.toUpperCase());
    if (encoding.includes("QUOTED-PRINTABLE")) value = decodeQp(value, params.CHARSET[0] || "utf-8");
    else if (encoding.length) continue;
    if (name === "FN") fn = fn || strip(unescape(value));
    else if (name === "N") {
      const [family, given, middle, prefix, suffix] = [...components(value), "", "", "", "", ""];
      card.given = card.given || given;
      card.family = card.family || family;
      card.name = card.name || composeName(given, family, middle, prefix, suffix);
    } else if (name === "ORG") card.org = card.org || components(value)[0];
    else if (name === "EMAIL") addEmail(card, unescape(value));
  }
  card.name = fn || card.name;
  return card;
}

/** Split "KEY:value;KEY:value;;" into [KEY, escaped value] pairs. */
function fields(body) {
  const pairs = [];
  for (const part of splitEscaped(body, ";")) {
    const colon = part.indexOf(":");
    if (colon >= 0) pairs.push([strip(part.slice(0, colon)).toUpperCase(), part.slice(colon + 1)]);
  }
  return pairs;
}

/** Read the fields after "MECARD:" (N is "Last,First"). */
function parseMecard(body) {
  const card = emptyCard();
  for (const [key, value] of fields(body)) {
    if (key === "N" && !(card.name || card.family)) {
      const names = components(value, ",");
      if (names.length > 1) [card.family, card.given] = names;
      else card.name = strip(unescape(value));
    } else if (key === "ORG") card.org = card.org || strip(unescape(value));
    else if (key === "EMAIL") addEmail(card, strip(unescape(value)));
  }
  return card;
}

/** Read the fields after "BIZCARD:" (N first name, X last name, C company). */
function parseBizcard(body) {
  const card = emptyCard();
  for (const [key, value] of fields(body)) {
    const text = strip(unescape(value));
    if (key === "N") card.given = card.given || text;
    else if (key === "X") card.family = card.family || text;
    else if (key === "C") card.org = card.org || text;
    else if (key === "E") addEmail(card, text);
  }
  return card;
}

/** Take the recipient of a MATMSG e-mail. */
function parseMatmsg(body) {
  const card = emptyCard();
  for (const [key, value] of fields(body)) {
    if (key === "TO") unescape(value).split(",").forEach((a) => addEmail(card, a));
  }
  return card;
}

/** Take the recipients of a mailto: URI (path and to= query). */
function parseMailto(text) {
  const card = emptyCard();
  const rest = text.slice(7);
  const q = rest.indexOf("?");
  const recipients = unquote(q < 0 ? rest : rest.slice(0, q)).split(",");
  if (q >= 0) {
    for (const [key, val] of new URLSearchParams(rest.slice(q + 1))) {
      if (key.toLowerCase() === "to" && val) recipients.push(...val.split(","));
    }
  }
  recipients.forEach((a) => addEmail(card, a));
  return card;
}

/** Read a bare address or "Name <address>", or return null. */
function parseNamedEmail(text) {
  const match = NAMED_EMAIL.exec(text);
  const [name, address] = match ? [strip(match[1]), match[2]] : ["", text];
  if (!cleanEmail(address) || address.toLowerCase().startsWith("mailto:")) return null;
  const card = { ...emptyCard(), name };
  addEmail(card, address);
  return card;
}

/** Read "ID::last::first::company::email[::more]", or return null. */
function parseIdBadge(text) {
  if (text.includes("\n")) return null;
  const parts = text.split("::").map(strip);
  if (parts.length < 4 || !ID_PREFIX.test(parts[0]) || !/\p{L}/u.test(parts[1] + parts[2])) return null;
  const card = { ...emptyCard(), family: parts[1], given: parts[2], org: parts[3] };
  parts.slice(4).forEach((extra) => extra.includes("@") && addEmail(card, extra));
  return card;
}

/**
 * Return the text of a JSON string (or integer, if allowed), or of a list of them. JSON's
 * escapes can spell control characters and lone surrogates, which the QR text itself may
 * not hold: they are dropped, as the server's parser drops them.
 */
const scalars = (value, numbers) =>
  (Array.isArray(value) ? value : [value])
    .filter((v) => typeof v === "string" || (numbers && Number.isInteger(v)))
    .map((v) => String(v).replace(DECODED_CONTROL, "").replace(LONE_SURROGATE, ""));

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** Copy the known keys of one JSON object, then those of wrapper objects inside it. */
function readObject(card, obj, depth = 0) {
  const inner = [];
  const slots = [[JSON_NAME, "name"], [JSON_GIVEN, "given"], [JSON_FAMILY, "family"], [JSON_ORG, "org"]];
  for (const [key, value] of Object.entries(obj)) {
    const norm = key.toLowerCase().replace(/[^a-z0-9]/g, "");
    if (isObject(value) && (JSON_WRAPPERS.includes(norm) || norm === "name")) {
      inner.push(value);
      continue;
    }
    const slot = slots.find(([keys]) => keys.includes(norm));
    const texts = scalars(value, !slot);
    if (slot && texts.length && !card[slot[1]]) card[slot[1]] = strip(texts[0]);
    else if (!slot && JSON_EMAIL.includes(norm)) texts.forEach((t) => addEmail(card, t));
  }
  if (depth < 2) inner.forEach((value) => readObject(card, value, depth + 1));
}

/** Read a JSON badge object, or return null if the text is not one. */
function parseJson(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(data)) return null;
  const card = emptyCard();
  readObject(card, data);
  return card;
}

/** Pick the format of a stripped payload and read the fields the preview shows. */
function recognise(body) {
  const upper = body.slice(0, 16).toUpperCase();
  if (IGNORED_PREFIXES.some((p) => upper.startsWith(p))) return ["ignored", emptyCard()];
  const prefixed = [
    ["BEGIN:VCARD", "vcard", parseVcard],
    ["MECARD:", "mecard", (b) => parseMecard(b.slice(7))],
    ["BIZCARD:", "bizcard", (b) => parseBizcard(b.slice(8))],
    ["MATMSG:", "email", (b) => parseMatmsg(b.slice(7))],
    ["MAILTO:", "email", parseMailto],
    ["TEL:", "tel", emptyCard],
  ];
  for (const [prefix, kind, reader] of prefixed) {
    if (upper.startsWith(prefix)) return [kind, reader(body)];
  }
  const json = body.startsWith("{") ? parseJson(body) : null;
  if (json) return ["json", json];
  // The server drops web links it cannot use; the preview only needs to know that no
  // name, org or address comes from a link (LinkedIn profiles included).
  if (URL_START.test(body) && !new RegExp(`[${WS}]`).test(body)) return ["url", emptyCard()];
  for (const [kind, guess] of [["id_badge", parseIdBadge], ["email", parseNamedEmail]]) {
    const card = guess(body);
    if (card) return [kind, card];
  }
  if (OTHER_SCHEME.test(body)) return ["ignored", emptyCard()];
  return ["text", emptyCard()];
}

/**
 * Preview a scanned QR text as {kind, name, org, emails}; never throws.
 *
 * Text the server would refuse (over 4 KB, control characters) previews as "ignored".
 */
export function previewPayload(text) {
  const nothing = { kind: "text", name: "", org: "", emails: [] };
  try {
    if (typeof text !== "string") return nothing;
    if (new TextEncoder().encode(text).length > MAX_BYTES || REFUSED_CONTROL.test(text)) {
      return { ...nothing, kind: "ignored" };
    }
    const [kind, card] = recognise(strip(text.replace(/^\ufeff+/, "")));
    const given = oneLine(card.given);
    const family = oneLine(card.family);
    return {
      kind,
      name: oneLine(card.name) || composeName(given, family),
      org: oneLine(card.org),
      emails: card.emails,
    };
  } catch {
    return nothing;
  }
}
