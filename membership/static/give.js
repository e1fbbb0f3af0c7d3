// Progressive enhancement for the give form: swap preset amounts when the currency or frequency changes,
// and show the exact total (with the card fees when the reader covers them), reading the typed amount by the
// server's rule, or the server's message when it can't be read. The form works fully without this.
(function () {
  "use strict";
  var form = document.querySelector(".give-form");
  if (!form) { return; }
  var presets = JSON.parse(form.getAttribute("data-presets"));
  var fees = JSON.parse(form.getAttribute("data-fees"));
  var rules = JSON.parse(form.getAttribute("data-amount-rules"));
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
    return new Intl.NumberFormat("en", { style: "currency", currency: code })
      .format(minor / Math.pow(10, rules[code].exponent));
  }
  // The rule of membership.money.parse_major_amount, with its messages: {minor: n} or {error: "what to type"}.
  var SEPARATORS = "Check the separators: type the amount like 1000 or 1000.50, without thousands separators.";
  function decimalsMessage(code) {
    var decimals = rules[code].decimals;
    if (decimals === 0) { return "Enter a whole number of " + code + ", without decimals."; }
    return decimals === 2 ? "Use at most two decimal places." : "Use at most " + decimals + " decimal places.";
  }
  function ungroup(part, groupMarks) {
    var used = part.replace(/[0-9]/g, "");
    if (!used) { return part; }
    var mark = used.charAt(0);
    if (used.split(mark).join("") || groupMarks.indexOf(mark) < 0) { throw new Error(SEPARATORS); }
    if (!new RegExp("^[1-9][0-9]{0,2}(\\" + mark + "[0-9]{3})+$").test(part)) { throw new Error(SEPARATORS); }
    return part.split(mark).join("");
  }
  function splitAmount(cleaned, code) {
    var spaces = " '\u2019", decimals = rules[code].decimals, parts;
    var count = function (m) { return cleaned.split(m).length - 1; };
    var marks = [",", "."].filter(function (m) { return count(m) > 0; });
    if (marks.length === 2) {
      var decimal = cleaned.lastIndexOf(",") > cleaned.lastIndexOf(".") ? "," : ".";
      if (count(decimal) > 1) { throw new Error(SEPARATORS); }
      parts = cleaned.split(decimal);
      return [ungroup(parts[0], (decimal === "," ? "." : ",") + spaces), ungroup(parts[1], "")];
    }
    if (!marks.length) { return [ungroup(cleaned, spaces), ""]; }
    var mark = marks[0];
    if (count(mark) > 1) { return [ungroup(cleaned, mark), ""]; }
    parts = cleaned.split(mark);
    var whole = parts[0], fraction = parts[1];
    if (/^[0-9]{3}$/.test(fraction) && /^[1-9][0-9]{0,2}$/.test(whole)) {
      var thousands = whole + fraction;
      if (/[1-9]/.test(fraction.slice(decimals))) {
        throw new Error(decimalsMessage(code) + " For " + thousands + ", type it without a thousands separator.");
      }
      var small = whole + (decimals ? mark + fraction.slice(0, decimals) : "");
      throw new Error("Did you mean " + thousands + " or " + small + "? Type one of those, without a thousands separator.");
    }
    return [ungroup(whole, spaces), ungroup(fraction, "")];
  }
  function parseAmount(text, code) {
    var rule = rules[code];
    var cleaned = String(text || "").normalize("NFKC").trim();
    if (!cleaned) { return { error: "Enter an amount." }; }
    for (var i = 0; i < rule.marks.length; i++) {
      var mark = rule.marks[i].toUpperCase(), upper = cleaned.toUpperCase();
      if (upper.indexOf(mark) === 0) { cleaned = cleaned.slice(mark.length).trim(); break; }
      if (upper.length >= mark.length && upper.slice(upper.length - mark.length) === mark) {
        cleaned = cleaned.slice(0, cleaned.length - mark.length).trim(); break;
      }
    }
    var negative = cleaned.charAt(0) === "-" || cleaned.charAt(0) === "\u2212";
    if (negative) { cleaned = cleaned.slice(1).trim(); }
    if (/[^0-9]/.test(cleaned.replace(/[^\p{Nd}]/gu, ""))) { return { error: "Type the amount with the digits 0 to 9." }; }
    if (!/^[0-9.,' \u2019]+$/.test(cleaned) || !/[0-9]/.test(cleaned)) {
      return { error: "Enter the amount as a number, " + rule.examples + "." };
    }
    var split;
    try { split = splitAmount(cleaned, code); } catch (e) { return { error: e.message }; }
    var whole = split[0], fraction = split[1];
    if (negative || !/[1-9]/.test(whole + fraction)) { return { error: "The amount must be more than zero." }; }
    if (/[1-9]/.test(fraction.slice(rule.decimals))) { return { error: decimalsMessage(code) }; }
    var digits = (whole + (fraction.slice(0, rule.exponent) + "000").slice(0, rule.exponent)).replace(/^0+/, "");
    if (digits.length > 12) { return { error: "That amount is too large." }; }
    return { minor: parseInt(digits, 10) };
  }
  // Same integer arithmetic as membership.money.FeeRule: the smallest total that nets the amount.
  function feeFor(gross, rule) { return Math.floor((gross * rule.bps + 5000) / 10000) + rule.fixed; }
  function grossUp(net, rule) {
    var gross = Math.ceil(((net + rule.fixed) * 10000) / (10000 - rule.bps));
    while (gross - 1 - feeFor(gross - 1, rule) >= net) { gross -= 1; }
    while (gross - feeFor(gross, rule) < net) { gross += 1; }
    return gross;
  }
  // Stripe charges some currencies only in steps (ISK in whole krónur, KWD in tens of fils): round the total up.
  function chargeTotal(minor, code) {
    if (!cover.checked) { return minor; }
    var step = rules[code].step;
    return Math.ceil(grossUp(minor, fees[code]) / step) * step;
  }
  // The amount read as the server reads it ({minor} or {error}), or null when nothing is chosen yet.
  function chosenAmount() {
    if (custom.value.trim()) { return parseAmount(custom.value, currency()); }
    var preset = form.querySelector("input[name=preset]:checked");
    return preset ? parseAmount(preset.value, currency()) : null;
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
      label.textContent = money(parseAmount(value, code).minor, code) + suffix;
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
    var chosen = chosenAmount(), code = currency(), suffix = suffixes[frequency()], rule = rules[code];
    total.classList.remove("total-problem");
    if (chosen === null) { total.textContent = ""; return; }
    var problem = chosen.error, minor = chosen.minor, gross = problem ? 0 : chargeTotal(minor, code);
    if (!problem && minor < rule.minimum) { problem = "The smallest amount we can accept is " + rule.minimum_text + "."; }
    if (!problem && minor > rule.maximum) {
      problem = "The largest amount we can accept online is " + rule.maximum_text + ". For larger gifts, please write to us.";
    }
    if (!problem && gross > rule.stripe_maximum) {
      problem = gross === minor ? "Stripe can't charge more than " + rule.stripe_maximum_text + " in one payment." :
        "With the card fees covered the total would be " + money(gross, code) + ", more than Stripe can " +
        "charge in one payment (" + rule.stripe_maximum_text + "). Choose a smaller amount.";
    }
    if (!problem && gross < rule.stripe_minimum) {
      problem = "Stripe can't charge less than " + rule.stripe_minimum_text + " in one payment.";
    }
    if (problem) {
      total.textContent = problem;
      total.classList.add("total-problem");
    } else if (gross !== minor) {
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
