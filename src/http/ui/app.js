// loggerator's page: the query API in a browser. No framework and no build step; it asks the
// API only for what it shows: a page of lines, the count, a histogram, four short top lists.
"use strict";

const FILTERS = ["code", "method", "user", "ip", "path", "q", "source", "since", "until", "order"];
const PAGE_ROWS = 50;
const TOP_ROWS = 8;
const TAIL_ROWS = 500; // live lines kept on the page; older ones leave it
const HOUR = 3600;
const DAY = 86400;
const TOKEN_KEY = "loggerator-token";
// What /stats and /logs/count read at most before refusing (see README, `GET /stats`): the
// page asks only for what can be answered, since a refusal costs the service that much work.
const LINE_SCAN_MAX = 500000;
const KEY_SCAN_MAX = 2000000;

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en");

const state = {
  view: "logs",
  next: null, // the Link of the last page shown
  rejectedNext: null,
  generation: 0, // bumped by each query, so that late answers of an older one are dropped
  tail: null,
  histogram: null,
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { headers });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const message = (body && body.error) || response.statusText;
    const error = new ApiError(response.status, message);
    if (response.status === 401 || response.status === 403) authProblem(error);
    throw error;
  }
  return { body, next: nextLink(response.headers.get("Link")) };
}

function nextLink(header) {
  const match = header && header.match(/<([^>]+)>;\s*rel="next"/);
  if (!match) return null;
  const url = new URL(match[1], location.href);
  return url.pathname + url.search;
}

// --- messages and tokens -------------------------------------------------------------------

function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

function authProblem(error) {
  if (error.status === 401) {
    showMessage(`401: ${error.message}`);
    $("token-reason").textContent = token()
      ? "The token was not accepted. Enter another."
      : "This service needs a token to show its logs.";
    if (!$("token-dialog").open) $("token-dialog").showModal();
  } else {
    showMessage(`403: ${error.message}`);
  }
}

function setUpToken() {
  $("token-button").addEventListener("click", () => {
    $("token-reason").textContent = token() ? "A token is in use for this tab." : "No token is in use.";
    $("token-dialog").showModal();
  });
  $("token-form").addEventListener("submit", () => {
    const value = $("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token-input").value = "";
    showMessage("");
    show(state.view, false);
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("token-dialog").close();
    show(state.view, false);
  });
}

// --- the query in the form and in the URL -------------------------------------------------

function formQuery() {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    if (REPEATED.includes(name)) {
      for (const input of inputsOf(name)) if (input.value.trim()) params.append(name, input.value.trim());
      continue;
    }
    let value = $(`f-${name}`).value.trim();
    if ((name === "since" || name === "until") && value) value = instantOf(value);
    if (value) params.set(name, value);
  }
  return params;
}

// The API takes user, path and q several times (any of them matches) but not as comma lists,
// since a name, a path or a text may hold a comma: each value has an input of its own.
const REPEATED = ["user", "path", "q"];

function inputsOf(name) {
  return [...document.querySelectorAll(`#m-${name} input`)];
}

function addValueInput(name, value) {
  const field = $(`m-${name}`);
  const noun = field.dataset.noun;
  const row = document.createElement("div");
  row.className = "value extra";
  const input = document.createElement("input");
  input.name = name;
  input.autocomplete = "off";
  input.value = value;
  input.setAttribute("aria-label", `Or ${noun}`);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "quiet remove";
  remove.textContent = "×";
  remove.setAttribute("aria-label", `Remove this ${noun}`);
  remove.title = `Remove this ${noun}`;
  remove.addEventListener("click", () => {
    row.remove();
    $(`f-${name}`).focus();
  });
  row.append(input, remove);
  field.append(row);
  return input;
}

// A field's values, replacing what it held: the first in its own input, the rest added.
function setField(name, values) {
  if (!REPEATED.includes(name)) {
    // Repeats of a comma-list filter (`code=500&code=404`) mean what the comma list means.
    $(`f-${name}`).value = values.join(",");
    return;
  }
  for (const extra of document.querySelectorAll(`#m-${name} .extra`)) extra.remove();
  $(`f-${name}`).value = values[0] || "";
  for (const value of values.slice(1)) addValueInput(name, value);
}

