// The web chat: sends what the student types, shows the answers with their buttons, reloads the
// conversation when the server says something new came (a counselor's reply), deletes on request.
"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("send");
  const text = document.getElementById("text");
  const names = { student: log.dataset.you, bot: log.dataset.bot, counselor: log.dataset.counselor };

  function id() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function show(message) {
    const item = document.createElement("li");
    item.className = message.from;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = names[message.from] || names.bot;
    item.append(who, document.createTextNode(message.text));
    if (message.buttons && message.buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      for (const b of message.buttons) {
        let el;
        if (b.href) {
          el = document.createElement("a");
          el.href = b.href;
        } else {
          el = document.createElement("button");
          el.type = "button";
          el.addEventListener("click", () => send({ action: b.action }, b.label));
        }
        el.textContent = b.label;
        row.append(el);
      }
      item.append(row);
    }
    log.append(item);
    item.scrollIntoView({ block: "end" });
  }

  async function send(body, shown) {
    if (shown) show({ from: "student", text: shown, buttons: [] });
    let data;
    try {
      const response = await fetch("/chat/api/send", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...body, id: id() }),
        credentials: "same-origin",
      });
      data = await response.json();
    } catch (e) {
      show({ from: "bot", text: log.dataset.offline, buttons: [{ label: "111", href: "tel:111" }] });
      return;
    }
    for (const reply of data.replies || []) show(reply);
    if (body.action === "delete_confirm") setTimeout(() => location.reload(), 1500);
    listen();
  }

  async function history() {
    try {
      const response = await fetch("/chat/api/history", { credentials: "same-origin" });
      const data = await response.json();
      log.replaceChildren();
      for (const message of data.messages || []) show(message);
    } catch (e) {
      /* the page still works: the next message is sent as usual */
    }
  }

  let events = null;
  function listen() {
    if (events || !window.EventSource) return;
    events = new EventSource("/chat/api/events");
    events.onmessage = () => history();
    events.onerror = () => {
      // A stream that ended is reopened by the browser itself; one refused (no conversation yet)
      // is tried again later.
      if (events.readyState !== EventSource.CLOSED) return;
      events = null;
      setTimeout(listen, 5000);
    };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = text.value;
    if (!typed.trim()) return;
    text.value = "";
    send({ text: typed }, typed);
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  document.getElementById("delete").addEventListener("click", () => {
    if (confirm(log.dataset.confirm)) send({ action: "delete_confirm" });
  });
  history().then(listen);
})();
