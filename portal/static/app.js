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

// Compare picker: typing part of a title, unit or author into a .pick-box lists the materials found
// (GET data-find, i.e. /api/documents/find); choosing one fills the form's id field.
function setupPicker(box) {
  var pick = box.closest(".pick"), list = pick.querySelector("ul.picks");
  var idField = document.getElementById(box.getAttribute("data-target"));
  var url = box.form.getAttribute("data-find"), timer = null, seq = 0;
  function hide() { list.hidden = true; list.textContent = ""; }
  function choose(doc) { idField.value = doc.id; box.value = doc.title; hide(); }
  function show(docs) {
    list.textContent = "";
    if (!docs.length) {
      var none = document.createElement("li");
      none.className = "none"; none.textContent = "没有找到符合的材料";
      list.appendChild(none);
    }
    docs.forEach(function (d) {
      var li = document.createElement("li"), b = document.createElement("button");
      var t = document.createElement("span"), m = document.createElement("span");
      b.type = "button"; b.className = "pick-item"; b.setAttribute("data-id", d.id);
      t.className = "t"; t.textContent = d.title;
      m.className = "m"; m.textContent = [d.unit, d.author, d.year].filter(Boolean).join(" · ");
      b.appendChild(t); b.appendChild(m);
      b.addEventListener("click", function () { choose(d); });
      li.appendChild(b); list.appendChild(li);
    });
    list.hidden = false;
  }
  box.addEventListener("input", function () {
    clearTimeout(timer);
    var q = box.value.trim();
    if (!q) { hide(); return; }
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch(url + "?limit=8&q=" + encodeURIComponent(q), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { documents: [] }; })
        .then(function (data) { if (mine === seq) show(data.documents || []); })
        .catch(function () { /* the id field still works */ });
    }, 150);
  });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") hide();
    if (ev.key === "Enter" && !list.hidden) {
      var first = list.querySelector("button");
      if (first) { ev.preventDefault(); first.click(); }
    }
  });
}
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.picker-form .pick-box").forEach(setupPicker);
});
