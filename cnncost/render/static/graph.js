"use strict";
/* cnncost architecture graph: the report's layers drawn with dagre's layered layout.
 *
 * Blocks open and close together with the layer table (one set of closed blocks): a closed block
 * is one node, an open block a box around its nodes. Clicking a closed block opens it; clicking
 * an open block's title closes it; hovering a node shows its table row, clicking pins it.
 * The visible structure is the one cnncost.render.structure computes for `cnncost draw`:
 * a layer's node is its outermost closed block, else the layer itself; edges join the nodes of
 * a layer and of the layers it reads; a test holds the two equal.
 *
 * The address may carry a view: #depth=2&expand=a,b&collapse=c&node=layer1.0.conv1&dir=LR
 * &colour=macs&sort=5:desc&flat=1 (depth "all" opens every block).
 */
(() => {
  const data = JSON.parse(document.getElementById("cnncost-graph").textContent);
  const host = document.getElementById("graph");
  const details = document.getElementById("details");
  const tip = document.getElementById("tip");
  const table = CnnTable.get("layer-table");
  const SVG = "http://www.w3.org/2000/svg";  // the SVG namespace name, not an address to fetch
  const HEAT = {macs: "#2563eb", params: "#dc2626", act: "#059669"};

  const layers = data.layers.map(([name, op, family, shape, inputs, macs, params, act]) =>
    ({name, op, family, shape, inputs, macs, params, act, kind: "layer"}));
  const blocks = new Map(data.blocks.map(([name, count, shape, macs, params, act]) =>
    [name, {name, count, shape, macs, params, act, kind: "block", family: "block"}]));
  const enclosing = (name) => {
    const parts = name.split("."), out = [];
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join(".");
      if (blocks.has(prefix)) out.push(prefix);
    }
    return out;
  };
  for (const layer of layers) layer.around = enclosing(layer.name);
  const level = (name) => name.split(".").length;
  const state = {direction: data.direction, colour: "family", scale: 1, selected: null, fitted: false};

  function visible(collapsed) {
    const nodeOf = new Map(), nodes = [], shown = new Set(), clusters = new Map();
    for (const layer of layers) {
      let owner = layer.name, around = layer.around;
      const i = layer.around.findIndex((b) => collapsed.has(b));
      if (i >= 0) { owner = layer.around[i]; around = layer.around.slice(0, i); }
      nodeOf.set(layer.name, owner);
      if (shown.has(owner)) continue;
      shown.add(owner);
      let parent = "";
      for (const b of around) {
        if (!clusters.has(b)) clusters.set(b, {name: b, parent, count: blocks.get(b).count});
        parent = b;
      }
      nodes.push({item: owner === layer.name ? layer : blocks.get(owner), cluster: parent});
    }
    const edges = new Map();
    for (const layer of layers) {
      for (const i of layer.inputs) {
        const a = nodeOf.get(layers[i].name), b = nodeOf.get(layer.name);
        if (a !== b) edges.set(a + "\u0000" + b, [a, b]);
      }
    }
    return {nodes, clusters: [...clusters.values()], edges: [...edges.values()]};
  }

  const canvas = document.createElement("canvas").getContext("2d");
  function textWidth(text, font) { canvas.font = font; return canvas.measureText(text).width; }
  const relative = (name, parent) => parent ? name.slice(parent.length + 1) : name;
  const FONT_NAME = "600 12px system-ui, sans-serif", FONT_SUB = "11px system-ui, sans-serif";

  function label(node) {
    const item = node.item;
    const sub = item.kind === "layer" ? `${item.op} · ${item.shape}`
      : `${item.count} layers → ${item.shape}`;
    return [relative(item.name, node.cluster), sub];
  }

  function layout(view) {
    const g = new dagre.graphlib.Graph({compound: true});
    const lr = state.direction === "LR";
    g.setGraph({rankdir: state.direction, nodesep: lr ? 12 : 18, ranksep: lr ? 40 : 34,
      edgesep: 8, marginx: 12, marginy: 12});
    g.setDefaultEdgeLabel(() => ({}));
    for (const c of view.clusters) g.setNode("cluster:" + c.name, {});
    for (const c of view.clusters) if (c.parent) g.setParent("cluster:" + c.name, "cluster:" + c.parent);
    for (const node of view.nodes) {
      const [name, sub] = label(node);
      node.lines = [name, sub];
      const width = Math.max(textWidth(name, FONT_NAME), textWidth(sub, FONT_SUB)) + 18;
      g.setNode(node.item.name, {width: Math.ceil(width), height: 38});
      if (node.cluster) g.setParent(node.item.name, "cluster:" + node.cluster);
    }
    for (const [a, b] of view.edges) g.setEdge(a, b);
    dagre.layout(g);
    return g;
  }

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function mix(hex, t) {  // white -> colour
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    return "rgb(" + c.map((v) => Math.round(255 + (v - 255) * t)).join(",") + ")";
  }

  function path(points) {
    let d = `M${points[0].x},${points[0].y}`;
    for (let i = 1; i < points.length - 1; i++) {
      const p = points[i], q = points[i + 1];
      d += ` Q${p.x},${p.y} ${(p.x + q.x) / 2},${(p.y + q.y) / 2}`;
    }
    const last = points[points.length - 1];
    return d + ` L${last.x},${last.y}`;
  }

  function draw() {
    const view = visible(table.collapsed);
    let g;
    try {
      g = layout(view);
    } catch (err) {
      host.textContent = "The graph could not be laid out: " + err;
      return;
    }
    const size = g.graph();
    host.textContent = "";
    const svg = el("svg", {viewBox: `0 0 ${size.width} ${size.height}`, role: "img",
      "aria-label": "architecture graph"}, host);
    svg.dataset.width = size.width;
    svg.dataset.height = size.height;
    const defs = el("defs", {}, svg);
    const marker = el("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"}, defs);
    el("path", {d: "M0,0 L10,5 L0,10 z", fill: "#64748b"}, marker);
    const depthOf = (c) => level(c.name);
    for (const c of view.clusters.slice().sort((a, b) => depthOf(a) - depthOf(b))) {
      const box = g.node("cluster:" + c.name);
      const group = el("g", {class: `cluster lvl${depthOf(c) % 2}`, "data-name": c.name}, svg);
      el("rect", {x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width,
        height: box.height, rx: 6}, group);
      const title = el("text", {x: box.x - box.width / 2 + 6, y: box.y - box.height / 2 + 13,
        class: "cluster-title"}, group);
      title.textContent = `▾ ${relative(c.name, c.parent)} (${c.count} layers)`;
    }
    const edgeLayer = el("g", {class: "edges"}, svg);
    for (const [a, b] of view.edges) {
      const e = g.edge(a, b);
      el("path", {d: path(e.points), class: "edge", "data-from": a, "data-to": b,
        "marker-end": "url(#arrow)"}, edgeLayer);
    }
    const maxima = {};
    for (const key of ["macs", "params", "act"]) {
      maxima[key] = Math.max(1, ...view.nodes.map((n) => n.item[key]));
    }
    for (const node of view.nodes) {
      const item = node.item, box = g.node(item.name);
      const group = el("g", {class: `node ${item.kind} fam-${item.family}`, "data-name": item.name,
        transform: `translate(${box.x - box.width / 2},${box.y - box.height / 2})`}, svg);
      if (item.name === state.selected) group.classList.add("selected");
      const rect = el("rect", {width: box.width, height: box.height, rx: 5}, group);
      if (state.colour !== "family") {
        rect.style.fill = mix(HEAT[state.colour], Math.sqrt(item[state.colour] / maxima[state.colour]));
      }
      if (item.kind === "block") {
        el("rect", {class: "inner", x: 3, y: 3, width: box.width - 6, height: box.height - 6, rx: 3}, group);
      }
      const [name, sub] = node.lines;
      const t1 = el("text", {x: box.width / 2, y: 16, class: "name"}, group);
      t1.textContent = name;
      const t2 = el("text", {x: box.width / 2, y: 30, class: "sub"}, group);
      t2.textContent = sub;
    }
    host.dataset.nodes = String(view.nodes.length);
    host.dataset.edges = String(view.edges.length);
    host.dataset.clusters = String(view.clusters.length);
    if (!state.fitted) { fit(0.8); state.fitted = true; } else zoom(state.scale);
  }

  function zoom(scale) {
    state.scale = Math.min(4, Math.max(0.05, scale));
    const svg = host.querySelector("svg");
    if (!svg) return;
    svg.setAttribute("width", Number(svg.dataset.width) * state.scale);
    svg.setAttribute("height", Number(svg.dataset.height) * state.scale);
  }

  function fit(least = 0) {  // the whole width in view, unless that makes text smaller than least
    const svg = host.querySelector("svg");
    if (!svg) return;
    const available = host.clientWidth - 4;
    zoom(Math.max(least, Math.min(1, available / Number(svg.dataset.width))));
  }

  function centre(name) {  // scroll the graph (not the page) to put the node in the middle
    const node = [...host.querySelectorAll("g.node")].find((n) => n.dataset.name === name);
    if (!node) return;
    const box = node.getBoundingClientRect(), view = host.getBoundingClientRect();
    host.scrollLeft += box.left + box.width / 2 - view.left - host.clientWidth / 2;
    host.scrollTop += box.top + box.height / 2 - view.top - host.clientHeight / 2;
  }

  function rowCard(name) {
    const row = table.byName.get(name);
    if (!row) return null;
    const heads = [...table.table.tHead.rows[0].cells].map((th) => th.textContent.trim());
    const dl = document.createElement("dl");
    [...row.cells].forEach((cell, i) => {
      if (!cell.textContent.trim()) return;  // a block has no op or output shape
      const dt = document.createElement("dt");
      dt.textContent = heads[i];
      const dd = document.createElement("dd");
      dd.textContent = i === 0 ? name : cell.textContent.trim();
      if (cell.dataset.v !== undefined) dd.dataset.v = cell.dataset.v;
      dl.append(dt, dd);
    });
    const where = row.cells[0].title;
    if (where) {
      const dt = document.createElement("dt"); dt.textContent = "spec";
      const dd = document.createElement("dd"); dd.textContent = where;
      dl.append(dt, dd);
    }
    return dl;
  }

  function select(name) {
    state.selected = name;
    host.querySelectorAll("g.node").forEach((n) => n.classList.toggle("selected", n.dataset.name === name));
    details.textContent = "";
    const card = rowCard(name);
    if (!card) return;
    details.dataset.name = name;
    const h = document.createElement("h3");
    h.textContent = name;
    const show = document.createElement("button");
    show.textContent = "show in the table";
    show.addEventListener("click", () => {
      const row = CnnTable.reveal(table, name);
      if (row) row.scrollIntoView({block: "center"});
    });
    details.append(h, card, show);
    if (blocks.has(name)) {
      const open = document.createElement("button");
      open.textContent = table.collapsed.has(name) ? "open the block" : "close the block";
      open.addEventListener("click", () => CnnTable.setCollapsed(table, name, !table.collapsed.has(name)));
      details.append(open);
    }
    table.rows.forEach((r) => r.classList.toggle("selected", r.dataset.name === name));
  }

  host.addEventListener("click", (e) => {
    const node = e.target.closest("g.node");
    if (node) {
      const name = node.dataset.name;
      select(name);
      if (blocks.has(name)) CnnTable.setCollapsed(table, name, false);
      return;
    }
    const cluster = e.target.closest("g.cluster text.cluster-title");
    if (cluster) CnnTable.setCollapsed(table, cluster.parentNode.dataset.name, true);
  });
  host.addEventListener("mouseover", (e) => {
    const node = e.target.closest("g.node");
    if (!node) return;
    const card = rowCard(node.dataset.name);
    if (!card) return;
    tip.textContent = "";
    const h = document.createElement("h3");
    h.textContent = node.dataset.name;
    tip.append(h, card);
    tip.hidden = false;
  });
  host.addEventListener("mousemove", (e) => {
    if (tip.hidden) return;
    const x = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = Math.min(e.clientY + 14, window.innerHeight - tip.offsetHeight - 8);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  });
  host.addEventListener("mouseout", (e) => {
    if (!e.relatedTarget || !e.relatedTarget.closest || !e.relatedTarget.closest("g.node")) tip.hidden = true;
  });
  host.addEventListener("wheel", (e) => {
    if (!e.ctrlKey) return;
    e.preventDefault();
    zoom(state.scale * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
  }, {passive: false});

  function closedAtDepth(depth) {
    return [...blocks.keys()].filter((b) => depth !== null && level(b) >= depth);
  }
  document.querySelectorAll("[data-graph]").forEach((control) => {
    const action = control.dataset.graph;
    control.addEventListener(control.tagName === "SELECT" ? "change" : "click", () => {
      if (action === "depth") {
        const d = control.value === "all" ? null : Number(control.value);
        CnnTable.setAllCollapsed(table, closedAtDepth(d));
      } else if (action === "direction") {
        state.direction = state.direction === "TB" ? "LR" : "TB";
        state.fitted = false;
        draw();
      } else if (action === "colour") {
        state.colour = control.value;
        draw();
      } else if (action === "zoom-in") zoom(state.scale * 1.25);
      else if (action === "zoom-out") zoom(state.scale / 1.25);
      else if (action === "fit") fit();
    });
  });

  function applyAddress() {
    const params = new URLSearchParams(location.hash.slice(1));
    let closed = new Set(table.collapsed);
    if (params.has("depth")) {
      const d = params.get("depth");
      closed = new Set(closedAtDepth(d === "all" ? null : Number(d)));
    }
    for (const name of (params.get("collapse") || "").split(",")) if (blocks.has(name)) closed.add(name);
    for (const name of (params.get("expand") || "").split(",")) closed.delete(name);
    const node = params.get("node");
    if (node) for (const b of enclosing(node)) closed.delete(b);
    if (params.get("dir") === "LR" || params.get("dir") === "TB") state.direction = params.get("dir");
    if (HEAT[params.get("colour")]) state.colour = params.get("colour");
    const colourSelect = document.querySelector("select[data-graph=colour]");
    if (colourSelect) colourSelect.value = state.colour;
    if (params.has("sort")) {
      const [column, how] = params.get("sort").split(":");
      table.sort = {column: Number(column), descending: how !== "asc"};
    }
    if (params.get("flat") === "1") {
      table.flat = true;
      const box = document.querySelector("input[data-table-action=flat]");
      if (box) box.checked = true;
    }
    CnnTable.setAllCollapsed(table, [...closed]);
    if (node && table.byName.has(node)) {
      select(node);
      CnnTable.reveal(table, node);
      centre(node);
    }
  }

  table.listeners.push(() => { draw(); if (state.selected) select(state.selected); });
  draw();
  applyAddress();
  window.addEventListener("hashchange", applyAddress);
  document.body.dataset.ready = "yes";
})();
