// Home-realm discovery on the sign-in page, as progressive enhancement: when the typed address's
// domain signs in with a provider, say so and hide the password before one is typed. Without this
// script the server does the same on submit (the password is then never checked). Only the domain is
// sent, never the address.

const form = document.querySelector("[data-realm-form]");

if (form) {
  const email = form.querySelector('input[name="email"]');
  const hint = form.querySelector("[data-realm-hint]");
  const password = form.querySelector("[data-realm-password]");
  const submit = form.querySelector("[data-realm-submit]");
  const submitLabel = submit.textContent;
  let asked = "";
  let timer = 0;

  const show = (realm) => {
    const bound = !!realm;
    hint.hidden = !bound;
    hint.textContent = bound ? form.dataset.realmSays.replace("{name}", realm.name) : "";
    password.hidden = bound;
    password.querySelector("input").disabled = bound;
    submit.textContent = bound ? form.dataset.realmButton.replace("{name}", realm.name) : submitLabel;
    form.toggleAttribute("data-realm-bound", bound);
  };

  // The one address this browser may sign in to with its password although its domain is bound (it
  // proved the address at the domain's provider, which found an account here): the server says which.
  const passwordAddress = form.dataset.realmPasswordAddress || "";

  const ask = async () => {
    const typed = email.value.trim().toLowerCase();
    if (passwordAddress && typed === passwordAddress) {
      asked = typed;
      return show(null);
    }
    const domain = (typed.split("@")[1] || "").toLowerCase();
    if (domain === asked) return;
    asked = domain;
    if (!domain || !domain.includes(".")) return show(null);
    try {
      const answer = await fetch(`${form.dataset.realmUrl}?${new URLSearchParams({ domain })}`, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!answer.ok || asked !== domain) return;
      show((await answer.json()).realm);
    } catch {
      // Offline or refused: the server still sends a bound domain's address to its provider on submit.
    }
  };

  email.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 350);
  });
  email.addEventListener("change", ask);
  if (email.value) ask();
}
