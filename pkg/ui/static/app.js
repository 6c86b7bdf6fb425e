// Live updates: the server says when the hub changed (from its watches);
// the page then fetches its own content again and swaps it in.
(function () {
  const live = document.getElementById("live");
  const content = document.getElementById("content");
  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const u = new URL(location.href);
      u.searchParams.set("partial", "1");
      const r = await fetch(u, { headers: { Accept: "text/html" } });
      if (r.ok) {
        const html = await r.text();
        // Keep the filter form as the user is typing in it.
        if (!content.contains(document.activeElement) || document.activeElement === document.body) {
          content.innerHTML = html;
        }
        live.dataset.updated = String(Date.now());
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  const es = new EventSource("/events");
  es.onopen = () => { live.textContent = "live"; live.className = "live on"; };
  es.onerror = () => { live.textContent = "reconnecting…"; live.className = "live"; };
  es.addEventListener("change", refresh);
})();
