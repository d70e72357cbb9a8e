"""Who is calling: the app and tenant a bearer token names, for per-app throttling.

The local server checks no signature; if the token is a JWT, its ``appid`` (else ``azp``, else ``oid``)
claim is the app and ``tid`` the tenant; anything else is the one local app of the one local tenant.
"""

from __future__ import annotations

import base64
import binascii
import json

LOCAL_APP_ID = "00000000-0000-0000-0000-00000000a11c"
LOCAL_TENANT_ID = "00000000-0000-0000-0000-00000000c0de"


def caller(authorization: str | None) -> tuple[str, str]:
    """``(app id, tenant id)`` for an ``Authorization`` header value."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return LOCAL_APP_ID, LOCAL_TENANT_ID
    parts = authorization[7:].strip().split(".")
    if len(parts) != 3:
        return LOCAL_APP_ID, LOCAL_TENANT_ID
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return LOCAL_APP_ID, LOCAL_TENANT_ID
    if not isinstance(claims, dict):
        return LOCAL_APP_ID, LOCAL_TENANT_ID
    app = next((str(claims[k]) for k in ("appid", "azp", "oid") if claims.get(k)), LOCAL_APP_ID)
    tenant = str(claims["tid"]) if claims.get("tid") else LOCAL_TENANT_ID
    return app, tenant
