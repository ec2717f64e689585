// Pre-select the form of a signed scan from the code typed or the code in the file's name
// (e.g. "申请表-ZL-2026-000001-SQB-K7M2-v1.pdf"); the server reads the same code again.
(function () {
  "use strict";
  var pattern = /(SQB|XY|WTS|ZCB|YZQ)[-_ ]?([A-Z2-7]{4})(?![A-Z0-9])/;
  document.querySelectorAll("form.upload-signed").forEach(function (form) {
    var select = form.querySelector("select[name=kind]");
    var code = form.querySelector("input[name=code]");
    var file = form.querySelector("input[type=file]");
    function pick(text) {
      var m = pattern.exec((text || "").toUpperCase());
      if (!m) return false;
      var wanted = m[1] + "-" + m[2];
      for (var i = 0; i < select.options.length; i++) {
        if (select.options[i].getAttribute("data-code") === wanted) {
          select.selectedIndex = i;
          return true;
        }
      }
      return false;
    }
    code.addEventListener("input", function () { pick(code.value); });
    file.addEventListener("change", function () {
      var name = file.files.length ? file.files[0].name : "";
      if (pick(name) && !code.value) {
        code.value = select.options[select.selectedIndex].getAttribute("data-code");
      }
    });
  });
})();
