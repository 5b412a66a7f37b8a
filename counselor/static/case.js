// The reply box: ready-made replies inserted at the cursor (a click or Alt+1…9), edited before
// sending; Ctrl+Enter (or Cmd+Enter) sends; while the counselor types, the student's chat shows
// "typing…" (asked for at most every 4 seconds).
(() => {
  const box = document.getElementById("reply");
  if (!box) { return; }
  const chips = [...document.querySelectorAll(".canned button")];

  function insert(text) {
    const before = box.value.slice(0, box.selectionStart);
    const after = box.value.slice(box.selectionEnd);
    const gap = before && !before.endsWith("\n") ? "\n" : "";
    box.value = before + gap + text + after;
    const at = (before + gap + text).length;
    box.focus();
    box.setSelectionRange(at, at);
  }

  chips.forEach((chip) => chip.addEventListener("click", () => insert(chip.dataset.text)));
  document.addEventListener("keydown", (event) => {
    const digit = /^Digit([1-9])$/.exec(event.code);
    if (event.altKey && digit && chips[Number(digit[1]) - 1]) {
      event.preventDefault();
      insert(chips[Number(digit[1]) - 1].dataset.text);
    }
  });
  let told = 0;
  box.addEventListener("input", () => {
    if (Date.now() - told < 4000) { return; }
    told = Date.now();
    const form = new FormData();
    form.append("csrf", box.form.querySelector("input[name=csrf]").value);
    fetch(box.form.action.replace(/\/reply$/, "/typing"), {method: "POST", body: form, credentials: "same-origin"})
      .catch(() => {});
  });
  box.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });
})();
