// careprep web chat: turns the chat's ordinary form posts into a live chat.
// Without this script every reply is a form post and a new page; with it, the same
// post asks for the new messages only (X-Careprep-Chat), which go into the role="log"
// list (read out by screen readers), and focus stays in the reply box. When a request
// fails, what was typed stays in the box and the problem is said in the page.
(function () {
  "use strict";

  var reply = document.getElementById("chat-reply");
  var list = document.getElementById("chat-list");
  if (!reply || !list || !window.fetch || !window.URLSearchParams) {
    return;
  }

  function say(form, text) {
    var status = form.querySelector("#chat-status");
    if (status) {
      status.textContent = text;
    }
  }

  function showProblem(form, text) {
    var old = form.querySelector(".careprep-chat__problem");
    if (old) {
      old.remove();
    }
    var box = document.createElement("div");
    box.className = "nhsuk-error-message careprep-chat__problem";
    box.setAttribute("role", "alert");
    box.textContent = text;
    var send = form.querySelector("#send");
    form.insertBefore(box, send);
  }

  function setBusy(form, busy) {
    var buttons = form.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i += 1) {
      buttons[i].disabled = busy;
    }
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  reply.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || form.id !== "chat-form") {
      return;
    }
    event.preventDefault();
    var data = new FormData(form);
    var submitter = event.submitter;
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    setBusy(form, true);
    say(form, "Sending your reply");
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(data),
      credentials: "same-origin",
      headers: { "X-Careprep-Chat": "1", Accept: "application/json" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === -1) {
          // Not a chat answer (the link was closed, or the check is needed again).
          window.location.reload();
          return null;
        }
        return response.json().then(function (body) {
          return { ok: response.ok, body: body };
        });
      })
      .then(function (result) {
        if (!result) {
          return;
        }
        if (!result.ok) {
          setBusy(form, false);
          say(form, "");
          showProblem(form, result.body.error || "Sorry, your reply could not be sent. Please try again.");
          return;
        }
        var old = document.getElementById("latest");
        if (old) {
          old.removeAttribute("id");
        }
        list.insertAdjacentHTML("beforeend", result.body.entries);
        reply.innerHTML = result.body.reply;
        var latest = document.getElementById("latest");
        if (latest) {
          latest.scrollIntoView();
        }
        var box = document.getElementById("reply");
        if (box) {
          box.focus({ preventScroll: true });
        }
      })
      .catch(function () {
        setBusy(form, false);
        say(form, "");
        showProblem(
          form,
          "Sorry, your reply could not be sent. Check your connection and try again: it is still in the box."
        );
      });
  });
})();
