// The meshlet dashboard: renders the view the control plane sends over its WebSocket (GET /v1/dashboard for
// the first paint). Every value is set as text, never as HTML: names and NACK reasons come from the mesh.

const $ = (selector) => document.querySelector(selector);

/** Makes an element: h("td", { class: "num" }, "12", child...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function pill(text, kind) {
  return h("span", { class: `pill ${kind ?? ""}` }, text);
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(
    ...(rows.length > 0 ? rows : [h("tr", {}, h("td", { colspan: columns, class: "muted" }, empty))]),
  );
}

const rate = (n) => (n === 0 ? "0" : n < 10 ? n.toFixed(1) : Math.round(n).toString());
const percent = (x) => (x === null ? "–" : `${(x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0)} %`);
const ms = (x) => (x === null ? "–" : x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`);

function renderCluster(view) {
  const c = view.cluster;
  const health = $("#cluster-health");
  health.textContent = c.health;
  health.className = `pill ${c.health === "healthy" ? "ok" : c.health === "degraded" ? "warn" : "bad"}`;
  $("#leader").textContent = c.leader === "" ? "none" : c.leader;
  $("#term").textContent = c.term;
  $("#commit").textContent = c.commitIndex;
  $("#served-by").textContent = view.node;
  $("#cluster-id").textContent = c.clusterId;
  fill(
    $("#members tbody"),
    c.members.map((m) =>
      h(
        "tr",
        { "data-member": m.id },
        h("td", { class: "name" }, m.id, m.leader ? " " : "", m.leader ? pill("leader", "ok") : ""),
        h("td", { class: "muted" }, m.address),
        h("td", {}, m.role),
        h("td", {}, pill(m.state, m.state === "up" ? "ok" : m.state === "unreachable" ? "bad" : "")),
        h("td", { class: "num" }, m.term ?? "–"),
        h("td", { class: "num" }, m.appliedIndex ?? "–"),
      ),
    ),
    "no members",
    6,
  );
}

function breakerCell(b) {
  const parts = [];
  if (b.open > 0) parts.push(pill(`${b.open} open`, "bad"));
  if (b["half-open"] > 0) parts.push(pill(`${b["half-open"]} half-open`, "warn"));
  if (b.closed > 0) parts.push(pill(`${b.closed} closed`, "ok"));
  return parts.length === 0 ? h("span", { class: "muted" }, "–") : parts;
}

function endpointList(s) {
  if (s.endpoints.length === 0) return h("span", { class: "muted" }, "none registered");
  return s.endpoints.map((e) =>
    h(
      "div",
      { class: "endpoint" },
      h("span", {}, e.instance),
      Object.entries(e.labels).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`)),
      e.state === "healthy"
        ? pill("healthy", "ok")
        : pill(`${e.state} by ${e.outOf} caller${e.outOf === 1 ? "" : "s"}`, "bad"),
    ),
  );
}

function renderServices(view) {
  fill(
    $("#services tbody"),
    view.services.map((s) =>
      h(
        "tr",
        { "data-service": s.name },
        h(
          "td",
          {},
          h("div", { class: "name" }, s.name),
          h("div", { class: "muted" }, s.declared ? s.loadBalancer : "no Service resource"),
        ),
        h("td", {}, endpointList(s)),
        h("td", { class: "num" }, rate(s.inbound.rps)),
        h("td", { class: `num ${s.inbound.errorRate > 0 ? "bad-text" : ""}` }, percent(s.inbound.errorRate)),
        h("td", { class: "num" }, ms(s.inbound.p99Ms)),
        h("td", { class: "num" }, rate(s.outbound.rps)),
        h("td", { class: `num ${s.outbound.errorRate > 0 ? "bad-text" : ""}` }, percent(s.outbound.errorRate)),
        h("td", { class: `num ${s.outbound.fallbackRate > 0 ? "warn" : ""}` }, percent(s.outbound.fallbackRate)),
        h("td", { class: "num" }, ms(s.outbound.p99Ms)),
        h("td", {}, breakerCell(s.breakers)),
      ),
    ),
    "no services yet: meshlet apply -f examples/demo",
    10,
  );
}

function renderRoutes(view) {
  const rows = view.routes.flatMap((r) =>
    r.rules.map((rule, i) =>
      h(
        "tr",
        { "data-route": r.name },
        i === 0
          ? h(
              "td",
              { rowspan: r.rules.length, class: "name" },
              r.name,
              h("div", { class: "muted" }, `hosts: ${r.hosts.join(", ")}`),
            )
          : null,
        h("td", {}, rule.name),
        h("td", {}, rule.match),
        h("td", {}, rule.destinations),
      ),
    ),
  );
  fill($("#routes tbody"), rows, "no routes", 4);
  fill(
    $("#policies tbody"),
    view.policies.map((p) =>
      h(
        "tr",
        { "data-policy": p.name },
        h("td", { class: "name" }, p.name),
        h("td", {}, p.target),
        h(
          "td",
          {},
          h(
            "ul",
            { class: "plain" },
            p.features.map((f) => h("li", {}, f)),
          ),
        ),
      ),
    ),
    "no policies",
    3,
  );
}

function renderSidecars(view) {
  fill(
    $("#sidecars tbody"),
    view.sidecars.map((s) =>
      h(
        "tr",
        { "data-sidecar": s.id },
        h("td", {}, h("div", { class: "name" }, s.instance), h("div", { class: "muted" }, s.id)),
        h("td", {}, s.service),
        h("td", {}, s.node),
        h(
          "td",
          { class: "num" },
          `v${s.ackedVersion}`,
          s.pushedVersion !== s.ackedVersion ? ` (sent v${s.pushedVersion})` : "",
        ),
        h(
          "td",
          {},
          pill(
            s.state === "rejected" ? `NACK v${s.nack.version}` : s.state,
            s.state === "in sync" ? "ok" : s.state === "rejected" ? "bad" : "warn",
          ),
          s.state === "rejected" ? h("div", { class: "bad-text" }, s.nack.error) : null,
        ),
        h(
          "td",
          {},
          s.breakers.length === 0 ? h("span", { class: "muted" }, "–") : s.breakers.map((b) => h("div", {}, b)),
        ),
        h("td", { class: "num" }, rate(s.rps)),
      ),
    ),
    "no sidecar connected",
    7,
  );
  const unreachable = $("#unreachable");
  unreachable.hidden = view.unreachable.length === 0;
  unreachable.textContent = `Not listed: the sidecars of ${view.unreachable.join(", ")} (did not answer).`;
}

/** Instance names, each marked when it has not acknowledged its config yet. */
function instanceList(instances) {
  if (instances.length === 0) return h("span", { class: "muted" }, "none");
  return h(
    "div",
    {},
    h("div", { class: "num" }, String(instances.length)),
    h(
      "div",
      { class: "muted" },
      instances.map((i, n) => [n > 0 ? ", " : "", i.instance, i.acked ? "" : " (pending)"]),
    ),
  );
}

