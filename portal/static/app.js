// 对照: a little progressive enhancement; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Filter selects submit their form when changed.
  document.querySelectorAll("select.autosubmit").forEach(function (el) {
    el.addEventListener("change", function () { if (el.form) el.form.submit(); });
  });
  // Changing the search mode re-runs the current query.
  var box = document.querySelector("form.search input[name=q]");
  document.querySelectorAll("form.search input[name=mode]").forEach(function (el) {
    el.addEventListener("change", function () { if (box && box.value.trim()) el.form.submit(); });
  });
  // On a document opened from a search, bring the first match into view.
  var first = document.querySelector(".fulltext mark.hit, .fulltext .hit");
  if (first && !location.hash) first.scrollIntoView({ block: "center" });
});
// Forms marked data-confirm (deletions) ask first; without script they submit straight away.
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
