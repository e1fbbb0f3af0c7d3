// Progressive enhancement for the give form: swap preset amounts when the currency or frequency changes,
// and show the exact total (with the card fees when the reader covers them), or the form's message when the
// amount can't be used. The server reads the amount and adds the fees (GET /give/quote), and the page carries
// the preset labels and fee hints already written: nothing here parses or formats an amount. The form works
// fully without this.
(function () {
  "use strict";
  var form = document.querySelector(".give-form");
  if (!form) { return; }
  var presets = JSON.parse(form.getAttribute("data-presets"));
  var feeHints = JSON.parse(form.getAttribute("data-fee-hints"));
  var quoteUrl = form.getAttribute("data-quote-url");
  var list = form.querySelector("[data-preset-list]");
  var custom = form.querySelector("#amount");
  var cover = form.querySelector("#cover_fees");
  var total = form.querySelector("[data-total]");
  // What the form says for each frequency, written by the server in the page's language.
  var texts = JSON.parse(form.getAttribute("data-frequency-texts"));
  var QUOTE_DELAY_MS = 150;
  var pending = null, asked = 0;

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
  // The amount as typed, or the chosen preset, or null when nothing is chosen yet.
  function chosenAmount() {
    if (custom.value.trim()) { return custom.value; }
    var preset = form.querySelector("input[name=preset]:checked");
    return preset ? preset.value : null;
  }
  function renderPresets() {
    var code = currency(), freq = frequency(), said = texts[freq] || texts.once;
    var selected = form.querySelector("input[name=preset]:checked");
    var keep = selected ? selected.value : null;
    var options = presets[code] && presets[code][freq] || [];
    var custom = form.querySelector("input[name=amount]");
    // A preset chosen before stays chosen when the new list has it; else the suggested one, unless a typed amount.
    if (!options.some(function (p) { return p.value === keep; })) {
      var suggested = options.filter(function (p) { return p.suggested; })[0];
      keep = suggested && !(custom && custom.value) ? suggested.value : null;
    }
    list.textContent = "";
    options.forEach(function (preset, i) {
      var span = document.createElement("span"); span.className = "choice";
      var input = document.createElement("input");
      input.type = "radio"; input.name = "preset"; input.id = "preset-" + i; input.value = preset.value;
      if (preset.value === keep) { input.checked = true; }
      var label = document.createElement("label"); label.htmlFor = input.id;
      label.textContent = preset.label;
      if (preset.most_chosen) {
        var badge = document.createElement("span"); badge.className = "most-chosen";
        badge.textContent = list.getAttribute("data-most-chosen"); label.appendChild(document.createTextNode(" "));
        label.appendChild(badge);
      }
      span.appendChild(input); span.appendChild(document.createTextNode(" ")); span.appendChild(label);
      if (preset.impact) {  // what the amount pays for: the radio's description, read after its name
        var impact = document.createElement("span"); impact.className = "preset-impact";
        impact.id = input.id + "-impact"; impact.textContent = preset.impact;
        input.setAttribute("aria-describedby", impact.id);
        span.appendChild(impact);
      }
      list.appendChild(span);
    });
    Array.prototype.forEach.call(form.querySelectorAll("[data-suffix-text]"), function (el) { el.textContent = said.suffix; });
    Array.prototype.forEach.call(form.querySelectorAll(".input-affix:not([data-suffix-text])"), function (el) { el.textContent = code; });
    var legend = form.querySelector("[data-suffix]");
    if (legend) { legend.textContent = said.legend; }
    setText("#cover_fees-hint", feeHints[code] || "");
    setText("#amount-hint", said.amount_hint);
    setText("#payment-hint", said.payment_hint);
  }
  function showTotal(text, problem) {
    total.textContent = text;
    total.classList.toggle("total-problem", problem);
  }
  // Ask the server what the choice charges; only the answer to the latest question is shown.
  function askQuote(amount, mine) {
    var query = new URLSearchParams({ amount: amount, currency: currency(), frequency: frequency() });
    if (cover.checked) { query.set("cover_fees", "y"); }
    fetch(quoteUrl + "?" + query.toString(), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (mine !== asked) { return; }
        if (answer.error) { showTotal(answer.error, true); } else { showTotal(answer.summary, false); }
      })
      .catch(function () { if (mine === asked) { showTotal("", false); } });
  }
  function renderTotal() {
    var amount = chosenAmount(), mine = ++asked;
    window.clearTimeout(pending);
    if (amount === null) { showTotal("", false); return; }
    pending = window.setTimeout(function () { askQuote(amount, mine); }, QUOTE_DELAY_MS);
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
})();
