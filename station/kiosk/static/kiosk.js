// Keep the live part of a kiosk page fresh without a framework: fetch the same page's
// #live block every few seconds and swap it in. Forms outside #live keep their input.
(function () {
  var live = document.getElementById("live");
  if (!live || !live.dataset.refresh) return;
  var every = parseInt(live.dataset.every || "1500", 10);
  function tick() {
    fetch(live.dataset.refresh, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && html !== live.innerHTML) live.innerHTML = html; })
      .catch(function () {})
      .finally(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
