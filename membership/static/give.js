// Progressive enhancement for the give form: swap preset amounts when the currency or frequency changes,
// and show the exact total when the reader covers the card fees. The form works fully without this.
(function () {
  "use strict";
  var form = document.querySelector(".give-form");
  if (!form) { return; }
  var presets = JSON.parse(form.getAttribute("data-presets"));
  var fees = JSON.parse(form.getAttribute("data-fees"));
  var list = form.querySelector("[data-preset-list]");
  var custom = form.querySelector("#amount");
  var cover = form.querySelector("#cover_fees");
  var total = form.querySelector("[data-total]");
  var suffixes = { once: "", monthly: "/month", yearly: "/year" };

  Array.prototype.forEach.call(form.querySelectorAll(".js-hide"), function (el) { el.hidden = true; });

  function setText(selector, text) {
    var el = form.querySelector(selector);
    if (el) { el.textContent = text; }
  }
  function frequency() {
    var checked = form.querySelector("input[name=frequency]:checked");
    return checked ? checked.value : "once";
  }
  function currency() { return form.querySelector("#currency").value; }
  function money(minor, code) {
    return new Intl.NumberFormat("en", { style: "currency", currency: code }).format(minor / 100);
  }
  function toMinor(text) {
    var cleaned = String(text || "").trim().replace(",", ".");
    if (!/^\d+(\.\d{1,2})?$/.test(cleaned)) { return null; }
    var parts = cleaned.split(".");
    return parseInt(parts[0], 10) * 100 + (parts[1] ? parseInt((parts[1] + "0").slice(0, 2), 10) : 0);
  }
  // Same integer arithmetic as membership.money.FeeRule: the smallest total that nets the amount.
  function feeFor(gross, rule) { return Math.floor((gross * rule.bps + 5000) / 10000) + rule.fixed; }
  function grossUp(net, rule) {
    var gross = Math.ceil(((net + rule.fixed) * 10000) / (10000 - rule.bps));
    while (gross - 1 - feeFor(gross - 1, rule) >= net) { gross -= 1; }
    while (gross - feeFor(gross, rule) < net) { gross += 1; }
    return gross;
  }
  function chosenMinor() {
    if (custom.value.trim()) { return toMinor(custom.value); }
    var preset = form.querySelector("input[name=preset]:checked");
    return preset ? toMinor(preset.value) : null;
  }
  function renderPresets() {
    var code = currency(), freq = frequency(), suffix = suffixes[freq];
    var selected = form.querySelector("input[name=preset]:checked");
    var keep = selected ? selected.value : null;
    list.textContent = "";
    (presets[code] && presets[code][freq] || []).forEach(function (value, i) {
      var span = document.createElement("span"); span.className = "choice";
      var input = document.createElement("input");
      input.type = "radio"; input.name = "preset"; input.id = "preset-" + i; input.value = value;
      if (value === keep) { input.checked = true; }
      var label = document.createElement("label"); label.htmlFor = input.id;
      label.textContent = money(toMinor(value), code) + suffix;
      span.appendChild(input); span.appendChild(document.createTextNode(" ")); span.appendChild(label);
      list.appendChild(span);
    });
    Array.prototype.forEach.call(form.querySelectorAll("[data-suffix-text]"), function (el) { el.textContent = suffix; });
    Array.prototype.forEach.call(form.querySelectorAll(".input-affix:not([data-suffix-text])"), function (el) { el.textContent = code; });
    var legend = form.querySelector("[data-suffix]");
    if (legend) { legend.textContent = suffix ? "(charged " + suffix.slice(1) + "ly)" : ""; }
    var rule = fees[code];
    setText("#cover_fees-hint", "Adds " + rule.bps / 100 + "% + " + money(rule.fixed, code) +
      " to your payment; the exact total is shown before you pay.");
    setText("#amount-hint", "Choose an amount" + (suffix ? " per " + suffix.slice(1) : "") + " or enter your own.");
    setText("#payment-hint", "You'll pay on Stripe's secure page" +
      (suffix ? "; you can cancel your membership at any time." : "."));
  }
  function renderTotal() {
    var minor = chosenMinor(), code = currency(), suffix = suffixes[frequency()];
    if (minor === null || minor <= 0) { total.textContent = ""; return; }
    if (cover.checked) {
      var gross = grossUp(minor, fees[code]);
      total.textContent = "Total: " + money(gross, code) + suffix + " (" + money(minor, code) + " for the newsroom + " +
        money(gross - minor, code) + " card fees).";
    } else {
      total.textContent = "Total: " + money(minor, code) + suffix + ".";
    }
  }
  form.addEventListener("change", function (event) {
    var name = event.target.name;
    if (name === "frequency" || name === "currency") { renderPresets(); }
    if (name === "preset") { custom.value = ""; }
    renderTotal();
  });
  custom.addEventListener("input", function () {
    if (custom.value.trim()) {
      Array.prototype.forEach.call(form.querySelectorAll("input[name=preset]"), function (el) { el.checked = false; });
    }
    renderTotal();
  });
  renderTotal();
  // Move focus to the error summary so screen readers announce what needs fixing.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
