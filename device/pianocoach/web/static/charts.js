// Draws every <canvas data-chart="..."> with Chart.js (served from the device). The page carries each chart's
// configuration as JSON in the attribute: no inline script (the Content-Security-Policy forbids it).
document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
  var config = JSON.parse(canvas.getAttribute("data-chart"));
  canvas.chart = new Chart(canvas, config);
  canvas.setAttribute("data-drawn", "1");
});
document.querySelectorAll("select[data-submit]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
// a scale's dot sits at its position (set here, not in a style attribute, which the policy forbids)
document.querySelectorAll(".scale .dot[data-position]").forEach(function (dot) {
  dot.style.left = dot.getAttribute("data-position") + "%";
});
