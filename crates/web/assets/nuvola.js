// nuvola dashboard: progressive enhancement only; every page works without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // After a submit, take the reader to what the server answered: the
  // problems, or the placement preview.
  const problems = document.getElementById("problems");
  const preview = document.getElementById("plan-title");
  if (problems) problems.focus();
  else if (preview) preview.scrollIntoView();

  // Destructive forms ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // Secret outputs are fetched only when asked for; never in the page source.
  for (const holder of document.querySelectorAll("[data-secret]")) {
    const link = holder.querySelector("a");
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const reply = await fetch(holder.dataset.secret, { credentials: "same-origin" });
      const code = document.createElement("code");
      code.textContent = reply.ok ? await reply.text() : `could not read it (HTTP ${reply.status})`;
      holder.replaceChildren(code);
    });
  }

  // Regions marked data-live="MS" are refreshed from the server every MS
  // milliseconds while the page shows something in progress.
  for (const region of document.querySelectorAll("[data-live]")) {
    const every = Number(region.dataset.live) || 3000;
    const refresh = async () => {
      try {
        const reply = await fetch(window.location.href, { credentials: "same-origin" });
        if (!reply.ok) return;
        const page = new DOMParser().parseFromString(await reply.text(), "text/html");
        const fresh = page.getElementById(region.id);
        if (!fresh) return;
        // Only what changed is replaced (and announced).
        if (region.innerHTML !== fresh.innerHTML) region.innerHTML = fresh.innerHTML;
        if (!fresh.hasAttribute("data-live")) return; // settled: stop polling
      } catch (_) {
        // Offline for a moment: try again later.
      }
      setTimeout(refresh, every);
    };
    setTimeout(refresh, every);
  }
});
