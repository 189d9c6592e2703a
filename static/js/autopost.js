// Posts a SAML message on to the app as soon as the page loads: <form data-autopost>. Without
// JavaScript the form's own button does the same.
for (const form of document.querySelectorAll("form[data-autopost]")) form.submit();
