// A USB foot pedal (or a keyboard) types a key into the kiosk's browser: treat it as the PRINT
// button. The keys come from the button's data-keys; held-down auto-repeat prints only once.
(function () {
  var button = document.getElementById("print");
  if (!button) return;
  var keys = (button.dataset.keys || "").split(",");
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.repeat || keys.indexOf(e.key) < 0 || button.disabled) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "BUTTON")) return;
    e.preventDefault();
    button.form.requestSubmit(button);
  });
})();
