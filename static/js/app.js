/* Progressive enhancement for the Connections pages. Every page works without this file;
   it only makes forms quicker to fill: link names from names, live checks, rows added in
   place, OAuth fields shown when they apply, snippet tabs and copy buttons. */
(function () {
  "use strict";

  var LINK_NAME_RE = /^[a-z][a-z0-9_]{1,49}$/;
  var CHECK_URL = "/connections/check-link-name/";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /* -- link names ------------------------------------------------------------------- */
  function slugify(text) {
    return text.toLowerCase().replace(/[^a-z0-9]/g, "_").replace(/_+/g, "_").replace(/^_+|_+$/g, "").slice(0, 50);
  }

  function describe(input, id) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (ids.indexOf(id) === -1) { ids.push(id); input.setAttribute("aria-describedby", ids.join(" ")); }
  }

  function setupLinkName(input) {
    var source = document.getElementById(input.getAttribute("data-linkname-from"));
    var kind = input.getAttribute("data-linkname-kind") || "connection";
    var status = document.getElementById(input.id + "_status");
    var touched = input.value !== "";
    var timer = null;
    var seq = 0;
    if (status) { describe(input, status.id); }

    function show(text, ok) {
      if (!status) { return; }
      status.textContent = text;
      status.className = "live " + (ok ? "ok" : "bad");
    }

    function check() {
      var value = input.value;
      if (!value) { show("", true); input.removeAttribute("aria-invalid"); return; }
      if (!LINK_NAME_RE.test(value)) {
        input.setAttribute("aria-invalid", "true");
        show("Must start with a lower case letter and use only a-z, 0-9 and _ (2 to 50 characters).", false);
        return;
      }
      input.removeAttribute("aria-invalid");
      var mine = ++seq;
      fetch(CHECK_URL + "?kind=" + encodeURIComponent(kind) + "&link_name=" + encodeURIComponent(value), {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (!data || mine !== seq) { return; }
        if (data.available) { show("“" + value + "” is available.", true); }
        else { input.setAttribute("aria-invalid", "true"); show(data.message, false); }
      }).catch(function () { /* the server checks again on save */ });
    }

    function later() { clearTimeout(timer); timer = setTimeout(check, 250); }

    input.addEventListener("input", function () { touched = input.value !== ""; later(); });
    if (source) {
      source.addEventListener("input", function () {
        if (touched) { return; }
        input.value = slugify(source.value);
        later();
      });
    }
    // A value the server already refused keeps the server's message; check the rest.
    if (input.value && input.getAttribute("aria-invalid") !== "true") { later(); }
  }

  /* -- rows of a formset -------------------------------------------------------------- */
  function setupFormset(box) {
    var prefix = box.getAttribute("data-formset");
    var total = $("input[name='" + prefix + "-TOTAL_FORMS']", box);
    var list = $("[data-rows]", box);
    var template = $("template[data-row-template]", box);
    var addButton = $("[data-add-row]", box);
    if (!total || !list || !template || !addButton) { return; }

    function enhanceRow(row) {
      var remove = $("input[name$='-DELETE']", row);
      if (!remove) { return; }
      var holder = remove.closest(".rowremove");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "small subtle";
      button.textContent = "Remove";
      var key = $("input[type='text']", row);
      button.setAttribute("aria-label", "Remove this row");
      button.addEventListener("click", function () {
        var next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumber();
        var focusTarget = next ? $("input[type='text']", next) : addButton;
        (focusTarget || addButton).focus();
      });
      holder.innerHTML = "";
      holder.appendChild(button);
      if (key) { key.setAttribute("data-row-first", ""); }
    }

    // Labels name their row ("Parameter 2 key"): keep the numbers in order as rows come and go.
    function renumber() {
      $all("[data-row]", list).forEach(function (row, i) {
        $all("label", row).forEach(function (label) {
          var text = label.firstChild;
          if (text && text.nodeType === 3) { text.nodeValue = text.nodeValue.replace(/^(\D+?) \d+/, "$1 " + (i + 1)); }
        });
      });
    }

    $all("[data-row]", list).forEach(enhanceRow);
    addButton.type = "button";
    addButton.textContent = "Add";
    addButton.addEventListener("click", function () {
      var index = parseInt(total.value, 10) || 0;
      var html = template.innerHTML.replace(/__prefix__/g, String(index)).replace(/__number__/g, String(index + 1));
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      var row = holder.firstElementChild;
      list.appendChild(row);
      total.value = String(index + 1);
      enhanceRow(row);
      renumber();
      var first = $("input[type='text']", row);
      if (first) { first.focus(); }
    });
  }

  /* -- fields that apply to some authentication types --------------------------------- */
  function setupAuthSections(form) {
    var select = $("select[name='auth_type']", form);
    if (!select) { return; }
    function update() {
      $all("[data-auth-only]", form).forEach(function (el) {
        var types = el.getAttribute("data-auth-only").split(/\s+/);
        el.hidden = types.indexOf(select.value) === -1;
      });
      // Services of a consent type are saved and then connected through the provider.
      $all("button[data-connect-label]", form).forEach(function (button) {
        var consent = (button.getAttribute("data-connect-for") || "").split(/\s+/).indexOf(select.value) !== -1;
        button.textContent = button.getAttribute(consent ? "data-connect-label" : "data-save-label");
      });
    }
    select.addEventListener("change", update);
    update();
  }

  /* -- copy buttons ------------------------------------------------------------------ */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) { return navigator.clipboard.writeText(text); }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
      document.body.appendChild(area); area.select();
      try { document.execCommand("copy") ? resolve() : reject(new Error("copy failed")); } catch (e) { reject(e); }
      area.remove();
    });
  }

  function setupCopy(button) {
    var target = $(button.getAttribute("data-copy"));
    var note = button.parentNode.querySelector(".copied");
    if (!target) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(target.textContent).then(function () {
        if (note) { note.textContent = "Copied"; setTimeout(function () { note.textContent = ""; }, 2500); }
      }, function () {
        if (note) { note.textContent = "Select the text and copy it (Ctrl+C)."; }
        var range = document.createRange(); range.selectNodeContents(target);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      });
    });
  }

  /* -- snippet tabs (WAI-ARIA tabs; without JS all panels show one after another) ------- */
  function setupTabs(box) {
    var list = $("[data-tablist]", box);
    if (!list) { return; }
    var tabs = $all("[role='tab']", list);
    var panels = $all("[data-panel]", box);
    list.hidden = false;
    box.classList.add("enhanced");
    panels.forEach(function (panel, i) {
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tabs[i].id);
    });
    function select(i, focus) {
      tabs.forEach(function (tab, j) {
        var on = i === j;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.tabIndex = on ? 0 : -1;
        panels[j].hidden = !on;
      });
      if (focus) { tabs[i].focus(); }
    }
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function () { select(i, false); });
      tab.addEventListener("keydown", function (e) {
        var n = tabs.length, to = null;
        if (e.key === "ArrowRight") { to = (i + 1) % n; }
        else if (e.key === "ArrowLeft") { to = (i - 1 + n) % n; }
        else if (e.key === "Home") { to = 0; }
        else if (e.key === "End") { to = n - 1; }
        if (to !== null) { e.preventDefault(); select(to, true); }
      });
    });
    select(0, false);
    // On a narrow screen the tabs scroll sideways: show which way more tabs are.
    var frame = box.querySelector("[data-tabscroll]");
    if (frame) {
      var cue = function () {
        var more = list.scrollWidth - list.clientWidth - list.scrollLeft;
        frame.classList.toggle("more-right", more > 1);
        frame.classList.toggle("more-left", list.scrollLeft > 1);
      };
      list.addEventListener("scroll", cue);
      window.addEventListener("resize", cue);
      tabs.forEach(function (tab) { tab.addEventListener("focus", function () { tab.scrollIntoView({ block: "nearest", inline: "nearest" }); }); });
      cue();
    }
  }

  /* -- the catalog filters as you type ------------------------------------------------ */
  function setupCatalog(form) {
    var q = $("input[name='q']", form);
    var auth = $("select[name='auth_type']", form);
    var tiles = $all("[data-catalog] .tile");
    var count = $("[data-catalog-count]");
    function apply() {
      var needle = (q.value || "").trim().toLowerCase();
      var type = auth.value;
      var shown = 0;
      tiles.forEach(function (tile) {
        var ok = (!needle || tile.getAttribute("data-name").indexOf(needle) !== -1) && (!type || tile.getAttribute("data-auth") === type);
        tile.hidden = !ok;
        if (ok) { shown += 1; }
      });
      if (count) { count.textContent = shown + (shown === 1 ? " service" : " services"); }
    }
    if (!q || !auth) { return; }
    q.addEventListener("input", apply);
    auth.addEventListener("change", apply);
  }

  /* -- hosts that depend on a connection's settings (a data centre) ------------------- */
  function setupHostTemplates() {
    var inputs = $all("[data-config]");
    var hosts = $all("[data-host-template]");
    if (!inputs.length || !hosts.length) { return; }
    function fill() {
      var values = {};
      inputs.forEach(function (input) { values[input.getAttribute("data-config")] = input.value; });
      hosts.forEach(function (code) {
        code.textContent = code.getAttribute("data-host-template").replace(/\{([a-z][a-z0-9_]*)\}/g, function (m, name) {
          return values[name] || "‹" + name.replace(/_/g, " ") + "›";
        });
      });
    }
    inputs.forEach(function (input) { input.addEventListener("input", fill); input.addEventListener("change", fill); });
    fill();
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupHostTemplates();
    $all("input[data-linkname-from]").forEach(setupLinkName);
    $all("[data-formset]").forEach(setupFormset);
    $all("form[data-custom-service]").forEach(setupAuthSections);
    $all("button[data-copy]").forEach(setupCopy);
    $all("[data-tabs]").forEach(setupTabs);
    $all("form[data-catalog-filter]").forEach(setupCatalog);
    $all("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
      });
    });
    var focus = $("[data-focus]");
    if (focus) { focus.focus(); }
  });
})();
