// Every form page: when the server sent the form back with errors, move focus to the error summary, so screen
// readers announce what needs fixing and the keyboard starts from its links to the fields.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
