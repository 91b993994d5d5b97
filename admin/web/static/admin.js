// mailgate web admin center: the only script. It animates the countdown
// next to each pending permission and to each permission's end; without it the page shows the exact
// time and the time left when it was rendered.
"use strict";
(function () {
  function text(ms, done) {
    if (ms <= 0) { return done || "now (reload to see it effective)"; }
    var s = Math.round(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
    s = s % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (h > 0) { return "in " + h + "h " + two(m) + "m " + two(s) + "s"; }
    if (m > 0) { return "in " + m + "m " + two(s) + "s"; }
    return "in " + s + "s";
  }
  function tick() {
    var els = document.querySelectorAll("[data-countdown]");
    for (var i = 0; i < els.length; i++) {
      var at = Date.parse(els[i].getAttribute("data-countdown"));
      if (!isNaN(at)) { els[i].textContent = text(at - Date.now(), els[i].getAttribute("data-done")); }
    }
  }
  tick();
  setInterval(tick, 1000);
})();
