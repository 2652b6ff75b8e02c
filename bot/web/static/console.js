// Warn before an idle session ends, and go to the sign-in page when it has.
(function () {
  "use strict";
  const body = document.body;
  const idleAfter = Number(body.dataset.idleAfter) * 1000;
  const warnBefore = Number(body.dataset.warnBefore) * 1000;
  const dialog = document.getElementById("idle-warning");
  let warnTimer = 0;
  let endTimer = 0;

  function arm() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(function () { if (dialog && !dialog.open) { dialog.showModal(); } }, idleAfter - warnBefore);
    endTimer = setTimeout(function () {
      window.location.assign("/signin?ended=1&next=" + encodeURIComponent(window.location.pathname));
    }, idleAfter);
  }

  document.getElementById("stay-signed-in").addEventListener("click", function () {
    const token = JSON.parse(body.getAttribute("hx-headers"))["X-CSRF-Token"];
    fetch("/session/alive", { method: "POST", headers: { "X-CSRF-Token": token }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || response.status === 401) { window.location.reload(); return; }
        dialog.close();
        arm();
      });
  });
  document.body.addEventListener("htmx:afterRequest", arm);
  arm();
})();
