"""SAML Single Logout, both ways.

From an SP (HTTP-Redirect or HTTP-POST): its LogoutRequest is checked like a sign-on request (a
registered SP, signed if it signs, meant for us); if it names this browser's session (the NameID and
SessionIndex we gave that SP in it), the session ends here, which tells every other app (below, and
oidc's back-channel logout). The SP gets a signed LogoutResponse at its own SLO endpoint.

From here: whenever sessions end (sign-out, the security page, an admin, a password change, an
assignment lost), each SAML SP signed on in them is sent a signed LogoutRequest over the SOAP binding
by Celery, if its metadata has a SOAP SLO endpoint. SPs with only front-channel logout are not told
(a browser that has gone cannot carry the message); their own sessions end when theirs do.
"""

from __future__ import annotations

import base64
import logging
from functools import partial

import requests
from django.db import transaction
from django.utils import timezone
from saml2 import BINDING_HTTP_REDIRECT, BINDING_SOAP, samlp
from saml2.pack import make_soap_enveloped_saml_thingy
from saml2.s_utils import status_message_factory
from saml2.saml import NameID

from accounts.flows.signin import sign_out
from accounts.signin_state import signin_state

from . import idp
from .app_settings import app_settings
from .flows import Refused, _decoded, check_message, issuer_of, once, read, registered_sp
from .models import ServiceProvider, SignOn

log = logging.getLogger(__name__)


def from_sp(request, raw: str, binding: str, relay_state: str = "", sigalg=None, signature=None) -> dict:
    """Handle an SP's LogoutRequest in this browser; the LogoutResponse to send, as
    {"url": ..., "fields": [...]} for HTTP-POST or {"redirect": url} for HTTP-Redirect."""
    sp = registered_sp(issuer_of(_decoded(raw, binding), kind="LogoutRequest"))
    server = idp.server_for(sp)
    message = read(server.parse_logout_request, raw, binding, relay_state, sigalg, signature)
    signed = idp.signs_requests_in(server, sp.entity_id)
    check_message(message, sp, signed, idp.slo_url())
    once("logout", sp, message.id)
    indexes = [index.text for index in message.session_index or []]
    named = SignOn.objects.filter(service_provider=sp, name_id=(message.name_id.text if message.name_id else ""))
    if indexes:
        named = named.filter(session_index__in=indexes)
    ref = signin_state(request).ref if request.user.is_authenticated else ""
    status = None
    # What vouches for the request: the SP's signature, or else the SessionIndex, which only that SP
    # got (in the assertion). A NameID alone proves nothing: an email NameID is no secret, and an
    # unsigned request naming it, opened as a link in the victim's browser, would sign them out.
    vouched = signed or bool(indexes)
    if vouched and ref and named.filter(user=request.user, session_ref=ref).exists():
        # This browser's session: it ends, and every app signed in through it hears so (receivers).
        named.filter(session_ref=ref).update(ended_at=timezone.now())
        sign_out(request)
    elif not vouched or named.filter(ended_at__isnull=True).exists():
        # A request nothing vouches for ends nothing and always hears PartialLogout (so it cannot ask
        # whether an address is signed on anywhere); a vouched-for one naming a sign-on in a session
        # this browser does not hold hears it too, and that sign-on is over at the SP (not told again).
        if vouched:
            named.filter(ended_at__isnull=True).update(ended_at=timezone.now())
        status = status_message_factory(
            "The session is not in this browser.", samlp.STATUS_PARTIAL_LOGOUT, samlp.STATUS_SUCCESS
        )
    answer = _logout_response(server, message, binding, relay_state, status)
    answer["app_name"] = sp.app.name or sp.entity_id
    return answer


def _logout_response(server, message, binding: str, relay_state: str, status=None) -> dict:
    try:
        response = server.create_logout_response(
            message,
            [binding],
            status=status,
            sign=True,
            sign_alg=idp.SIGNATURE_ALGORITHM,
            digest_alg=idp.DIGEST_ALGORITHM,
        )
        args = server.response_args(message, [binding])
    except Exception as error:  # no SLO endpoint for this binding in the SP's metadata
        raise Refused("no_slo_endpoint", "This app has no logout address for this binding.") from error
    destination = args["destination"]
    if binding == BINDING_HTTP_REDIRECT:
        info = server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(response),
            destination,
            relay_state,
            response=True,
            sign=True,
            sigalg=idp.SIGNATURE_ALGORITHM,
        )
        return {"redirect": dict(info["headers"])["Location"]}
    fields = [("SAMLResponse", base64.b64encode(str(response).encode()).decode())]
    if relay_state:
        fields.append(("RelayState", relay_state))
    return {"url": destination, "fields": fields}


