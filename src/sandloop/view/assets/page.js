"use strict";
// sandloop view: the batch table's sorting and filtering, and a served page's live refresh.
(function () {
  const table = document.querySelector("table.tasks");
  if (table) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const headers = Array.from(table.tHead.rows[0].cells);
    let sortBy = -1, ascending = true;
    headers.forEach((th, column) => th.addEventListener("click", () => {
      ascending = sortBy === column ? !ascending : true;
      sortBy = column;
      const numeric = th.dataset.type === "n";
      const key = (row) => row.cells[column].dataset.v ?? row.cells[column].textContent;
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const order = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      headers.forEach((h) => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      body.append(...rows);
    }));
    const text = document.getElementById("filter-text");
    const status = document.getElementById("filter-status");
    const shown = document.getElementById("shown");
    const filter = () => {
      const words = text.value.trim().toLowerCase();
      let count = 0;
      for (const row of rows) {
        const visible = (!status.value || row.dataset.status === status.value) &&
          (!words || row.textContent.toLowerCase().includes(words));
        row.hidden = !visible;
        count += visible;
      }
      shown.textContent = String(count);
    };
    text.addEventListener("input", filter);
    status.addEventListener("change", filter);
  }
  // Served live (`sandloop view --serve`): reload when the record changes, keeping the scroll.
  const live = document.querySelector('meta[name="sandloop-live"]').content === "1";
  const key = "sandloop-view-scroll:" + location.pathname;
  const kept = sessionStorage.getItem(key);
  if (kept !== null) { sessionStorage.removeItem(key); window.scrollTo(0, Number(kept)); }
  if (live && location.protocol.startsWith("http")) {
    let version = null;
    const poll = async () => {
      try {
        const answer = await fetch("/__version", { cache: "no-store" });
        const state = await answer.json();
        if (version !== null && state.version !== version) {
          sessionStorage.setItem(key, String(window.scrollY));
          location.reload();
          return;
        }
        version = state.version;
      } catch (error) { /* the server went away: try again */ }
      setTimeout(poll, 1000);
    };
    poll();
  }
})();