// "2000-07-12 14:00" (what people type) as the API's RFC 3339, in UTC like every date here.
function instantOf(text) {
  const match = text.match(/^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/);
  return match ? `${match[1]}T${match[2]}:${match[3]}:${match[4] || "00"}Z` : text;
}

function fillForm(params) {
  for (const name of FILTERS) setField(name, params.getAll(name));
}

function pageUrl(params) {
  const all = new URLSearchParams(params);
  if (state.view !== "logs") all.set("view", state.view);
  const search = all.toString();
  return search ? `?${search}` : location.pathname;
}

// The query for the API; `order` only where it means something (a listing, an export).
function apiQuery(extra, listing) {
  const params = formQuery();
  if (!listing) params.delete("order");
  for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
  return params.toString();
}

// --- the logs view ------------------------------------------------------------------------

async function runQuery(push) {
  const params = formQuery();
  if (push) history.pushState(null, "", pageUrl(params));
  showMessage("");
  const generation = ++state.generation;
  setDownloads();
  const counted = loadCount(generation);
  // With path or q every breakdown reads lines; without, only by=path does (and by=ip, keys).
  const readsLines = params.has("path") || params.has("q");
  // "ok" when the count is known and at most `max`; "too-many" past it, or when the count
  // itself was refused as too large; "failed" when there is no count for another reason.
  const within = (max) => counted.then((n) => (n === undefined ? "failed" : n !== null && n <= max ? "ok" : "too-many"));
  const gated = (max, load, refuse) =>
    within(max).then((verdict) => (verdict === "ok" ? load() : verdict === "too-many" ? refuse() : undefined));
  const jobs = [
    loadRows(generation),
    counted,
    readsLines ? gated(LINE_SCAN_MAX, () => loadHistogram(generation), () => noHistogram(generation)) : loadHistogram(generation),
  ];
  for (const key of ["user", "code", "path", "ip"]) {
    const max = readsLines || key === "path" ? LINE_SCAN_MAX : key === "ip" ? KEY_SCAN_MAX : null;
    if (max === null) jobs.push(loadTop(key, generation));
    else {
      $(`top-${key}`).replaceChildren();
      jobs.push(gated(max, () => loadTop(key, generation), () => tooMany(key, generation)));
    }
  }
  // Live lines arrive newest last: they belong on top of a newest-first listing only.
  const oldestFirst = params.get("order") === "asc";
  $("tail-switch").disabled = oldestFirst;
  $("tail-switch").parentElement.title = oldestFirst ? "Live tail shows the newest lines first: order by newest first to use it" : "";
  if (oldestFirst && $("tail-switch").checked) {
    $("tail-switch").checked = false;
    stopTail();
    $("tail-pause").hidden = true;
  }
  if ($("tail-switch").checked) startTail();
  const [rows] = await Promise.allSettled(jobs);
  if (rows.status === "fulfilled" && rows.value === "invalid") invalidQuery(generation);
}

function report(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return;
  if (error instanceof ApiError && error.status === 400) showMessage(`The query is not valid: ${error.message}`);
  else if (error instanceof ApiError) showMessage(`The service answered ${error.status}: ${error.message}`);
  else showMessage(`The service could not be reached: ${error.message}`);
}

// After a refused page the other answers mean nothing: they are cleared, not shown as results.
function invalidQuery(generation) {
  if (generation !== state.generation) return;
  $("count").textContent = "No results";
  delete $("count").dataset.count;
  drawHistogram([], DAILY, "—");
  $("histogram-note").hidden = true;
  for (const key of ["user", "code", "path", "ip"]) $(`top-${key}`).replaceChildren(note("—"));
  for (const id of ["dl-ndjson", "dl-csv", "dl-text"]) $(id).removeAttribute("href");
}

