// Live updates: every 10 s, fetch this page again and swap in its main
// content, unless the user is typing in a form or the tab is hidden.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  if (!main || document.querySelector("form.filters")) { if (live) live.hidden = true; return; }
  // editing: the focus is in a form, or a command or upload form holds
  // a value the swap would wipe.
  function editing() {
    var a = document.activeElement;
    if (a && a.form) return true;
    return Array.prototype.some.call(main.querySelectorAll("form input:not([type=hidden])"), function (i) {
      return i.type === "file" ? i.files.length > 0 : i.value !== "";
    });
  }
  function refresh() {
    if (document.hidden || editing()) return;
    fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("main");
        if (next) main.innerHTML = next.innerHTML;
        live.classList.remove("stale");
      })
      .catch(function () { live.classList.add("stale"); });
  }
  setInterval(refresh, 10000);
})();
