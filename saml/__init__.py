"""The SAML 2.0 identity provider (issue 17)."""

import warnings

# pysaml2 7.5 imports the CFB mode from where cryptography used to keep it; it works, and warns at
# every process start. Nothing of ours uses CFB (SAML's XML encryption is AES-CBC/GCM in xmlsec1).
warnings.filterwarnings("ignore", message="CFB has been moved", module="saml2.cryptography.symmetric")
