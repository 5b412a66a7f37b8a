// Refresh the rows every 5 s (server-rendered HTML; no library, works offline).
setInterval(async () => {
  const response = await fetch("/console/queue/rows", {credentials: "same-origin"});
  if (response.ok && !response.redirected) { document.getElementById("rows").innerHTML = await response.text(); }
}, 5000);
