// 对照: follow an upload job file by file. Without script the page refreshes itself (noscript meta).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("upload-progress");
  var table = document.getElementById("upload-results");
  if (!box || !table || !box.getAttribute("data-job")) return;
  var url = box.getAttribute("data-job");
  var page = box.getAttribute("data-page");
  var names = JSON.parse(table.getAttribute("data-names") || "{}");
  var bar = box.querySelector("progress");
  var message = box.querySelector(".job-message");
  var done = box.querySelector(".job-done");
  var rows = {};
  table.querySelectorAll("tbody tr").forEach(function (tr) { rows[tr.getAttribute("data-name")] = tr; });

  function pct(x) { return (100 * (x || 0)).toFixed(1) + "%"; }

  function show(view) {
    var job = view.job;
    if (bar) { bar.max = job.total || 1; bar.value = job.done; }
    if (message) message.textContent = job.message || "正在处理";
    if (done) done.textContent = job.done;
    view.results.forEach(function (r) {
      var tr = rows[r.name || ""];
      if (!tr) return;
      tr.className = "status-" + r.status;
      tr.querySelector("td.status").textContent = names[r.status] || r.status;
      var why = r.reason || (r.figures ? "复制比 " + pct(r.figures.copy_ratio) + "，相似来源 " + r.figures.sources + " 份" : "");
      tr.querySelector("td.reason").textContent = why;
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : Promise.reject(resp.status); })
      .then(function (view) {
        show(view);
        if (["receiving", "queued", "running"].indexOf(view.job.state) >= 0) {
          window.setTimeout(poll, 1000);
        } else {
          window.location.replace(page);  // the finished page: counts, links and reports
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
});