async function loadRows(generation) {
  const body = document.querySelector("#rows tbody");
  $("more").hidden = true;
  try {
    const page = await api(`/logs?${apiQuery({ limit: PAGE_ROWS }, true)}`);
    if (generation !== state.generation) return;
    body.replaceChildren(...page.body.map(rowOf));
    state.next = page.next;
    $("more").hidden = !page.next;
    // For measuring the first paint with results (see README, "Web page").
    if (!performance.getEntriesByName("rows-shown").length) performance.mark("rows-shown");
  } catch (error) {
    if (generation === state.generation) {
      body.replaceChildren();
      report(error);
    }
    if (error instanceof ApiError && error.status === 400) return "invalid";
  }
  return "ok";
}

async function loadMore() {
  if (!state.next) return;
  const generation = state.generation;
  $("more").disabled = true;
  try {
    const page = await api(state.next);
    if (generation !== state.generation) return;
    document.querySelector("#rows tbody").append(...page.body.map(rowOf));
    state.next = page.next;
    $("more").hidden = !page.next;
  } catch (error) {
    report(error);
  } finally {
    $("more").disabled = false;
  }
}

// The count of matches, shown; resolves to it, to null when it was refused as too large to
// count, or to undefined when there is none for another reason.
async function loadCount(generation) {
  const count = $("count");
  count.textContent = "…";
  try {
    const answer = await api(`/logs/count?${apiQuery()}`);
    if (generation !== state.generation) return null;
    count.dataset.count = answer.body.count;
    count.textContent = `${fmt.format(answer.body.count)} matching ${answer.body.count === 1 ? "line" : "lines"}`;
    return answer.body.count;
  } catch (error) {
    if (generation !== state.generation) return null;
    delete count.dataset.count;
    const tooMany = error instanceof ApiError && error.status === 400;
    count.textContent = tooMany ? "Matching lines (too many to count with these filters)" : "Matching lines";
    return tooMany ? null : undefined;
  }
}

function classOf(code) {
  return `c${String(code)[0]}xx`;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "-" : String(text);
  if (className) td.className = className;
  return td;
}

function rowOf(row) {
  const tr = document.createElement("tr");
  tr.dataset.id = row.id;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "expand";
  toggle.textContent = "▸";
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-label", `Details of line ${row.id}`);
  toggle.addEventListener("click", (event) => {
    event.stopPropagation();
    toggleDetail(tr, toggle, row);
  });
  // Anywhere on the row opens it too, unless text is being selected.
  tr.addEventListener("click", () => {
    if (!String(window.getSelection())) toggleDetail(tr, toggle, row);
  });
  const first = document.createElement("td");
  first.append(toggle);
  tr.append(
    first,
    cell(row.date.replace("T", " ").replace("Z", "")),
    cell(row.code, `code ${classOf(row.code)}`),
    cell(row.method),
    cell(row.url, "url"),
    cell(row.user),
    cell(row.ip),
    cell(row.size === null ? "-" : fmt.format(row.size), "num"),
    cell(row.source),
  );
  return tr;
}

function toggleDetail(tr, toggle, row) {
  const open = toggle.getAttribute("aria-expanded") === "true";
  if (open) {
    tr.nextElementSibling.remove();
  } else {
    const detail = document.createElement("tr");
    detail.className = "detail";
    const td = document.createElement("td");
    td.colSpan = 9;
    const list = document.createElement("dl");
    for (const [name, value] of Object.entries(row)) {
      if (name === "line") continue;
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value === null ? "-" : String(value);
      list.append(dt, dd);
    }
    const line = document.createElement("pre");
    line.className = "line";
    line.textContent = row.line;
    td.append(list, line);
    detail.append(td);
    tr.after(detail);
  }
  toggle.setAttribute("aria-expanded", String(!open));
  toggle.textContent = open ? "▸" : "▾";
}

const DOWNLOAD_EXTENSIONS = { ndjson: "ndjson", csv: "csv", text: "log" };

// Named after the time of the query (UTC), so that downloads of several queries do not
// overwrite each other: loggerator-20261128-130512.csv.
function setDownloads() {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  for (const id of ["dl-ndjson", "dl-csv", "dl-text"]) {
    const link = $(id);
    link.href = `/logs?${apiQuery({ format: link.dataset.format }, true)}`;
    link.download = `loggerator-${stamp}.${DOWNLOAD_EXTENSIONS[link.dataset.format]}`;
  }
}