# --- from here, to the SPs ------------------------------------------------------------------------


def sessions_ended(user_id: int, refs) -> None:
    """These sessions ended: their SAML sign-ons end, and SPs that take SOAP logout are told."""
    refs = [ref for ref in refs if ref]
    if refs:
        _end(SignOn.objects.filter(user_id=user_id, session_ref__in=refs, ended_at__isnull=True))


def access_revoked(user, keep_refs=()) -> None:
    _end(SignOn.objects.filter(user=user, ended_at__isnull=True).exclude(session_ref__in=[r for r in keep_refs if r]))


def access_reduced(user, app, assignment_lost: bool) -> None:
    """An assignment lost ends the person's sign-ons at that app (a role lost changes only what the
    next assertion says: SAML has no token to revoke)."""
    if assignment_lost:
        _end(SignOn.objects.filter(user=user, service_provider__app=app, ended_at__isnull=True))


def _end(sign_ons) -> None:
    ended = list(sign_ons.select_related("service_provider"))
    if not ended:
        return
    told = [item.pk for item in ended if soap_endpoint(item.service_provider)]
    SignOn.objects.filter(pk__in=[item.pk for item in ended]).update(ended_at=timezone.now())
    SignOn.objects.filter(pk__in=told).update(logout_pending=True)
    for pk in told:
        transaction.on_commit(partial(enqueue, pk))


def soap_endpoint(sp: ServiceProvider) -> str:
    try:
        found = idp.slo_endpoints(idp.server_for(sp), sp.entity_id, BINDING_SOAP)
    except Exception:  # metadata that pysaml2 no longer reads: nothing to tell
        log.warning("cannot read the metadata of %s", sp.entity_id, exc_info=True)
        return ""
    return found[0] if found else ""


def enqueue(sign_on_pk: int) -> bool:
    from .tasks import send_logout  # tasks.py imports this module

    try:
        send_logout.delay(sign_on_pk)
    except Exception:  # kombu raises a variety of connection errors; the sweep hands it later
        log.warning("broker unavailable; SAML logout %s left for the sweep", sign_on_pk, exc_info=True)
        return False
    return True


class LogoutNotDelivered(Exception):
    pass


def deliver(sign_on: SignOn) -> None:
    """Send the SP a signed LogoutRequest over SOAP; raise LogoutNotDelivered unless it says Success."""
    sp = sign_on.service_provider
    destination = soap_endpoint(sp)
    if not destination:
        return
    server = idp.server_for(sp)
    name_id = NameID(
        format=sign_on.name_id_format,
        text=sign_on.name_id,
        name_qualifier=idp.entity_id(),
        sp_name_qualifier=sp.entity_id,
    )
    _id, message = server.create_logout_request(
        destination,
        sp.entity_id,
        name_id=name_id,
        session_indexes=[sign_on.session_index],
        sign=True,
        sign_alg=idp.SIGNATURE_ALGORITHM,
        digest_alg=idp.DIGEST_ALGORITHM,
    )
    envelope = make_soap_enveloped_saml_thingy(message)
    response = requests.post(
        destination,
        data=envelope.encode() if isinstance(envelope, str) else envelope,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": "http://www.oasis-open.org/committees/security",
        },
        timeout=app_settings.SAML_LOGOUT_TIMEOUT,
        allow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise LogoutNotDelivered(f"{sp.entity_id}: HTTP {response.status_code}")
    answer = server.parse_logout_request_response(response.text, BINDING_SOAP)
    status = answer.response.status.status_code.value if answer and answer.response else ""
    if status != samlp.STATUS_SUCCESS:
        raise LogoutNotDelivered(f"{sp.entity_id}: {status or 'no LogoutResponse'}")
