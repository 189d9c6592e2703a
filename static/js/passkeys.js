// Passkeys: sign-in (autofill and button), second factor, and registration. No inline script: pages
// mark their elements with data-passkey-* attributes and load this module.

const supported = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

const b64urlToBytes = (value) => {
  const base64 = value.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(value.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
};
const bytesToB64url = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

// The native JSON helpers where the browser has them; a small fallback where it does not.
function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return {
    ...json,
    challenge: b64urlToBytes(json.challenge),
    user: { ...json.user, id: b64urlToBytes(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return {
    ...json,
    challenge: b64urlToBytes(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: b64urlToBytes(c.id) })),
  };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const response = credential.response;
  const json = {
    id: credential.id,
    rawId: bytesToB64url(credential.rawId),
    type: credential.type,
    clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    response: { clientDataJSON: bytesToB64url(response.clientDataJSON) },
  };
  if (response.attestationObject) {
    json.response.attestationObject = bytesToB64url(response.attestationObject);
    json.response.transports = response.getTransports ? response.getTransports() : [];
  } else {
    json.response.authenticatorData = bytesToB64url(response.authenticatorData);
    json.response.signature = bytesToB64url(response.signature);
    if (response.userHandle) json.response.userHandle = bytesToB64url(response.userHandle);
  }
  return json;
}

const csrfToken = () => document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body || {}),
  });
  if (response.redirected) {
    window.location.assign(response.url); // e.g. asked to confirm the password first
    return null;
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), { data });
  return data;
}

function show(status, message) {
  if (!status) return;
  status.hidden = !message;
  status.textContent = message || "";
}

const cancelled = (error) => error && (error.name === "NotAllowedError" || error.name === "AbortError");

async function authenticate(root, mediation, signal) {
  const options = await post(root.dataset.passkeyOptions);
  if (!options) return;
  const credential = await navigator.credentials.get({ publicKey: requestOptions(options), mediation, signal });
  let result;
  try {
    result = await post(root.dataset.passkeyVerify, { credential: credentialJSON(credential), next: root.dataset.next || "" });
  } catch (error) {
    forgetIfUnknown(error.data);
    throw error;
  }
  if (result) window.location.assign(result.redirect);
}

// WebAuthn Signal API (new Chromium only, so feature-detected): a passkey the site no longer knows
// (removed) is one the browser or password manager may stop offering.
function forgetIfUnknown(data) {
  if (data?.code !== "unknown_credential" || typeof window.PublicKeyCredential?.signalUnknownCredential !== "function") return;
  PublicKeyCredential.signalUnknownCredential({ rpId: data.rpId, credentialId: data.credentialId }).catch(() => {});
}

// The security page lists the account's passkeys: the browser may forget any others it holds for it.
function signalAccepted(root) {
  if (typeof window.PublicKeyCredential?.signalAllAcceptedCredentials !== "function") return;
  const allAcceptedCredentialIds = (root.dataset.credentialIds || "").split(" ").filter(Boolean);
  PublicKeyCredential.signalAllAcceptedCredentials({
    rpId: root.dataset.rpId,
    userId: root.dataset.userId,
    allAcceptedCredentialIds,
  }).catch(() => {});
}

async function setUpSignIn(root) {
  const status = root.querySelector("[data-passkey-status]");
  const button = root.querySelector("[data-passkey-button]");
  if (!supported) {
    root.hidden = !root.dataset.unsupported;
    show(status, root.dataset.unsupported);
    return;
  }
  root.hidden = false;
  let conditional = null;
  if (root.hasAttribute("data-passkey-autofill") && (await PublicKeyCredential.isConditionalMediationAvailable?.())) {
    conditional = new AbortController();
    authenticate(root, "conditional", conditional.signal).catch((error) => {
      if (!cancelled(error)) show(status, error.message);
    });
  }
  if (button) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      conditional?.abort();
      show(status, "");
      try {
        await authenticate(root, "optional");
      } catch (error) {
        show(status, cancelled(error) ? root.dataset.cancelled : error.message);
      }
    });
  }
}

function setUpRegistration(root) {
  const status = root.querySelector("[data-passkey-status]");
  const button = root.querySelector("[data-passkey-button]");
  if (!supported) {
    show(status, root.dataset.unsupported);
    return;
  }
  button.hidden = false;
  button.addEventListener("click", async () => {
    show(status, "");
    try {
      const options = await post(root.dataset.passkeyOptions);
      if (!options) return;
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
      const name = root.querySelector("[data-passkey-name]")?.value || "";
      const result = await post(root.dataset.passkeyVerify, { credential: credentialJSON(credential), name });
      if (result) window.location.assign(result.redirect);
    } catch (error) {
      show(status, cancelled(error) ? root.dataset.cancelled : error.message);
    }
  });
}

for (const root of document.querySelectorAll("[data-passkey-signin]")) setUpSignIn(root);
for (const root of document.querySelectorAll("[data-passkey-register]")) setUpRegistration(root);
if (supported) for (const root of document.querySelectorAll("[data-passkey-accepted]")) signalAccepted(root);