// With a token the download cannot be a plain link (it would go without the header): it is
// fetched, then saved. Without one the browser streams it to disk.
async function download(event) {
  if (!token()) return;
  event.preventDefault();
  const link = event.currentTarget;
  try {
    const response = await fetch(link.href, { headers: { Authorization: `Bearer ${token()}` } });
    if (!response.ok) throw new ApiError(response.status, (await response.json()).error);
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = link.getAttribute("download");
    save.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    report(error);
  }
}

// --- histogram ----------------------------------------------------------------------------

function parseInstant(text) {
  if (!text) return null;
  const value = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms / 1000;
}

// Bucket lengths the histogram picks from (`interval` of /stats), each at most 2.5 times the
// one before, so that the first one giving at most MAX_BARS bars gives about 40 or more (for
// ranges longer than 40 minutes).
const INTERVALS = [
  ["1m", 60], ["2m", 120], ["5m", 300], ["10m", 600], ["15m", 900], ["30m", 1800],
  ["1h", HOUR], ["2h", 2 * HOUR], ["3h", 3 * HOUR], ["6h", 6 * HOUR], ["12h", 12 * HOUR],
  ["1d", DAY], ["2d", 2 * DAY], ["4d", 4 * DAY], ["7d", 7 * DAY], ["14d", 14 * DAY],
  ["30d", 30 * DAY], ["60d", 60 * DAY], ["90d", 90 * DAY], ["180d", 180 * DAY], ["366d", 366 * DAY],
].map(([name, seconds]) => ({ name, seconds }));
const MAX_BARS = 100;
// What an empty chart is labelled with.
const DAILY = INTERVALS.find((i) => i.name === "1d");

// The intervals to ask for, in turn, for a range: the first whose bars (counted from the
// multiples of it the range touches, as they are drawn) are at most MAX_BARS, then the first
// that the hourly counts hold and the first that the daily counts hold, since a finer one is
// grouped from the keys and /stats refuses that past its cap.
function histogramIntervals({ since, until }) {
  const bars = (i) => Math.ceil(until / i.seconds) - Math.floor(since / i.seconds);
  const fits = INTERVALS.findIndex((i) => bars(i) <= MAX_BARS);
  const from = INTERVALS.slice(fits === -1 ? INTERVALS.length - 1 : fits);
  const tries = [from[0], from.find((i) => i.seconds % HOUR === 0), from.find((i) => i.seconds % DAY === 0)];
  return tries.filter((i, n) => i && tries.indexOf(i) === n);
}

// The range the histogram spans: since/until as given, an open end taken from the first or
// last day that has lines matching the filters the daily counts answer (a path, text or address
// filter would make /stats read lines or keys: the range then may have empty ends); null when
// no day has.
async function histogramRange() {
  const query = formQuery();
  let since = parseInstant(query.get("since"));
  let until = parseInstant(query.get("until"));
  if (since === null || until === null) {
    const days = new URLSearchParams(apiQuery({ by: "day", limit: 100000 }));
    for (const name of ["path", "q", "ip"]) days.delete(name);
    const found = (await api(`/stats?${days}`)).body
      .map((group) => parseInstant(group.key))
      .filter((t) => t !== null);
    if (found.length === 0) return null;
    if (since === null) since = found.reduce((a, b) => Math.min(a, b));
    if (until === null) until = found.reduce((a, b) => Math.max(a, b)) + DAY;
  }
  return { since, until };
}

