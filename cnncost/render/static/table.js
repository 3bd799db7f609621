"use strict";
/* cnncost tables: blocks that open and close, and columns that sort.
 *
 * A tree table (class "tree") has one row per block and per layer; each row carries
 * data-name, data-parent (its enclosing block, "" at top level) and data-kind. A row is hidden
 * while any block above it is closed. A sortable table (class "sortable") sorts on a header
 * click: largest first, then smallest first, then back to the model's order; a tree table sorts
 * the rows under each block among themselves and keeps them under their block. Number cells
 * carry their exact value in data-v. Nothing here computes a number: it only orders and hides
 * the rows the page was written with.
 */
const CnnTable = (() => {
  const models = new Map();

  function setup(table) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const model = {
      table, body, rows,
      order: new Map(rows.map((row, i) => [row, i])),
      byName: new Map(rows.filter((r) => r.dataset.name).map((r) => [r.dataset.name, r])),
      children: new Map(),
      collapsed: new Set(rows.filter((r) => r.dataset.collapsed === "1").map((r) => r.dataset.name)),
      sort: null, // {column, descending}
      flat: false,
      listeners: [],
    };
    for (const row of rows) {
      const parent = row.dataset.parent || "";
      if (!model.children.has(parent)) model.children.set(parent, []);
      model.children.get(parent).push(row);
    }
    table.querySelectorAll("thead th").forEach((th, column) => {
      if (!table.classList.contains("sortable")) return;
      th.classList.add("sort-key");
      th.tabIndex = 0;
      const click = () => {
        const s = model.sort;
        model.sort = !s || s.column !== column ? {column, descending: true}
          : s.descending ? {column, descending: false} : null;
        render(model);
      };
      th.addEventListener("click", click);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") click(); });
    });
    body.addEventListener("click", (e) => {
      const button = e.target.closest("button.tog");
      if (!button) return;
      const name = button.closest("tr").dataset.name;
      setCollapsed(model, name, !model.collapsed.has(name));
    });
    models.set(table.id, model);
    return model;
  }

  function cellKey(row, column) {
    const cell = row.cells[column];
    if (!cell) return "";
    if (cell.dataset.v !== undefined) return Number(cell.dataset.v);
    return cell.textContent.trim().toLowerCase();
  }

  function compare(model) {
    const {column, descending} = model.sort;
    return (a, b) => {
      const x = cellKey(a, column), y = cellKey(b, column);
      if (x === y) return model.order.get(a) - model.order.get(b);
      const less = typeof x === "number" && typeof y === "number" ? x < y : String(x) < String(y);
      return (less ? -1 : 1) * (descending ? -1 : 1);
    };
  }

  function ordered(model) {
    if (model.flat) {
      const leaves = model.rows.filter((r) => r.dataset.kind !== "block");
      return model.sort ? leaves.slice().sort(compare(model)) : leaves;
    }
    const out = [];
    const visit = (parent) => {
      let rows = model.children.get(parent) || [];
      if (model.sort) rows = rows.slice().sort(compare(model));
      for (const row of rows) {
        out.push(row);
        if (row.dataset.kind === "block") visit(row.dataset.name);
      }
    };
    visit("");
    return out;
  }

  function hiddenByBlock(model, row) {
    for (let p = row.dataset.parent; p; p = model.byName.get(p)?.dataset.parent) {
      if (model.collapsed.has(p)) return true;
    }
    return false;
  }

  function render(model) {
    const rows = ordered(model);
    const shown = new Set(rows);
    for (const row of rows) model.body.appendChild(row);
    for (const row of model.rows) {
      const hide = !shown.has(row) || (!model.flat && hiddenByBlock(model, row));
      row.hidden = hide;
      if (row.dataset.kind === "block") {
        const closed = model.collapsed.has(row.dataset.name);
        row.dataset.collapsed = closed ? "1" : "0";
        const button = row.querySelector("button.tog");
        if (button) button.setAttribute("aria-expanded", String(!closed));
      }
    }
    model.table.classList.toggle("flat", model.flat);
    model.table.querySelectorAll("thead th").forEach((th, column) => {
      const s = model.sort;
      th.dataset.sorted = s && s.column === column ? (s.descending ? "desc" : "asc") : "";
    });
  }

  function notify(model) {
    render(model);
    for (const listener of model.listeners) listener(model);
  }

  function setCollapsed(model, name, closed) {
    if (!model.byName.has(name)) return;
    if (closed) model.collapsed.add(name); else model.collapsed.delete(name);
    notify(model);
  }

  function setAllCollapsed(model, names) {
    model.collapsed = new Set(names);
    notify(model);
  }

  function reveal(model, name) {
    const row = model.byName.get(name);
    if (!row) return null;
    let changed = false;
    for (let p = row.dataset.parent; p; p = model.byName.get(p)?.dataset.parent) {
      if (model.collapsed.delete(p)) changed = true;
    }
    if (changed) notify(model);
    model.rows.forEach((r) => r.classList.toggle("selected", r === row));
    return row;
  }

  function init() {
    document.querySelectorAll("table.tree, table.sortable").forEach((t) => render(setup(t)));
    document.querySelectorAll("[data-table-action]").forEach((el) => {
      const model = models.get(el.dataset.table);
      if (!model) return;
      const action = el.dataset.tableAction;
      const handler = () => {
        if (action === "expand") setAllCollapsed(model, []);
        else if (action === "collapse") {
          setAllCollapsed(model, model.rows.filter((r) => r.dataset.kind === "block")
            .map((r) => r.dataset.name));
        } else if (action === "flat") { model.flat = el.checked; render(model); }
      };
      el.addEventListener(el.type === "checkbox" ? "change" : "click", handler);
    });
  }

  return {init, render, setCollapsed, setAllCollapsed, reveal, get: (id) => models.get(id)};
})();
CnnTable.init();
