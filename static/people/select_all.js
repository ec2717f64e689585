// "全选" on the work and leaver-queue pages: one box ticks every item box of its form.
document.addEventListener("change", function (event) {
  var box = event.target;
  var name = box && box.getAttribute && box.getAttribute("data-check-all");
  if (!name) return;
  box.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (item) {
    item.checked = box.checked;
  });
});
