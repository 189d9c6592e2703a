// Copy buttons: <button data-copy-target="element-id">. Shown only where the Clipboard API exists.
for (const button of document.querySelectorAll("[data-copy-target]")) {
  if (!navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copyTarget);
    const text = [...source.querySelectorAll("code")].map((el) => el.textContent).join("\n");
    const label = button.textContent;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = button.dataset.copiedLabel || "✓";
    } catch {
      button.textContent = label;
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
}
