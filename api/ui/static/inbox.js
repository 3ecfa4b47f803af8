// The live inbox: each notification the stream sends is added at the top of the table, with
// its acknowledge form. The page works without this script (reload to see new notices).
"use strict";
(function () {
  var table = document.getElementById("inbox");
  var status = document.getElementById("live-status");
  if (!table || !window.EventSource) { return; }
  var kinds = JSON.parse(table.dataset.kinds || "{}");

  function cell(text, label) {
    var td = document.createElement("td");
    td.textContent = text;
    td.setAttribute("data-label", label);
    return td;
  }

  function when(iso) {
    var d = new Date(iso);
    if (isNaN(d)) { return iso || "-"; }
    // China time, as the server renders it: YYYY-MM-DD HH:MM.
    var local = new Date(d.getTime() + 8 * 3600 * 1000).toISOString();
    return local.slice(0, 10) + " " + local.slice(11, 16);
  }

  function ackForm(id) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/ui/inbox/" + encodeURIComponent(id) + "/ack";
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = table.dataset.csrfField;
    token.value = table.dataset.csrf;
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = table.dataset.ack;
    form.appendChild(token);
    form.appendChild(button);
    return form;
  }

  function add(n) {
    var body = table.tBodies[0];
    if (body.querySelector('tr[data-id="' + CSS.escape(n.id) + '"]')) { return; }
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var heads = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return th.textContent;
    });
    var row = document.createElement("tr");
    row.dataset.id = n.id;
    row.className = "fresh";
    row.appendChild(cell(when(n.recorded_at), heads[0]));
    var caseCell = cell("", heads[1]);
    var link = document.createElement("a");
    link.href = "/ui/cases/" + encodeURIComponent(n.case_id);
    link.textContent = (n.case_jurisdiction || "") + " · " + String(n.case_id).slice(0, 8) + "…";
    caseCell.appendChild(link);
    row.appendChild(caseCell);
    row.appendChild(cell(kinds[n.kind] || n.kind, heads[2]));
    row.appendChild(cell(when(n.due_at), heads[3]));
    row.appendChild(cell(String(n.level), heads[4]));
    row.appendChild(cell(table.dataset.pending, heads[5]));
    var ack = cell("", heads[6]);
    ack.appendChild(ackForm(n.id));
    row.appendChild(ack);
    body.insertBefore(row, body.firstChild);
    status.textContent = status.dataset.new + ": " + (kinds[n.kind] || n.kind);
  }

  var source = new EventSource("/ui/inbox/stream");
  source.addEventListener("open", function () { status.textContent = status.dataset.live; });
  source.addEventListener("notification", function (event) { add(JSON.parse(event.data)); });
  source.addEventListener("expired", function () { source.close(); });
})();