function renderReleases(view) {
  fill(
    $("#releases tbody"),
    view.releases.map((r) =>
      h(
        "tr",
        { "data-release": r.name },
        h("td", { class: "name" }, r.name),
        h("td", {}, r.key),
        h("td", {}, r.selector),
        h("td", {}, instanceList(r.instances.filter((i) => i.value === "release"))),
        h("td", {}, instanceList(r.instances.filter((i) => i.value === "base"))),
      ),
    ),
    "no release in progress",
    5,
  );
}

let lastUpdate = 0;
let connected = false;

function render(view) {
  renderCluster(view);
  renderServices(view);
  renderRoutes(view);
  renderReleases(view);
  renderSidecars(view);
  lastUpdate = Date.now();
  document.body.dataset.revision = String(view.revision);
}

function showLive() {
  const live = $("#live");
  live.className = `live ${connected ? "on" : "off"}`;
  const age = lastUpdate === 0 ? "" : ` · updated ${Math.max(0, Math.round((Date.now() - lastUpdate) / 1000))} s ago`;
  live.textContent = `${connected ? "live" : "reconnecting"}${age}`;
}

// The control plane's API needs a token: `meshlet demo` prints a URL carrying it in the fragment (never sent to
// a server, so it stays out of access logs); it is kept for this tab only and taken out of the address bar.
function readToken() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl !== null) {
    sessionStorage.setItem("meshlet-token", fromUrl);
    history.replaceState(null, "", location.pathname + location.search);
    return fromUrl;
  }
  return (
    sessionStorage.getItem("meshlet-token") ??
    window.prompt("meshlet token (meshlet token create --role read-only)") ??
    ""
  );
}
const token = readToken();

function connect(attempt = 0) {
  // A browser cannot set headers on a WebSocket: the token travels as a second subprotocol, and the server
  // answers with the first.
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/dashboard/live`, [
    "meshlet.v1",
    `meshlet.bearer.${token}`,
  ]);
  ws.onopen = () => {
    connected = true;
    attempt = 0;
    showLive();
  };
  ws.onmessage = (event) => render(JSON.parse(event.data));
  ws.onclose = () => {
    connected = false;
    showLive();
    setTimeout(() => connect(attempt + 1), Math.min(5000, 250 * 2 ** attempt));
  };
}

fetch("/v1/dashboard", { headers: { authorization: `Bearer ${token}` } })
  .then((res) => (res.ok ? res.json() : undefined))
  .then((view) => {
    if (view !== undefined && lastUpdate === 0) render(view);
  })
  .catch(() => {});
connect();
setInterval(showLive, 1000);
