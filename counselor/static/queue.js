// The live queue: rows pushed by the server (Server-Sent Events) as soon as they change; a new
// urgent case rings, shows a banner, counts in the tab title and, when allowed, notifies.
(() => {
  const rows = document.getElementById("rows");
  const banner = document.getElementById("alert");
  const title = document.title;
  let sound = null;

  function ring() {
    try {
      sound = sound || new AudioContext();
      const tone = sound.createOscillator();
      const volume = sound.createGain();
      tone.frequency.value = 880;
      volume.gain.value = 0.15;
      tone.connect(volume).connect(sound.destination);
      tone.start();
      tone.stop(sound.currentTime + 0.4);
    } catch (e) { /* no audio: the banner and the title still say it */ }
  }

  function tick() {
    for (const cell of rows.querySelectorAll("[data-since]")) {
      const minutes = Math.max(0, Math.floor((Date.now() - Date.parse(cell.dataset.since)) / 60000));
      cell.textContent = minutes + " phút";
    }
  }

  const events = new EventSource("/console/queue/events");
  events.addEventListener("queue", (event) => {
    const data = JSON.parse(event.data);
    rows.innerHTML = data.rows;
    tick();
    document.title = data.waiting ? "(" + data.waiting + ") " + title : title;
    if (data.urgent_new.length) {
      const cases = data.urgent_new.map((id) => "#" + id).join(", ");
      banner.textContent = banner.dataset.text + " " + cases;
      banner.hidden = false;
      ring();
      if ("Notification" in window && Notification.permission === "granted") {
        new Notification(banner.dataset.title, { body: cases });
      }
    }
  });
  events.addEventListener("logout", () => { events.close(); window.location.reload(); });

  document.getElementById("notify").addEventListener("click", () => {
    if ("Notification" in window) { Notification.requestPermission(); }
    ring();  // a click also lets the page play sound from now on
  });
  setInterval(tick, 30000);
})();
