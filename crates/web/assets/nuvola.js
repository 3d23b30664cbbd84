// nuvola dashboard: progressive enhancement only; every page works without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A select marked data-autosubmit submits its form on change (the submit
  // button stays for keyboard and no-script users).
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