async function loadHistogram(generation) {
  let interval = DAILY;
  let answer = { body: [] };
  try {
    const range = await histogramRange();
    const tries = range ? histogramIntervals(range) : [];
    for (const [n, next] of tries.entries()) {
      if (generation !== state.generation) return;
      interval = next;
      try {
        answer = await api(`/stats?${apiQuery({ by: "time,class", interval: interval.name, limit: 5000 })}`);
        break;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 400 && n + 1 < tries.length)) throw error;
      }
    }
  } catch (error) {
    if (generation !== state.generation) return;
    drawHistogram([], interval);
    $("histogram-note").hidden = false;
    $("histogram-note").textContent = error instanceof ApiError && error.status === 400 ? `No histogram for these filters: ${error.message}` : "";
    return;
  }
  if (generation !== state.generation) return;
  $("histogram-note").hidden = true;
  drawHistogram(answer.body, interval);
}

// "15 minutes", "6 hours", "day", "7 days".
function intervalText(interval) {
  const n = parseInt(interval.name, 10);
  const unit = { m: "minute", h: "hour", d: "day" }[interval.name.slice(-1)];
  return n === 1 ? unit : `${n} ${unit}s`;
}

const SVG = "http://www.w3.org/2000/svg";

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function drawHistogram(groups, interval, empty) {
  const step = interval.seconds;
  // Bars of less than a day are named to the minute.
  const shown = step < DAY ? 16 : 10;
  $("histogram-unit").textContent = `(per ${intervalText(interval)}, by status class)`;
  const buckets = new Map();
  for (const group of groups) {
    const start = parseInstant(group.key[0]);
    if (start === null) continue;
    const bucket = buckets.get(start) || { start, total: 0, classes: {} };
    bucket.classes[group.key[1]] = (bucket.classes[group.key[1]] || 0) + group.count;
    bucket.total += group.count;
    buckets.set(start, bucket);
  }
  const list = [...buckets.values()].sort((a, b) => a.start - b.start);
  const chart = $("histogram");
  const width = Math.max(chart.clientWidth, 300);
  const height = 150;
  const pad = { left: 4, right: 4, top: 6, bottom: 18 };
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "Matching lines over time" });
  state.histogram = null;
  if (list.length === 0) {
    const text = svgElement("text", { x: width / 2, y: height / 2, "text-anchor": "middle" });
    text.textContent = empty || "No lines match.";
    svg.append(text);
    chart.replaceChildren(svg);
    return;
  }
  // The axis spans the range asked for, empty buckets included, else the buckets found.
  const since = parseInstant(formQuery().get("since"));
  const until = parseInstant(formQuery().get("until"));
  const floor = (t) => Math.floor(t / step) * step;
  const from = since !== null ? Math.min(floor(since), list[0].start) : list[0].start;
  const to = until !== null ? Math.max(Math.ceil(until / step) * step, list[list.length - 1].start + step) : list[list.length - 1].start + step;
  const span = to - from;
  const x = (t) => pad.left + ((t - from) / span) * (width - pad.left - pad.right);
  const max = Math.max(...list.map((b) => b.total));
  const y = (n) => ((height - pad.top - pad.bottom) * n) / max;
  const barWidth = Math.max(1, x(from + step) - x(from) - 1);
  for (const bucket of list) {
    let top = height - pad.bottom;
    const group = svgElement("g", {});
    for (const cls of ["2xx", "3xx", "1xx", "4xx", "5xx"]) {
      const n = bucket.classes[cls] || 0;
      if (!n) continue;
      const h = Math.max(y(n), 2);
      top -= h;
      group.append(svgElement("rect", { x: x(bucket.start), y: top, width: barWidth, height: h, class: `c${cls}` }));
    }
    // One focusable target per bucket: Enter narrows the range to it.
    const label = `${new Date(bucket.start * 1000).toISOString().slice(0, shown).replace("T", " ")}: ${fmt.format(bucket.total)} ${bucket.total === 1 ? "line" : "lines"}`;
    const target = svgElement("rect", {
      x: x(bucket.start), y: pad.top, width: barWidth, height: height - pad.top - pad.bottom,
      fill: "transparent", class: "bar", tabindex: "0", role: "button", "aria-label": label,
      "data-start": bucket.start,
    });
    const title = svgElement("title", {});
    title.textContent = label;
    target.append(title);
    target.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        narrow(bucket.start, bucket.start + step);
      }
    });
    group.append(target);
    svg.append(group);
  }
  for (const t of [from, to]) {
    const text = svgElement("text", { x: t === from ? pad.left : width - pad.right, y: height - 4, "text-anchor": t === from ? "start" : "end" });
    text.textContent = new Date(t * 1000).toISOString().slice(0, shown).replace("T", " ");
    svg.append(text);
  }
  const selection = svgElement("rect", { class: "selection", y: 0, height, width: 0, x: 0, visibility: "hidden" });
  svg.append(selection);
  chart.replaceChildren(svg);
  state.histogram = { svg, selection, from, step, span, width, pad, toTime: (px) => from + ((px - pad.left) / (width - pad.left - pad.right)) * span };
}

