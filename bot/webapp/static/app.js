// The Mini App's one script (no inline code: the CSP forbids it). It sends Telegram's
// initData with every request, puts the server's HTML fragments on the page, follows
// Telegram's theme, and gives every write a key made once per intended write.
"use strict";
(function () {
  var tg = window.Telegram && window.Telegram.WebApp;
  var initData = (tg && tg.initData) || "";
  var main = document.getElementById("main");
  var nav = document.getElementById("nav");

  function applyTheme() {
    if (!tg) return;
    var params = tg.themeParams || {};
    var root = document.documentElement;
    Object.keys(params).forEach(function (name) {
      root.style.setProperty("--tg-theme-" + name.replace(/_/g, "-"), params[name]);
    });
    root.dataset.scheme = tg.colorScheme === "dark" ? "dark" : "light";
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function keyForms(root) {
    root.querySelectorAll("form[data-write]").forEach(function (form) {
      form.dataset.key = newKey();
    });
  }

  function post(path, data) {
    return fetch("api/" + path, {
      method: "POST",
      headers: { "Authorization": "tma " + initData, "Content-Type": "application/json" },
      body: JSON.stringify(data || {}),
      credentials: "omit",
      cache: "no-store"
    }).then(function (response) {
      return response.json().then(function (json) {
        return { status: response.status, json: json };
      }, function () { return { status: response.status, json: {} }; });
    });
  }

  function show(target, html) {
    var place = document.getElementById(target) || main;
    place.innerHTML = html;
    keyForms(place);
    document.body.dataset.ready = "1";
  }

  function answer(target, result) {
    var json = result.json || {};
    show(json.target || target, json.html || '<p class="error">' + result.status + "</p>");
  }

  function open(page, data) {
    post(page, data).then(function (result) { answer("main", result); }, function () {
      show("main", '<p class="error">…</p>');
    });
    nav.querySelectorAll("a").forEach(function (a) {
      a.classList.toggle("active", a.dataset.page === page);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset.action) return;
    event.preventDefault();
    var data = {};
    new FormData(form).forEach(function (value, name) { data[name] = value; });
    if (event.submitter && event.submitter.name) data[event.submitter.name] = event.submitter.value;
    if (form.dataset.write) data.key = form.dataset.key;  // the same key if tapped again
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    post(form.dataset.action, data).then(function (result) {
      answer(form.dataset.target || "main", result);
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-page]");
    if (link) { event.preventDefault(); open(link.dataset.page); return; }
    var scan = event.target.closest("button[data-scan]");
    if (scan && tg && tg.showScanQrPopup) {
      var prefix = "start=" + scan.dataset.scan;
      tg.showScanQrPopup({}, function (text) {
        var at = text.indexOf(prefix);
        if (at < 0) return false;
        var form = document.getElementById("find");
        form.elements.query.value = text.slice(at + prefix.length).split("&")[0];
        form.requestSubmit();
        return true;
      });
    }
  });

  applyTheme();
  if (tg) {
    tg.ready();
    tg.expand();
    if (tg.onEvent) tg.onEvent("themeChanged", applyTheme);
  }
  post("home").then(function (result) {
    if (result.status !== 200) { answer("main", result); return; }
    nav.innerHTML = result.json.nav;
    open(result.json.pages[0]);
  });
})();