function svgX(event) {
  const box = state.histogram.svg.getBoundingClientRect();
  return ((event.clientX - box.left) / box.width) * state.histogram.width;
}

function setUpHistogramDrag() {
  const chart = $("histogram");
  let start = null;
  chart.addEventListener("pointerdown", (event) => {
    if (!state.histogram) return;
    start = svgX(event);
    chart.setPointerCapture(event.pointerId);
  });
  chart.addEventListener("pointermove", (event) => {
    if (start === null || !state.histogram) return;
    const now = svgX(event);
    const { selection } = state.histogram;
    selection.setAttribute("x", Math.min(start, now));
    selection.setAttribute("width", Math.abs(now - start));
    selection.setAttribute("visibility", "visible");
  });
  chart.addEventListener("pointerup", (event) => {
    if (start === null || !state.histogram) return;
    const end = svgX(event);
    const h = state.histogram;
    const [a, b] = [Math.min(start, end), Math.max(start, end)];
    start = null;
    h.selection.setAttribute("visibility", "hidden");
    // A click picks its bucket; a drag, the buckets it crossed.
    const first = Math.floor((h.toTime(a) - h.from) / h.step) * h.step + h.from;
    const last = Math.floor((h.toTime(b) - h.from) / h.step) * h.step + h.from + h.step;
    narrow(Math.max(first, h.from), Math.min(last, h.from + h.span));
  });
}

function narrow(since, until) {
  const iso = (t) => new Date(t * 1000).toISOString().replace(".000Z", "Z");
  $("f-since").value = iso(since);
  $("f-until").value = iso(until);
  runQuery(true);
}

function noHistogram(generation) {
  if (generation !== state.generation) return;
  drawHistogram([], DAILY);
  $("histogram-note").hidden = false;
  $("histogram-note").textContent = "Too many lines to chart with a path or text filter; narrow the query with other filters or a time range.";
}

// --- top values ---------------------------------------------------------------------------

function tooMany(key, generation) {
  if (generation !== state.generation) return;
  $(`top-${key}`).replaceChildren(note("Too many lines to rank; narrow the query."));
}

async function loadTop(key, generation) {
  const list = $(`top-${key}`);
  try {
    const answer = await api(`/stats?${apiQuery({ by: key, limit: TOP_ROWS })}`);
    if (generation !== state.generation) return;
    list.replaceChildren(...answer.body.map((group) => topItem(key, group)));
    if (answer.body.length === 0) list.replaceChildren(note("none"));
  } catch (error) {
    if (generation !== state.generation) return;
    list.replaceChildren(note(error instanceof ApiError && error.status === 400 ? "Too many lines to rank; narrow the query." : "—"));
  }
}

function note(text) {
  const li = document.createElement("li");
  li.className = "muted";
  li.textContent = text;
  return li;
}

function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function topItem(key, group) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  const value = group.key === null ? "-" : String(group.key);
  button.textContent = value;
  button.title = `Filter by ${key} ${value}`;
  button.addEventListener("click", () => {
    setField(key, [value]);
    runQuery(true);
  });
  const figures = document.createElement("span");
  figures.className = "num";
  figures.textContent = `${fmt.format(group.count)} · ${humanBytes(group.bytes)}`;
  li.append(button, figures);
  return li;
}

// --- live tail ----------------------------------------------------------------------------

function stopTail() {
  if (state.tail) {
    state.tail.source.close();
    clearInterval(state.tail.timer);
  }
  state.tail = null;
  $("tail-rate").textContent = "";
}

function startTail(resumeAfter) {
  // Resuming after a pause goes on counting; a new query starts again.
  const carried = resumeAfter && state.tail ? state.tail.count || 0 : 0;
  stopTail();
  $("tail-count").textContent = carried ? `+${fmt.format(carried)} live` : "";
  const params = formQuery();
  params.delete("order");
  if (token()) params.set("access_token", token());
  if (resumeAfter) params.set("last_event_id", resumeAfter);
  const source = new EventSource(`/logs/stream?${params}`);
  const tail = { source, lastId: resumeAfter || null, paused: false, arrivals: [], timer: null, count: carried, rows: [] };
  state.tail = tail;
  $("tail-pause").hidden = false;
  $("tail-pause").textContent = "Pause";
  $("tail-pause").setAttribute("aria-pressed", "false");
  source.onmessage = (event) => {
    const row = JSON.parse(event.data);
    tail.lastId = event.lastEventId || row.id;
    tail.arrivals.push(Date.now());
    const tr = rowOf(row);
    tr.classList.add("fresh", "tail-row");
    tail.count += 1;
    $("tail-count").textContent = `+${fmt.format(tail.count)} live`;
    document.querySelector("#rows tbody").prepend(tr);
    // Oldest first out, in constant time: a read-back can bring 100,000 lines at once.
    tail.rows.push(tr);
    if (tail.rows.length > TAIL_ROWS) {
      const oldest = tail.rows.shift();
      if (oldest.nextElementSibling && oldest.nextElementSibling.classList.contains("detail")) oldest.nextElementSibling.remove();
      oldest.remove();
    }
  };
  source.addEventListener("overflow", (event) => {
    const info = JSON.parse(event.data);
    tailNotice(`The page fell behind by ${fmt.format(info.missed_batches)} batches; the lines are being read back from the database.`);
  });
  source.addEventListener("skipped", (event) => {
    const info = JSON.parse(event.data);
    tailNotice(`${fmt.format(info.lines)} lines were missed (ids ${info.from_id} to ${info.to_id}): too many to read back. They can be exported.`);
  });
  source.addEventListener("shutdown", () => {
    tailNotice("The service is shutting down; live tail stopped.");
    stopTail();
    $("tail-switch").checked = false;
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) tailNotice("Live tail lost its connection.");
  };
  tail.timer = setInterval(() => {
    const now = Date.now();
    tail.arrivals = tail.arrivals.filter((t) => now - t < 5000);
    $("tail-rate").textContent = `${fmt.format(tail.arrivals.length / 5)} lines/s`;
  }, 1000);
}

function tailNotice(text) {
  const box = $("tail-notice");
  box.textContent = text;
  box.hidden = false;
}

function setUpTail() {
  $("tail-switch").addEventListener("change", (event) => {
    $("tail-notice").hidden = true;
    if (event.target.checked) {
      startTail();
    } else {
      stopTail();
      $("tail-pause").hidden = true;
    }
  });
  // Pausing closes the stream and keeps the last id: resuming reads back what came meanwhile.
  $("tail-pause").addEventListener("click", () => {
    const button = $("tail-pause");
    if (state.tail && !state.tail.paused) {
      const { lastId, count } = state.tail;
      stopTail();
      state.tail = { paused: true, lastId, count, source: { close() {} }, timer: null };
      button.textContent = "Resume";
      button.setAttribute("aria-pressed", "true");
      $("tail-rate").textContent = "paused";
    } else if (state.tail) {
      startTail(state.tail.lastId);
    }
  });
}

// --- sources and rejected lines -----------------------------------------------------------

async function loadSources() {
  const body = document.querySelector("#sources tbody");
  try {
    const answer = await api("/sources");
    body.replaceChildren(
      ...answer.body.map((s) => {
        const tr = document.createElement("tr");
        tr.dataset.address = s.address;
        const error = s.last_error ? `${s.last_error} (${s.last_error_at})` : "";
        // The address opens the source's lines.
        const name = document.createElement("td");
        const open = document.createElement("button");
        open.type = "button";
        open.className = "link";
        open.textContent = s.address;
        open.title = `Show the lines of ${s.address}`;
        open.addEventListener("click", () => {
          fillForm(new URLSearchParams({ source: s.address }));
          show("logs", true);
        });
        name.append(open);
        tr.append(
          name,
          cell(s.state.replace("_", " "), "state"),
          cell(fmt.format(s.lines_received), "num"),
          cell(fmt.format(s.lines_stored), "num"),
          cell(fmt.format(s.lines_rejected), "num"),
          cell(fmt.format(s.lines_replayed), "num"),
          cell(fmt.format(s.lines_lost), "num"),
          cell(fmt.format(s.connection_attempts), "num"),
          cell(fmt.format(s.total_lines_stored), "num"),
          cell(error),
        );
        return tr;
      }),
    );
    $("source-names").replaceChildren(
      ...answer.body.map((s) => {
        const option = document.createElement("option");
        option.value = s.address;
        return option;
      }),
    );
  } catch (error) {
    report(error);
  }
}

async function loadRejected(more) {
  const body = document.querySelector("#rejected tbody");
  try {
    const page = await api(more ? state.rejectedNext : `/rejected?limit=${PAGE_ROWS}`);
    const rows = page.body.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      const line = document.createElement("td");
      const pre = document.createElement("pre");
      pre.className = "line";
      pre.textContent = r.line;
      line.append(pre);
      tr.append(cell(r.received_at.replace("T", " ").replace("Z", "")), cell(r.source), cell(r.reason), line);
      return tr;
    });
    if (more) body.append(...rows);
    else body.replaceChildren(...rows);
    state.rejectedNext = page.next;
    $("rejected-more").hidden = !page.next;
  } catch (error) {
    report(error);
  }
}

// --- views --------------------------------------------------------------------------------

function show(view, push) {
  state.view = ["logs", "sources", "rejected"].includes(view) ? view : "logs";
  for (const button of document.querySelectorAll(".tabs button")) {
    const selected = button.dataset.view === state.view;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`view-${button.dataset.view}`).hidden = !selected;
  }
  if (push) history.pushState(null, "", pageUrl(formQuery()));
  if (state.view === "logs") runQuery(false);
  if (state.view === "sources") loadSources();
  if (state.view === "rejected") loadRejected(false);
}

function fromUrl() {
  const params = new URLSearchParams(location.search);
  fillForm(params);
  show(params.get("view") || "logs", false);
}

function setUp() {
  setUpToken();
  setUpTail();
  setUpHistogramDrag();
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    runQuery(true);
  });
  $("clear").addEventListener("click", () => {
    fillForm(new URLSearchParams());
    runQuery(true);
  });
  for (const add of document.querySelectorAll("#query button.add")) {
    add.addEventListener("click", () => addValueInput(add.dataset.name, "").focus());
  }
  $("more").addEventListener("click", loadMore);
  $("f-order").addEventListener("change", () => runQuery(true));
  $("rejected-more").addEventListener("click", () => loadRejected(true));
  $("sources-refresh").addEventListener("click", loadSources);
  $("rejected-refresh").addEventListener("click", () => loadRejected(false));
  for (const id of ["dl-ndjson", "dl-csv", "dl-text"]) $(id).addEventListener("click", download);
  const tabs = [...document.querySelectorAll(".tabs button")];
  for (const button of tabs) {
    button.addEventListener("click", () => show(button.dataset.view, true));
    // Arrow keys move between tabs, as the ARIA tabs pattern has it.
    button.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(button) + step + tabs.length) % tabs.length];
      next.focus();
      show(next.dataset.view, true);
    });
  }
  window.addEventListener("popstate", fromUrl);
  fromUrl();
  // Names for the source field's suggestions.
  api("/sources").then((answer) => {
    $("source-names").replaceChildren(
      ...answer.body.map((s) => {
        const option = document.createElement("option");
        option.value = s.address;
        return option;
      }),
    );
  }).catch(() => {});
}

document.addEventListener("DOMContentLoaded", setUp);
